/**
 * The double's etcd: an in-memory object store with one global resourceVersion counter, uid and
 * creationTimestamp stamping, and watch fan-out backed by a bounded event history. Test code only.
 */
import { randomUUID } from 'node:crypto';
import type { KubeObject, ResourceKey, StoreReader } from './types.ts';
import { statusError } from './status.ts';

/** A change as a watch sees it. `object` carries the resourceVersion of the change. */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: ResourceKey;
  object: KubeObject;
  /** The object before a MODIFIED change, so that filtered watches can tell entering from leaving. */
  oldObject?: KubeObject;
  resourceVersion: number;
}

/** A live watch: call `stop` to end it. */
export interface StoreWatch {
  stop(): void;
}

/** Options of {@link ObjectStore}. */
export interface StoreOptions {
  /** How many events the history keeps for `resourceVersion` watches (etcd compaction). */
  historySize?: number;
  /** The first resourceVersion handed out; real clusters start far from 1. */
  initialResourceVersion?: number;
}

interface Watcher {
  resource: ResourceKey;
  namespace: string | undefined;
  send: (event: StoreEvent) => void;
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * The store. Reads return deep copies so that callers can never change stored state by accident;
 * writes take ownership of the object they are given.
 */
export class ObjectStore implements StoreReader {
  private readonly objects = new Map<ResourceKey, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly historySize: number;
  private readonly watchers = new Set<Watcher>();
  private readonly hooks = new Set<(event: StoreEvent) => void>();
  private revision: number;

  constructor(options: StoreOptions = {}) {
    this.historySize = options.historySize ?? 1000;
    this.revision = options.initialResourceVersion ?? 1000;
  }

  /** The current global resourceVersion, as a list's `metadata.resourceVersion`. */
  resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch may still start from (older ones get 410 Expired). */
  oldestWatchableVersion(): number {
    const first = this.history[0];
    return first ? first.resourceVersion - 1 : this.revision;
  }

  get(resource: ResourceKey, namespace: string, name: string): KubeObject | undefined {
    const found = this.objects.get(resource)?.get(keyOf(namespace, name));
    return found ? structuredClone(found) : undefined;
  }

  list(resource: ResourceKey, namespace?: string): KubeObject[] {
    const bucket = this.objects.get(resource);
    if (!bucket) return [];
    const keys = [...bucket.keys()].sort();
    const out: KubeObject[] = [];
    for (const key of keys) {
      const obj = bucket.get(key);
      if (!obj) continue;
      if (namespace !== undefined && (obj.metadata.namespace ?? '') !== namespace) continue;
      out.push(structuredClone(obj));
    }
    return out;
  }

  /**
   * Stores a new object: stamps uid, creationTimestamp and resourceVersion. The caller has
   * already resolved generateName and checked the namespace; a taken name is 409 AlreadyExists.
   */
  create(resource: ResourceKey, object: KubeObject, groupResource: { group: string; resource: string }): KubeObject {
    const ns = object.metadata.namespace ?? '';
    const name = object.metadata.name ?? '';
    let bucket = this.objects.get(resource);
    if (!bucket) {
      bucket = new Map();
      this.objects.set(resource, bucket);
    }
    if (bucket.has(keyOf(ns, name))) {
      const qualified = groupResource.group ? `${groupResource.resource}.${groupResource.group}` : groupResource.resource;
      throw statusError(409, 'AlreadyExists', `${qualified} "${name}" already exists`, { name, group: groupResource.group || undefined, kind: groupResource.resource });
    }
    object.metadata.uid ??= randomUUID();
    object.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    object.metadata.resourceVersion = String(++this.revision);
    bucket.set(keyOf(ns, name), object);
    this.publish({ type: 'ADDED', resource, object, resourceVersion: this.revision });
    return structuredClone(object);
  }

  /** Replaces a stored object (the caller checked preconditions) and bumps its resourceVersion. */
  update(resource: ResourceKey, object: KubeObject): KubeObject {
    const ns = object.metadata.namespace ?? '';
    const name = object.metadata.name ?? '';
    const bucket = this.objects.get(resource);
    const oldObject = bucket?.get(keyOf(ns, name));
    if (!bucket || !oldObject) throw new Error(`update of missing ${resource} ${ns}/${name}`);
    object.metadata.resourceVersion = String(++this.revision);
    bucket.set(keyOf(ns, name), object);
    this.publish({ type: 'MODIFIED', resource, object, oldObject, resourceVersion: this.revision });
    return structuredClone(object);
  }

  /**
   * Removes an object. As in etcd, the DELETED event carries a new resourceVersion, so watchers
   * that resume from it do not see the deletion twice.
   */
  delete(resource: ResourceKey, namespace: string, name: string): KubeObject | undefined {
    const bucket = this.objects.get(resource);
    const found = bucket?.get(keyOf(namespace, name));
    if (!bucket || !found) return undefined;
    bucket.delete(keyOf(namespace, name));
    found.metadata.resourceVersion = String(++this.revision);
    this.publish({ type: 'DELETED', resource, object: found, resourceVersion: this.revision });
    return structuredClone(found);
  }

  /** Every resource key that holds at least one object (namespace deletion walks these). */
  resources(): ResourceKey[] {
    return [...this.objects.keys()];
  }

  /**
   * Starts a watch on one resource, in one namespace or all (namespace undefined). With
   * `sinceVersion`, replays the retained events after it first; throws 410 Expired when the
   * history no longer reaches back that far, as etcd after compaction.
   */
  watch(resource: ResourceKey, namespace: string | undefined, sinceVersion: number | undefined, send: (event: StoreEvent) => void): StoreWatch {
    if (sinceVersion !== undefined) {
      if (sinceVersion < this.oldestWatchableVersion()) {
        throw statusError(410, 'Expired', `too old resource version: ${sinceVersion} (${this.oldestWatchableVersion() + 1})`);
      }
      for (const event of this.history) {
        if (event.resourceVersion > sinceVersion && matches(event, resource, namespace)) send(cloneEvent(event));
      }
    }
    const watcher: Watcher = { resource, namespace, send };
    this.watchers.add(watcher);
    return { stop: () => this.watchers.delete(watcher) };
  }

  /** Open watches on a resource, so tests can wait until a client is watching. */
  watchCount(resource: ResourceKey): number {
    let n = 0;
    for (const w of this.watchers) if (w.resource === resource) n++;
    return n;
  }

  /** Registers the server's own reaction to changes (not a watch: not counted, never replayed). */
  onChange(hook: (event: StoreEvent) => void): void {
    this.hooks.add(hook);
  }

  private publish(event: StoreEvent): void {
    const frozen = cloneEvent(event);
    this.history.push(frozen);
    if (this.history.length > this.historySize) this.history.splice(0, this.history.length - this.historySize);
    for (const w of this.watchers) {
      if (matches(frozen, w.resource, w.namespace)) w.send(cloneEvent(frozen));
    }
    for (const hook of this.hooks) hook(frozen);
  }
}

function matches(event: StoreEvent, resource: ResourceKey, namespace: string | undefined): boolean {
  return event.resource === resource && (namespace === undefined || (event.object.metadata.namespace ?? '') === namespace);
}

function cloneEvent(event: StoreEvent): StoreEvent {
  const copy: StoreEvent = { ...event, object: structuredClone(event.object) };
  if (event.oldObject) copy.oldObject = structuredClone(event.oldObject);
  return copy;
}

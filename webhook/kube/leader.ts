// Leader election over a Lease: one replica of the webhook runs the service-account controller
// and certificate rotation. Written against a small LeaseStore interface, with a
// coordination.k8s.io/v1 implementation; the API double serves no leases, so its tests bring an
// in-memory store.
import { apiErrorText, httpCode, type KubeClient } from './client.ts';

/** A coordination.k8s.io/v1 Lease as the election reads and writes it (times as RFC 3339 MicroTime). */
interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** The fields of a Lease the election reads and writes. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date;
  renewTime: Date;
  leaseTransitions: number;
  /** Optimistic concurrency: an update with a stale version fails with LeaseConflict. */
  resourceVersion?: string;
}

/** Raised when another replica wrote the Lease first (409) or it exists already. */
export class LeaseConflict extends Error {
  override name = 'LeaseConflict';
}

/** Where the Lease lives. */
export interface LeaseStore {
  get(): Promise<LeaseRecord | undefined>;
  create(record: LeaseRecord): Promise<void>;
  update(record: LeaseRecord): Promise<void>;
}

/** Settings of {@link runLeaderElection}; times as client-go's defaults (15 s / 10 s / 2 s). */
export interface LeaderElectionOptions {
  store: LeaseStore;
  /** This replica (the pod name). */
  identity: string;
  leaseDurationMs?: number;
  /** How often the leader renews; it steps down when a renewal fails. */
  renewMs?: number;
  /** How often a follower tries to acquire. */
  retryMs?: number;
  now?: () => Date;
  onStartedLeading: (signal: AbortSignal) => void;
  onStoppedLeading?: () => void;
  onError?: (error: unknown) => void;
  signal: AbortSignal;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs the election until `signal` aborts. The leader gets its own AbortSignal, aborted when it
 * loses the Lease or the process stops; on stop, the leader releases the Lease (renew time in the
 * past) so a successor need not wait out the lease duration.
 */
export async function runLeaderElection(options: LeaderElectionOptions): Promise<void> {
  const durationMs = options.leaseDurationMs ?? 15_000;
  const renewMs = options.renewMs ?? 10_000;
  const retryMs = options.retryMs ?? 2_000;
  const now = options.now ?? (() => new Date());
  const { store, identity, signal } = options;
  let leading: AbortController | undefined;
  let held: LeaseRecord | undefined;

  const stepDown = (): void => {
    if (!leading) return;
    leading.abort();
    leading = undefined;
    options.onStoppedLeading?.();
  };

  async function tryAcquireOrRenew(): Promise<boolean> {
    const current = await store.get();
    const at = now();
    const seconds = Math.ceil(durationMs / 1000);
    if (!current) {
      const record = { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: at, renewTime: at, leaseTransitions: 0 };
      await store.create(record);
      held = record;
      return true;
    }
    const expired = current.renewTime.getTime() + current.leaseDurationSeconds * 1000 <= at.getTime();
    if (current.holderIdentity !== identity && current.holderIdentity !== '' && !expired) return false;
    const mine = current.holderIdentity === identity;
    const record: LeaseRecord = {
      ...current,
      holderIdentity: identity,
      leaseDurationSeconds: seconds,
      renewTime: at,
      acquireTime: mine ? current.acquireTime : at,
      leaseTransitions: mine ? current.leaseTransitions : current.leaseTransitions + 1,
    };
    await store.update(record);
    held = record;
    return true;
  }

  while (!signal.aborted) {
    let won = false;
    try {
      won = await tryAcquireOrRenew();
    } catch (error) {
      if (!(error instanceof LeaseConflict)) options.onError?.(error);
    }
    if (won && !leading && !signal.aborted) {
      leading = new AbortController();
      options.onStartedLeading(leading.signal);
    } else if (!won) {
      // A failed renewal may mean another replica took over: stop at once rather than risk two leaders.
      stepDown();
    }
    await sleep(leading ? renewMs : retryMs, signal);
  }
  if (leading && held) {
    try {
      const current = await store.get();
      if (current?.holderIdentity === identity) await store.update({ ...current, holderIdentity: '', renewTime: new Date(0), leaseDurationSeconds: 1 });
    } catch (error) {
      if (!(error instanceof LeaseConflict)) options.onError?.(error);
    }
  }
  stepDown();
}

function microTime(date: Date): string {
  return date.toISOString().replace(/Z$/, '000Z');
}

function toRecord(lease: Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 15,
    acquireTime: spec.acquireTime ? new Date(spec.acquireTime) : new Date(0),
    renewTime: spec.renewTime ? new Date(spec.renewTime) : new Date(0),
    leaseTransitions: spec.leaseTransitions ?? 0,
    ...(lease.metadata?.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}),
  };
}

function toLease(namespace: string, name: string, record: LeaseRecord): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(record.resourceVersion ? { resourceVersion: record.resourceVersion } : {}) },
    spec: {
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      // MicroTime: the API server parses these with exactly six fractional digits (RFC3339Micro).
      acquireTime: microTime(record.acquireTime),
      renewTime: microTime(record.renewTime),
      leaseTransitions: record.leaseTransitions,
    },
  };
}

/** A LeaseStore over coordination.k8s.io/v1 Lease `namespace/name`. */
export function kubeLeaseStore(kube: KubeClient, namespace: string, name: string): LeaseStore {
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const path = `${collection}/${encodeURIComponent(name)}`;
  const wrap = async (action: () => Promise<unknown>, what: string): Promise<void> => {
    try {
      await action();
    } catch (error) {
      if (httpCode(error) === 409) throw new LeaseConflict(`lease ${namespace}/${name} was written by another replica`);
      throw new Error(`lease ${namespace}/${name} could not be ${what}: ${apiErrorText(error)}`, { cause: error });
    }
  };
  return {
    async get() {
      try {
        return toRecord(await kube.get<Lease>(path));
      } catch (error) {
        if (httpCode(error) === 404) return undefined;
        throw new Error(`lease ${namespace}/${name} could not be read: ${apiErrorText(error)}`, { cause: error });
      }
    },
    create: (record) => wrap(() => kube.create(collection, toLease(namespace, name, record)), 'created'),
    update: (record) => wrap(() => kube.replace(path, toLease(namespace, name, record)), 'renewed'),
  };
}

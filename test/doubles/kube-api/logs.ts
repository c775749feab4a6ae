/**
 * pods/log without a kubelet: per-container log lines that tests set and append, served with
 * `container`, `tailLines`, `timestamps`, `limitBytes` and `follow` (the stream stays open and
 * carries lines appended later, until the pod is deleted or the client leaves).
 */
import type { KubeObject } from './types.ts';
import type { RequestContext } from './handlers-context.ts';
import { badRequest, notFound } from './status.ts';

interface LogLine {
  text: string;
  time: string;
}

type Follower = (line: LogLine) => void;

/** The log registry: lines per (namespace, pod, container) and the followers of each. */
export class PodLogs {
  private readonly lines = new Map<string, LogLine[]>();
  private readonly followers = new Map<string, Set<Follower>>();
  private readonly enders = new Map<string, Set<() => void>>();

  private static key(ns: string, pod: string, container: string): string {
    return `${ns}/${pod}/${container}`;
  }

  /** Replaces a container's log. */
  set(ns: string, pod: string, container: string, lines: string[]): void {
    const time = new Date().toISOString();
    this.lines.set(PodLogs.key(ns, pod, container), lines.map((text) => ({ text, time })));
  }

  /** Appends lines, which followers receive at once. */
  append(ns: string, pod: string, container: string, lines: string[]): void {
    const key = PodLogs.key(ns, pod, container);
    const list = this.lines.get(key) ?? [];
    this.lines.set(key, list);
    for (const text of lines) {
      const line = { text, time: new Date().toISOString() };
      list.push(line);
      for (const f of this.followers.get(key) ?? []) f(line);
    }
  }

  /** Ends the follow streams of a pod (it was deleted) and forgets its lines. */
  endPod(ns: string, pod: string): void {
    const prefix = `${ns}/${pod}/`;
    for (const [key, ends] of this.enders) if (key.startsWith(prefix)) for (const end of ends) end();
    for (const key of [...this.lines.keys()]) if (key.startsWith(prefix)) this.lines.delete(key);
  }

  /** The stored lines of a container. */
  read(ns: string, pod: string, container: string): LogLine[] {
    return [...(this.lines.get(PodLogs.key(ns, pod, container)) ?? [])];
  }

  /** Subscribes to appended lines; returns the unsubscribe function. */
  follow(ns: string, pod: string, container: string, onLine: Follower, onEnd: () => void): () => void {
    const key = PodLogs.key(ns, pod, container);
    const set = this.followers.get(key) ?? new Set();
    this.followers.set(key, set);
    set.add(onLine);
    const ends = this.enders.get(key) ?? new Set();
    this.enders.set(key, ends);
    ends.add(onEnd);
    return () => {
      set.delete(onLine);
      ends.delete(onEnd);
    };
  }
}

function names(pod: KubeObject, field: string): string[] {
  const spec = (pod.spec ?? {}) as Record<string, unknown>;
  const list = spec[field];
  return Array.isArray(list) ? list.map((c) => String((c as { name?: unknown }).name ?? '')) : [];
}

/**
 * Picks the container as the kubelet's log endpoint does: the only container when there is one,
 * else `container` is required (400 naming the choices, worded as the real server).
 */
export function pickContainer(pod: KubeObject, requested: string | null): string {
  const podName = pod.metadata.name ?? '';
  const containers = names(pod, 'containers');
  const init = names(pod, 'initContainers');
  const ephemeral = names(pod, 'ephemeralContainers');
  if (requested) {
    if ([...containers, ...init, ...ephemeral].includes(requested)) return requested;
    throw badRequest(`container ${requested} is not valid for pod ${podName}`);
  }
  if (containers.length === 1 && containers[0]) return containers[0];
  let message = `a container name must be specified for pod ${podName}, choose one of: [${containers.join(' ')}]`;
  if (init.length > 0) message += ` or one of the init containers: [${init.join(' ')}]`;
  if (ephemeral.length > 0) message += ` or one of the ephemeral containers: [${ephemeral.join(' ')}]`;
  throw badRequest(message);
}

function positiveInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`${name}: Invalid value: ${v}: must be greater than or equal to 0`);
  return n;
}

/** GET pods/{name}/log. */
export function serveLogs(ctx: RequestContext): void {
  const ns = ctx.info.namespace;
  const pod = ctx.state.store.get('pods', ns, ctx.info.name);
  if (!pod) throw notFound('pods', '', ctx.info.name);
  const q = ctx.info.query;
  const container = pickContainer(pod, q.get('container'));
  if (q.get('previous') === 'true') throw badRequest(`previous terminated container "${container}" in pod "${ctx.info.name}" not found`);
  const tail = positiveInt(q, 'tailLines');
  const limit = positiveInt(q, 'limitBytes');
  const timestamps = q.get('timestamps') === 'true';
  const follow = q.get('follow') === 'true';
  const logs = ctx.state.logs;
  let lines = logs.read(ns, ctx.info.name, container);
  if (tail !== undefined) lines = tail === 0 ? [] : lines.slice(-tail);
  const { res } = ctx;
  let sent = 0;
  const format = (l: LogLine): string => `${timestamps ? `${l.time} ` : ''}${l.text}\n`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  const write = (l: LogLine): boolean => {
    let text = format(l);
    if (limit !== undefined) {
      if (sent >= limit) return false;
      text = Buffer.from(text).subarray(0, limit - sent).toString();
    }
    sent += Buffer.byteLength(text);
    res.write(text);
    return limit === undefined || sent < limit;
  };
  let open = true;
  for (const l of lines) open = write(l) && open;
  if (!follow || !open) {
    res.end();
    return;
  }
  res.flushHeaders();
  const stop = logs.follow(ns, ctx.info.name, container, (l) => {
    if (!write(l)) end();
  }, () => end());
  function end(): void {
    stop();
    if (!res.writableEnded) res.end();
  }
  ctx.req.on('close', end);
}

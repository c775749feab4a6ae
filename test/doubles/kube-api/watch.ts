/**
 * Watch as the apiserver serves it: a chunked stream of `{"type","object"}` JSON lines, initial
 * ADDED events for "any"/unset resourceVersions, replay from a resourceVersion, 410 Expired as an
 * ERROR event, selector transitions, bookmarks, `sendInitialEvents` and `timeoutSeconds`.
 */
import type { KubeObject } from './types.ts';
import type { RequestContext } from './handlers-context.ts';
import type { Selector } from './selectors.ts';
import type { StoreEvent } from './store.ts';
import { badRequest, statusError, StatusError } from './status.ts';
import { groupVersion } from './handlers-objects.ts';

/** What to watch: the namespace (undefined for all) and the compiled selectors. */
export interface WatchTarget {
  namespace: string | undefined;
  selector: Selector;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** How often a watch that allows bookmarks gets one; the real server sends them about every minute. */
const BOOKMARK_INTERVAL_MS = 10_000;

function parseVersion(value: string | null): number | undefined {
  if (value === null || value === '' || value === '0') return undefined;
  if (!/^\d+$/.test(value)) throw badRequest(`Invalid value: "${value}": resourceVersion must be a number`);
  return Number(value);
}

/** Serves one watch request until timeout, client disconnect or server close. */
export function serveWatch(ctx: RequestContext, target: WatchTarget): void {
  const q = ctx.info.query;
  const rvParam = q.get('resourceVersion');
  const since = parseVersion(rvParam);
  const bookmarks = q.get('allowWatchBookmarks') === 'true';
  const sendInitial = q.get('sendInitialEvents');
  if (sendInitial !== null && sendInitial !== 'false') {
    if (q.get('resourceVersionMatch') !== 'NotOlderThan' || !bookmarks) {
      throw statusError(422, 'Invalid', 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is allowed only with resourceVersionMatch set to "NotOlderThan" and allowWatchBookmarks set to true');
    }
  } else if (q.get('resourceVersionMatch')) {
    throw statusError(422, 'Invalid', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
  }
  const initialEvents = sendInitial === 'true' || (sendInitial === null && since === undefined);
  const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '1800');
  const store = ctx.state.store;
  const { res } = ctx;
  let first = true;

  const encode = (type: EventType, object: unknown): string => {
    let out = object;
    if (ctx.form.as === 'Table' && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')) {
      out = ctx.state.toTable({ resource: ctx.resource, objects: [object as KubeObject], listMeta: { resourceVersion: (object as KubeObject).metadata.resourceVersion }, tableVersion: ctx.form.version, includeObject: q.get('includeObject') ?? 'Metadata', headers: first });
      first = false;
    } else if (ctx.form.as === 'PartialObjectMetadata' && type !== 'ERROR') {
      out = { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${ctx.form.version}`, metadata: (object as KubeObject).metadata };
    }
    return `${JSON.stringify({ type, object: out })}\n`;
  };
  const bookmark = (rv: number, initialEnd: boolean): void => {
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (initialEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
    res.write(encode('BOOKMARK', { kind: ctx.resource.kind, apiVersion: groupVersion(ctx.resource), metadata }));
  };

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();

  const matches = (o: KubeObject | undefined): boolean => o !== undefined && target.selector.matches(o);
  const onEvent = (event: StoreEvent): void => {
    const now = matches(event.object);
    if (event.type === 'MODIFIED') {
      const before = matches(event.oldObject);
      if (now && before) res.write(encode('MODIFIED', event.object));
      else if (now) res.write(encode('ADDED', event.object));
      else if (before) res.write(encode('DELETED', event.object));
      return;
    }
    if (now) res.write(encode(event.type, event.object));
  };

  if (initialEvents) {
    for (const o of store.list(ctx.key, target.namespace)) if (matches(o)) res.write(encode('ADDED', o));
  }
  const startVersion = initialEvents ? store.resourceVersion() : (since ?? store.resourceVersion());
  if (sendInitial === 'true') bookmark(startVersion, true);

  let watch: { stop(): void } | undefined;
  try {
    watch = store.watch(ctx.key, target.namespace, startVersion, onEvent);
  } catch (error) {
    if (error instanceof StatusError) {
      res.end(encode('ERROR', error.status));
      return;
    }
    throw error;
  }
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const finish = (): void => {
    watch?.stop();
    for (const t of timers) clearTimeout(t);
    if (!res.writableEnded) res.end();
  };
  timers.push(setTimeout(finish, Math.max(0, timeoutSeconds) * 1000));
  if (bookmarks) {
    const tick = setInterval(() => bookmark(store.resourceVersion(), false), BOOKMARK_INTERVAL_MS);
    timers.push(tick);
  }
  ctx.req.on('close', finish);
  res.on('close', finish);
}

// A list-then-watch loop over one collection (the informer pattern, minus the cache): every
// object is handed over once on list, then on each watch event; a broken watch lists again.
import type { KubeClient } from './client.ts';

/** One object as the loop hands it over. */
export interface WatchedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

/** Settings of {@link listWatch}. */
export interface ListWatchOptions<T extends WatchedObject> {
  kube: KubeClient;
  /** The collection's path, e.g. `/api/v1/namespaces`. */
  path: string;
  /** Query parameters of both list and watch (labelSelector, fieldSelector). */
  query?: Record<string, string>;
  /** Called with every listed object, then with each watch event's object. */
  onObject: (type: 'LISTED' | 'ADDED' | 'MODIFIED' | 'DELETED', object: T) => Promise<void> | void;
  /** Called with each complete list's items, before onObject sees them one by one. */
  onList?: (items: T[]) => void;
  /** Wait before listing again after a failure or a closed watch. */
  retryMs?: number;
  onError?: (error: unknown) => void;
  /** Called after each complete list. */
  onSynced?: () => void;
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

/** Runs until `signal` aborts; never throws (errors go to `onError`). */
export async function listWatch<T extends WatchedObject>(options: ListWatchOptions<T>): Promise<void> {
  const { signal, kube, path } = options;
  const query = options.query ?? {};
  const retryMs = options.retryMs ?? 2000;
  while (!signal.aborted) {
    try {
      const list = await kube.get<{ items?: T[]; metadata?: { resourceVersion?: string } }>(path, query);
      const items = list.items ?? [];
      options.onList?.(items);
      for (const item of items) await options.onObject('LISTED', item);
      options.onSynced?.();
      if (signal.aborted) return;
      const resourceVersion = list.metadata?.resourceVersion;
      // An ERROR event (e.g. 410 Gone: the version was compacted) ends this watch: list again.
      const stopped = new AbortController();
      const stop = (): void => stopped.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await kube.watch(path, { ...query, ...(resourceVersion ? { resourceVersion } : {}), allowWatchBookmarks: 'true' }, (event) => {
          if (event.type === 'ERROR') {
            stopped.abort();
          } else if (event.type !== 'BOOKMARK') {
            Promise.resolve(options.onObject(event.type, event.object as T)).catch((error: unknown) => options.onError?.(error));
          }
        }, stopped.signal);
      } finally {
        signal.removeEventListener('abort', stop);
      }
    } catch (error) {
      if (!signal.aborted) options.onError?.(error);
    }
    await sleep(retryMs, signal);
  }
}

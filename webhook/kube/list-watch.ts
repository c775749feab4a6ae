// A list-then-watch loop over one collection (the informer pattern, minus the cache): every
// object is handed over once on list, then on each watch event; a broken watch lists again.
import { Watch, type KubeConfig } from '@kubernetes/client-node';

/** One object as the loop hands it over. */
export interface WatchedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

/** Settings of {@link listWatch}. */
export interface ListWatchOptions<T extends WatchedObject> {
  config: KubeConfig;
  /** The collection's path, e.g. `/api/v1/namespaces`. */
  path: string;
  /** Query parameters of both list and watch (labelSelector, fieldSelector). */
  query?: Record<string, string>;
  /** Lists the collection: its items and the list's resourceVersion. */
  list: () => Promise<{ items: T[]; resourceVersion: string | undefined }>;
  onObject: (type: 'LISTED' | 'ADDED' | 'MODIFIED' | 'DELETED', object: T) => Promise<void> | void;
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
  const { signal } = options;
  const retryMs = options.retryMs ?? 2000;
  const watch = new Watch(options.config);
  while (!signal.aborted) {
    try {
      const { items, resourceVersion } = await options.list();
      for (const item of items) await options.onObject('LISTED', item);
      options.onSynced?.();
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        let controller: AbortController | undefined;
        const stop = (): void => controller?.abort();
        signal.addEventListener('abort', stop, { once: true });
        const finish = (error?: unknown): void => {
          signal.removeEventListener('abort', stop);
          if (error && !signal.aborted && (error as Error).name !== 'AbortError') options.onError?.(error);
          resolve();
        };
        watch.watch(options.path, { ...options.query, ...(resourceVersion ? { resourceVersion } : {}), allowWatchBookmarks: true }, (type, object: T) => {
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            Promise.resolve(options.onObject(type, object)).catch((error: unknown) => options.onError?.(error));
          }
        }, finish).then((c) => {
          controller = c;
          if (signal.aborted) c.abort();
        }, finish);
      });
    } catch (error) {
      if (!signal.aborted) options.onError?.(error);
    }
    await sleep(retryMs, signal);
  }
}

// The review lookups backed by the API server: a namespace's labels and a Secret's type. Labels
// come from a watched cache when it says "labelled for injection", and from a live read otherwise,
// so the hot path (pods of agent namespaces) makes no API call and a namespace labelled a moment
// ago is still injected at once.
import { apiErrorText, corePath, httpCode, type KubeClient } from './client.ts';
import { listWatch, type WatchedObject } from './list-watch.ts';
import type { ReviewLookups } from '../review.ts';

/** The labels of every namespace, kept by a list/watch loop. */
export interface NamespaceLabelCache {
  /** The labels last seen for `namespace`, or undefined when unknown. */
  get(namespace: string): Readonly<Record<string, string>> | undefined;
  /** Runs the list/watch loop until `signal` aborts (on every replica: each one serves reviews). */
  run(signal: AbortSignal): Promise<void>;
}

/** Settings of {@link namespaceLabelCache}. */
export interface NamespaceLabelCacheOptions {
  kube: KubeClient;
  retryMs?: number;
  onError?: (error: unknown) => void;
}

/** A cache of all namespaces' labels; empty until {@link NamespaceLabelCache.run} lists them. */
export function namespaceLabelCache(options: NamespaceLabelCacheOptions): NamespaceLabelCache {
  let labels = new Map<string, Readonly<Record<string, string>>>();
  const remember = (ns: WatchedObject): void => {
    const name = ns.metadata?.name;
    if (name) labels.set(name, Object.freeze({ ...ns.metadata?.labels }));
  };
  return {
    get: (namespace) => labels.get(namespace),
    run: (signal) => listWatch<WatchedObject>({
      kube: options.kube,
      path: '/api/v1/namespaces',
      // A fresh list replaces the cache whole: namespaces deleted while the watch was down go too.
      onList: (items) => {
        labels = new Map();
        for (const item of items) remember(item);
      },
      onObject: (type, ns) => {
        if (type === 'DELETED') labels.delete(ns.metadata?.name ?? '');
        else remember(ns);
      },
      ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
      ...(options.onError ? { onError: options.onError } : {}),
      signal,
    }),
  };
}

/** Settings of {@link kubeLookups}. */
export interface KubeLookupOptions {
  /** The namespace label that selects injection, e.g. `agentgate.io/inject` = `enabled`. */
  inject: { key: string; value: string };
  /** Watched labels; without it every lookup reads the API server. */
  cache?: NamespaceLabelCache;
  ensureServiceAccount?: (namespace: string) => Promise<void>;
}

/**
 * Lookups over `kube`. The cache is trusted only when it says a namespace is labelled: a stale
 * "labelled" (the label removed a moment ago) gates a pod that might have gone ungated, which is
 * the API server's own lag for namespaceSelector too; a stale "unlabelled" could let an agent pod
 * through uninjected, so that answer is always confirmed live. The mutating webhook's
 * namespaceSelector sends pods of unlabelled namespaces only when they opt in, so live reads
 * stay rare. A namespace that cannot be read fails the review (refused, never allowed unchecked);
 * a Secret that does not exist has no type (null), any other failure throws and the pod is
 * refused as `secret-type-unknown`.
 */
export function kubeLookups(kube: KubeClient, options: KubeLookupOptions): ReviewLookups {
  const { inject, cache } = options;
  return {
    async namespaceLabels(namespace) {
      const cached = cache?.get(namespace);
      if (cached && cached[inject.key] === inject.value) return { ...cached };
      try {
        const found = await kube.get<WatchedObject>(corePath('namespaces', undefined, namespace));
        return { ...found.metadata?.labels };
      } catch (error) {
        throw new Error(`namespace ${namespace} could not be read: ${apiErrorText(error)}`, { cause: error });
      }
    },
    async secretType(namespace, name) {
      try {
        const secret = await kube.get<{ type?: string }>(corePath('secrets', namespace, name));
        // The API server defaults an empty type to Opaque; an older object may still lack it.
        return secret.type ?? 'Opaque';
      } catch (error) {
        if (httpCode(error) === 404) return null;
        throw new Error(`secret ${namespace}/${name} could not be read: ${apiErrorText(error)}`, { cause: error });
      }
    },
    ...(options.ensureServiceAccount ? { ensureServiceAccount: options.ensureServiceAccount } : {}),
  };
}

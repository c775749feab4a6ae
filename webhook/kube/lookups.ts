// The review lookups backed by the API server: a namespace's labels and a Secret's type, read
// when a review needs them (no cache: a namespace labelled a moment ago must be injected at once).
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ReviewLookups } from '../review.ts';
import { apiErrorText, httpCode } from './client.ts';

/**
 * Lookups over `core`. A namespace that cannot be read fails the review (refused, never allowed
 * unchecked); a Secret that does not exist has no type (null), any other failure throws and the
 * pod is refused as `secret-type-unknown`. `ensureServiceAccount` is passed through as given.
 */
export function kubeLookups(core: CoreV1Api, ensureServiceAccount?: (namespace: string) => Promise<void>): ReviewLookups {
  return {
    async namespaceLabels(namespace) {
      try {
        const found = await core.readNamespace({ name: namespace });
        return { ...found.metadata?.labels };
      } catch (error) {
        throw new Error(`namespace ${namespace} could not be read: ${apiErrorText(error)}`, { cause: error });
      }
    },
    async secretType(namespace, name) {
      try {
        const secret = await core.readNamespacedSecret({ name, namespace });
        // The API server defaults an empty type to Opaque; an older object may still lack it.
        return secret.type ?? 'Opaque';
      } catch (error) {
        if (httpCode(error) === 404) return null;
        throw new Error(`secret ${namespace}/${name} could not be read: ${apiErrorText(error)}`, { cause: error });
      }
    },
    ...(ensureServiceAccount ? { ensureServiceAccount } : {}),
  };
}

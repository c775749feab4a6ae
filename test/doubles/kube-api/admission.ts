/**
 * The admission chain of the Kubernetes API double, in the real server's order: built-in mutating
 * plugins, mutating webhooks (with one reinvocation round), built-in validation, validating webhooks.
 * Test code only.
 *
 * Covers: ServiceAccount, Priority and DefaultTolerationSeconds plugins; webhook rules, selectors,
 * matchConditions (CEL over `object`, `oldObject`, `request`; no `authorizer`), failurePolicy,
 * timeouts, sideEffects on dryRun, url and service clientConfig with caBundle, AdmissionReview v1 and
 * v1beta1, JSONPatch, warnings, reinvocationPolicy; schema and pod validation.
 * Not covered: admission policies (CEL ValidatingAdmissionPolicy/MutatingAdmissionPolicy),
 * matchPolicy Equivalent (the double serves one version per resource), quota, limit ranges, PodSecurity.
 */
import type { AdmissionAttributes, AdmissionResult, KubeObject, StoreReader } from './types.ts';
import { admitBuiltins } from './admission-intree.ts';
import { normalizeServiceAccountAlias } from './admission-serviceaccount.ts';
import { dispatchMutating, dispatchValidating, isExemptFromWebhooks, listHooks, Reinvocation, type DispatchContext } from './admission-webhooks.ts';
import type { WebhookClientOptions } from './admission-webhook-call.ts';
import { validateObject } from './validation.ts';

/** Options of createAdmission, checked once when the chain is built. */
export interface AdmissionOptions extends WebhookClientOptions {
  /** Where the chain reads service accounts, namespaces and webhook configurations. */
  store: StoreReader;
  /** The server's defaulting, re-applied after each webhook patch as the real server does. */
  defaulter?: (obj: KubeObject) => KubeObject;
}

/** The admission chain the server calls for every write of a stored resource. */
export interface Admission {
  /** Admits one request: resolves to the object to store and warnings, or throws a StatusError. */
  admit(attrs: AdmissionAttributes): Promise<AdmissionResult>;
}

function isPod(attrs: AdmissionAttributes): boolean {
  return attrs.kind.group === '' && attrs.kind.kind === 'Pod';
}

/** Builds the admission chain over `opts.store`. */
export function createAdmission(opts: AdmissionOptions): Admission {
  if (!opts.store) throw new TypeError('createAdmission: store is required');
  const cap = opts.webhookTimeoutCapSeconds;
  if (cap !== undefined && !(cap > 0)) throw new TypeError(`createAdmission: webhookTimeoutCapSeconds must be a positive number of seconds, got ${cap}`);
  const { store } = opts;
  const client: WebhookClientOptions = { webhookTimeoutCapSeconds: cap, clientCert: opts.clientCert, serviceResolver: opts.serviceResolver };

  /** One pass of the mutating plugins; the real chain runs it again when a webhook asked for reinvocation. */
  async function mutate(attrs: AdmissionAttributes, object: KubeObject | undefined, state: Reinvocation, ctx: DispatchContext): Promise<KubeObject | undefined> {
    if (object) admitBuiltins(object, attrs, store);
    if (isExemptFromWebhooks(attrs)) return object;
    return dispatchMutating(listHooks(store, 'mutating'), attrs, object, state, ctx);
  }

  return {
    async admit(attrs) {
      const warnings: string[] = [];
      const ctx: DispatchContext = { store, client, warnings, ...(opts.defaulter ? { defaulter: opts.defaulter } : {}) };
      let object = attrs.object ? structuredClone(attrs.object) : undefined;
      // Webhooks see the v1 form of the internal object, where the deprecated alias mirrors the name.
      if (object && isPod(attrs)) normalizeServiceAccountAlias(object);
      const state = new Reinvocation();
      object = await mutate(attrs, object, state, ctx);
      if (state.shouldReinvoke) {
        state.isReinvoke = true;
        object = await mutate(attrs, object, state, ctx);
      }
      if (object && isPod(attrs)) normalizeServiceAccountAlias(object);
      const final: AdmissionAttributes = { ...attrs, object };
      await validateObject(final, object);
      if (!isExemptFromWebhooks(attrs)) await dispatchValidating(listHooks(store, 'validating'), final, ctx);
      return { object, warnings };
    },
  };
}

/**
 * Which admission webhooks a request reaches, as the apiserver's generic webhook matcher decides:
 * rules, namespaceSelector, objectSelector and CEL matchConditions. Test code only.
 */
import { Environment } from '@marcbachmann/cel-js';
import type { AdmissionAttributes, KubeObject, StoreReader } from './types.ts';
import { forbidden, internalError, notFound } from './status.ts';

/** A label selector (metav1.LabelSelector) as JSON. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** One webhook of a Mutating/ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1). */
export interface WebhookSpec {
  name: string;
  clientConfig: {
    url?: string;
    service?: { namespace: string; name: string; path?: string; port?: number };
    caBundle?: string;
  };
  rules?: Array<{ operations?: string[]; apiGroups?: string[]; apiVersions?: string[]; resources?: string[]; scope?: string }>;
  failurePolicy?: 'Fail' | 'Ignore';
  matchPolicy?: string;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  sideEffects?: string;
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
  reinvocationPolicy?: 'Never' | 'IfNeeded';
  matchConditions?: Array<{ name: string; expression: string }>;
}

/** True when `labels` satisfy `selector` (labels.Selector semantics: NotIn and DoesNotExist match a missing key). */
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const expr of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(have, expr.key);
    const value = have[expr.key];
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In': if (!present || !values.includes(value ?? '')) return false; break;
      case 'NotIn': if (present && values.includes(value ?? '')) return false; break;
      case 'Exists': if (!present) return false; break;
      case 'DoesNotExist': if (present) return false; break;
      default: return false;
    }
  }
  return true;
}

function isEmptySelector(selector: LabelSelector | undefined): boolean {
  return !selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0);
}

function exactOrWildcard(items: string[] | undefined, requested: string): boolean {
  return (items ?? []).some((item) => item === '*' || item === requested);
}

/** rules.Matcher: scope, operation, group, version and resource; `res/sub` entries and `*` on either side. */
export function ruleMatches(webhook: WebhookSpec, attrs: AdmissionAttributes): boolean {
  const isNamespaceObject = attrs.resource.group === '' && attrs.resource.resource === 'namespaces';
  return (webhook.rules ?? []).some((rule) => {
    const scope = rule.scope ?? '*';
    // Namespace objects are cluster-scoped even though their requests carry the namespace's name.
    if (scope === 'Namespaced' && (isNamespaceObject || attrs.namespace === '')) return false;
    if (scope === 'Cluster' && !(isNamespaceObject || attrs.namespace === '')) return false;
    if (scope !== '*' && scope !== 'Namespaced' && scope !== 'Cluster') return false;
    if (!exactOrWildcard(rule.operations, attrs.operation)) return false;
    if (!exactOrWildcard(rule.apiGroups, attrs.resource.group)) return false;
    if (!exactOrWildcard(rule.apiVersions, attrs.resource.version)) return false;
    return (rule.resources ?? []).some((entry) => {
      const slash = entry.indexOf('/');
      const res = slash < 0 ? entry : entry.slice(0, slash);
      const sub = slash < 0 ? '' : entry.slice(slash + 1);
      return (res === '*' || res === attrs.resource.resource) && (sub === '*' || sub === attrs.subResource);
    });
  });
}

/**
 * namespace.Matcher: cluster-scoped objects other than namespaces are never exempted; a namespace
 * being created or updated is judged by its own new labels; a missing namespace is a 404.
 */
export function namespaceSelectorMatches(webhook: WebhookSpec, attrs: AdmissionAttributes, store: StoreReader): boolean {
  const isNamespaces = attrs.resource.group === '' && attrs.resource.resource === 'namespaces';
  if (attrs.namespace === '' && !isNamespaces) return true;
  if (isEmptySelector(webhook.namespaceSelector)) return true;
  let labels: Record<string, string> | undefined;
  if (isNamespaces && attrs.subResource === '' && (attrs.operation === 'CREATE' || attrs.operation === 'UPDATE')) {
    labels = attrs.object?.metadata.labels;
  } else {
    const name = attrs.namespace || attrs.name;
    const ns = store.get('namespaces', '', name);
    if (!ns) throw notFound('namespaces', '', name);
    labels = ns.metadata.labels;
  }
  return selectorMatches(webhook.namespaceSelector, labels);
}

/** object.Matcher: the selector matches when either the new or the old object's labels match. */
export function objectSelectorMatches(webhook: WebhookSpec, attrs: AdmissionAttributes): boolean {
  if (isEmptySelector(webhook.objectSelector)) return true;
  const match = (obj: KubeObject | undefined): boolean => obj !== undefined && selectorMatches(webhook.objectSelector, obj.metadata?.labels);
  return match(attrs.object) || match(attrs.oldObject);
}

/** JSON with integers as BigInt, so CEL sees Kubernetes int64 fields as `int`, not `double`. */
function toCelValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCelValue);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCelValue(v)]));
  return value;
}

const celEnv = new Environment({ unlistedVariablesAreDyn: true });

/**
 * Evaluates matchConditions the way matchconditions.Matcher does: any false skips the webhook;
 * otherwise errors follow failurePolicy (Ignore skips, Fail refuses with 403). Variables supported:
 * `object`, `oldObject`, `request` (the AdmissionRequest); `authorizer` and `params` are not.
 */
export function matchConditionsMatch(webhook: WebhookSpec, attrs: AdmissionAttributes, request: Record<string, unknown>): boolean {
  const conditions = webhook.matchConditions ?? [];
  if (conditions.length === 0) return true;
  const context = {
    object: toCelValue(attrs.object ?? null),
    oldObject: toCelValue(attrs.oldObject ?? null),
    request: toCelValue(request),
  };
  const errors: string[] = [];
  for (const condition of conditions) {
    try {
      const result = celEnv.evaluate(condition.expression, context);
      if (result === false) return false;
      if (result !== true) errors.push(`expression '${condition.expression}' resulted in error: cel expression must evaluate to a bool`);
    } catch (err) {
      const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
      errors.push(`expression '${condition.expression}' resulted in error: ${first.charAt(0).toLowerCase()}${first.slice(1)}`);
    }
  }
  if (errors.length === 0) return true;
  if (webhook.failurePolicy === 'Ignore') return false;
  const text = errors.length === 1 ? (errors[0] ?? '') : `[${errors.join(', ')}]`;
  throw forbidden(attrs.resource.resource, attrs.resource.group, attrs.name, text);
}

/**
 * generic.Webhook.ShouldCallHook: selectors first (their errors only count when a rule matches),
 * then rules, then matchConditions.
 */
export function shouldCall(webhook: WebhookSpec, attrs: AdmissionAttributes, store: StoreReader, request: () => Record<string, unknown>): boolean {
  let nsError: unknown;
  let nsMatch = false;
  try {
    nsMatch = namespaceSelectorMatches(webhook, attrs, store);
  } catch (err) {
    nsError = err;
  }
  if (!nsMatch && nsError === undefined) return false;
  if (!objectSelectorMatches(webhook, attrs)) return false;
  if (!ruleMatches(webhook, attrs)) return false;
  if (nsError !== undefined) throw nsError instanceof Error ? nsError : internalError(String(nsError));
  return matchConditionsMatch(webhook, attrs, request());
}

// What the broker's early guardrail check needs from a write's body (BodySummary), so bodies
// themselves (Secrets, ConfigMaps) never leave the pod. Bounded; `truncated` when cut.
import { BodySummarySchema, type BodySummary } from '../src/contracts/index.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The pod spec of a Pod or of any workload with a template (Deployment, Job, CronJob…). */
function podSpecOf(object: Obj): Obj | undefined {
  const spec = object.spec;
  if (!isObj(spec)) return undefined;
  if (object.kind === 'Pod') return spec;
  const template = isObj(spec.template) ? spec.template : isObj(spec.jobTemplate) && isObj(spec.jobTemplate.spec) && isObj(spec.jobTemplate.spec.template) ? spec.jobTemplate.spec.template : undefined;
  return template && isObj(template.spec) ? template.spec : undefined;
}

function podSummary(spec: Obj): NonNullable<BodySummary['podSpec']> {
  const containers = [...list(spec.containers), ...list(spec.initContainers), ...list(spec.ephemeralContainers)].filter(isObj);
  const hostPorts = containers.flatMap((c) => list(c.ports).filter(isObj).map((p) => p.hostPort)).filter((p): p is number => typeof p === 'number' && p >= 1 && p <= 65535);
  const hostNamespaces = (['network', 'pid', 'ipc'] as const).filter((n) => spec[`host${n === 'network' ? 'Network' : n === 'pid' ? 'PID' : 'IPC'}`] === true);
  const summary: NonNullable<BodySummary['podSpec']> = {
    privileged: containers.some((c) => isObj(c.securityContext) && c.securityContext.privileged === true),
    hostPath: list(spec.volumes).some((v) => isObj(v) && v.hostPath !== undefined),
    hostNamespaces,
    hostPorts: [...new Set(hostPorts)].slice(0, 100),
  };
  const sa = str(spec.serviceAccountName);
  if (sa !== undefined) summary.serviceAccountName = sa;
  return summary;
}

/**
 * Summarises a JSON body for the decision request; undefined when the body is not a JSON object
 * with a kind and apiVersion (patches, for instance), or the summary would not match the contract.
 */
export function summarizeBody(body: Buffer, contentType: string | undefined): BodySummary | undefined {
  if (!(contentType ?? '').toLowerCase().includes('json') || body.length === 0) return undefined;
  let object: unknown;
  try {
    object = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObj(object) || typeof object.kind !== 'string' || typeof object.apiVersion !== 'string') return undefined;
  const meta = isObj(object.metadata) ? object.metadata : {};
  let truncated = false;
  const summary: Record<string, unknown> = { kind: object.kind, apiVersion: object.apiVersion, truncated: false };
  if (str(meta.name) !== undefined) summary.name = meta.name;
  if (str(meta.namespace) !== undefined) summary.namespace = meta.namespace;
  if (isObj(object.roleRef)) summary.roleRef = { apiGroup: str(object.roleRef.apiGroup) ?? '', kind: str(object.roleRef.kind) ?? '', name: str(object.roleRef.name) ?? '' };
  if (Array.isArray(object.subjects)) {
    const subjects = object.subjects.filter(isObj).map((s) => ({ kind: str(s.kind) ?? '', name: str(s.name) ?? '', ...(str(s.namespace) !== undefined ? { namespace: s.namespace } : {}) }));
    truncated ||= subjects.length > 100;
    summary.subjects = subjects.slice(0, 100);
  }
  if (Array.isArray(object.rules)) {
    truncated ||= object.rules.length > 64;
    summary.rules = object.rules.slice(0, 64);
  }
  const podSpec = podSpecOf(object);
  if (podSpec !== undefined) summary.podSpec = podSummary(podSpec);
  if (object.kind === 'Service' && isObj(object.spec) && str(object.spec.type) !== undefined) summary.serviceType = object.spec.type;
  if (object.kind === 'Secret' && str(object.type) !== undefined) summary.secretType = object.type;
  summary.truncated = truncated;
  const parsed = BodySummarySchema.safeParse(summary);
  if (parsed.success) return parsed.data;
  // Something did not fit the contract: send what identifies the object and let the broker treat the rest as unknown.
  const minimal = BodySummarySchema.safeParse({ kind: summary.kind, apiVersion: summary.apiVersion, truncated: true });
  return minimal.success ? minimal.data : undefined;
}

/**
 * The built-in mutating plugins a pod meets before any webhook, in kube-apiserver's plugin order:
 * ServiceAccount, Priority, DefaultTolerationSeconds. Test code only.
 */
import type { AdmissionAttributes, KubeObject, StoreReader } from './types.ts';
import { forbidden } from './status.ts';
import { admitServiceAccount, handlesServiceAccount } from './admission-serviceaccount.ts';

type Json = Record<string, unknown>;

// The two PriorityClasses every cluster has; the double serves no priorityclasses resource.
const SYSTEM_PRIORITY: Record<string, number> = { 'system-node-critical': 2000001000, 'system-cluster-critical': 2000000000 };

/** Priority plugin: resolves priorityClassName to spec.priority (0 without a class) and defaults preemptionPolicy. */
function admitPriority(pod: KubeObject, attrs: AdmissionAttributes): void {
  const spec = pod.spec as Json;
  const className = typeof spec.priorityClassName === 'string' ? spec.priorityClassName : '';
  let priority = 0;
  if (className) {
    const value = SYSTEM_PRIORITY[className];
    if (value === undefined) throw forbidden('pods', '', attrs.name || pod.metadata.name || '', `no PriorityClass with name ${className} was found`);
    priority = value;
  }
  if (typeof spec.priority === 'number' && spec.priority !== priority) {
    throw forbidden('pods', '', attrs.name || pod.metadata.name || '', `the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`);
  }
  spec.priority = priority;
  if (spec.preemptionPolicy === undefined) spec.preemptionPolicy = 'PreemptLowerPriority';
}

/** DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300s unless the pod says otherwise. */
function admitDefaultTolerationSeconds(pod: KubeObject): void {
  const spec = pod.spec as Json;
  const tolerations = Array.isArray(spec.tolerations) ? (spec.tolerations as Json[]) : [];
  const tolerates = (key: string): boolean => tolerations.some((t) => (t.key === key || !t.key) && (t.effect === 'NoExecute' || !t.effect));
  const added: Json[] = [];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tolerates(key)) added.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  if (added.length > 0) spec.tolerations = [...tolerations, ...added];
}

/** Runs the built-in mutating plugins on `obj` in place (pods CREATE only; others pass untouched). */
export function admitBuiltins(obj: KubeObject, attrs: AdmissionAttributes, store: StoreReader): void {
  if (!handlesServiceAccount(attrs)) return;
  admitServiceAccount(obj, attrs, store);
  admitPriority(obj, attrs);
  admitDefaultTolerationSeconds(obj);
}

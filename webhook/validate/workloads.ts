// Guardrails on pods and pod templates written by grant identities: privileged containers,
// hostPath volumes and host namespaces, wherever a workload kind keeps its pod spec.
import { isObject, objects, str, type JsonObject } from '../inject/json.ts';
import type { Refusal } from '../inject/refusals.ts';

/** Where each workload kind keeps its pod spec, by `<group>/<kind>` (core group empty). */
const podSpecPaths: Readonly<Record<string, readonly string[]>> = {
  '/Pod': ['spec'],
  '/PodTemplate': ['template', 'spec'],
  '/ReplicationController': ['spec', 'template', 'spec'],
  'apps/Deployment': ['spec', 'template', 'spec'],
  'apps/StatefulSet': ['spec', 'template', 'spec'],
  'apps/DaemonSet': ['spec', 'template', 'spec'],
  'apps/ReplicaSet': ['spec', 'template', 'spec'],
  'batch/Job': ['spec', 'template', 'spec'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** The pod spec inside an object of `group`/`kind`, with its dotted path; undefined for other kinds. */
export function podSpecOf(group: string, kind: string, object: unknown): { path: string; spec: JsonObject } | undefined {
  const path = podSpecPaths[`${group}/${kind}`];
  if (!path) return undefined;
  let at: unknown = object;
  for (const key of path) at = isObject(at) ? at[key] : undefined;
  return isObject(at) ? { path: path.join('.'), spec: at } : undefined;
}

/** The guardrail findings of one pod spec found at `path`. */
export function podSpecGuardrails(spec: JsonObject, path: string): Refusal[] {
  const out: Refusal[] = [];
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (spec[field] === true) out.push({ code: 'host-namespace', message: `${path}.${field} is true: grant identities cannot create pods in the host's namespaces` });
  }
  for (const list of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    objects(spec[list]).forEach((container, index) => {
      const security = container.securityContext;
      if (isObject(security) && security.privileged === true) {
        out.push({ code: 'privileged-pod', message: `${path}.${list}[${index}] (${str(container.name) ?? ''}) is privileged: grant identities cannot create privileged containers` });
      }
    });
  }
  objects(spec.volumes).forEach((volume, index) => {
    if (volume.hostPath !== undefined) {
      out.push({ code: 'host-path', message: `${path}.volumes[${index}] (${str(volume.name) ?? ''}) is a hostPath: grant identities cannot mount the node's filesystem` });
    }
  });
  return out;
}

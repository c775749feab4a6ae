/**
 * Known fields for `fieldValidation`: enough of the schema (top level, metadata, pod spec and
 * containers, deployment spec) to catch the unknown fields clients typo most. Deeper levels are
 * not checked; that is an approximation of the real server's full-schema decoding.
 */

const META = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields'];
const TYPE = ['apiVersion', 'kind', 'metadata'];
const TOP: Record<string, string[]> = {
  namespaces: ['spec', 'status'],
  pods: ['spec', 'status'],
  services: ['spec', 'status'],
  configmaps: ['data', 'binaryData', 'immutable'],
  secrets: ['data', 'stringData', 'type', 'immutable'],
  serviceaccounts: ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  events: ['involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type', 'eventTime', 'series', 'action', 'related', 'reportingComponent', 'reportingInstance'],
  'deployments.apps': ['spec', 'status'],
  'roles.rbac.authorization.k8s.io': ['rules'],
  'clusterroles.rbac.authorization.k8s.io': ['rules', 'aggregationRule'],
  'rolebindings.rbac.authorization.k8s.io': ['subjects', 'roleRef'],
  'clusterrolebindings.rbac.authorization.k8s.io': ['subjects', 'roleRef'],
  'mutatingwebhookconfigurations.admissionregistration.k8s.io': ['webhooks'],
  'validatingwebhookconfigurations.admissionregistration.k8s.io': ['webhooks'],
};
const POD_SPEC = ['volumes', 'initContainers', 'containers', 'ephemeralContainers', 'restartPolicy', 'terminationGracePeriodSeconds', 'activeDeadlineSeconds', 'dnsPolicy', 'nodeSelector', 'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken', 'nodeName', 'hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'securityContext', 'imagePullSecrets', 'hostname', 'subdomain', 'affinity', 'schedulerName', 'tolerations', 'hostAliases', 'priorityClassName', 'priority', 'dnsConfig', 'readinessGates', 'runtimeClassName', 'enableServiceLinks', 'preemptionPolicy', 'overhead', 'topologySpreadConstraints', 'setHostnameAsFQDN', 'os', 'hostUsers', 'schedulingGates', 'resourceClaims', 'resources', 'hostnameOverride'];
const CONTAINER = ['name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources', 'resizePolicy', 'restartPolicy', 'restartPolicyRules', 'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty', 'targetContainerName'];
const DEPLOYMENT_SPEC = ['replicas', 'selector', 'template', 'strategy', 'minReadySeconds', 'revisionHistoryLimit', 'paused', 'progressDeadlineSeconds'];

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function check(value: unknown, known: string[], path: string, out: string[]): void {
  if (!isMap(value)) return;
  for (const k of Object.keys(value)) if (!known.includes(k)) out.push(path ? `${path}.${k}` : k);
}

function checkPodSpec(spec: unknown, path: string, out: string[]): void {
  if (!isMap(spec)) return;
  check(spec, POD_SPEC, path, out);
  for (const field of ['containers', 'initContainers', 'ephemeralContainers']) {
    const list = spec[field];
    if (Array.isArray(list)) list.forEach((c, i) => check(c, CONTAINER, `${path}.${field}[${i}]`, out));
  }
}

/**
 * The unknown fields of a decoded body for a resource (store key), as the dotted paths the real
 * server names in `unknown field "spec.foo"`.
 */
export function unknownFields(key: string, body: unknown): string[] {
  const out: string[] = [];
  const top = TOP[key];
  if (!top || !isMap(body)) return out;
  check(body, [...TYPE, ...top], '', out);
  check(body.metadata, META, 'metadata', out);
  if (key === 'pods') checkPodSpec(body.spec, 'spec', out);
  if (key === 'deployments.apps' && isMap(body.spec)) {
    check(body.spec, DEPLOYMENT_SPEC, 'spec', out);
    const template = body.spec.template;
    if (isMap(template)) {
      check(template.metadata, META, 'spec.template.metadata', out);
      checkPodSpec(template.spec, 'spec.template.spec', out);
    }
  }
  return out;
}

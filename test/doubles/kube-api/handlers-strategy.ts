/**
 * Per-resource behaviour of the registries (the apiserver's "strategies"): defaulting, status
 * reset and simulation, generation tracking, name validation and what delete returns.
 */
import type { KubeObject } from './types.ts';
import type { ResourceInfo } from './resources.ts';
import { invalid } from './status.ts';

type Obj = Record<string, unknown>;

function obj(value: unknown): Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {};
}

function child(parent: Obj, key: string): Obj {
  const existing = parent[key];
  if (existing !== null && typeof existing === 'object' && !Array.isArray(existing)) return existing as Obj;
  const created: Obj = {};
  parent[key] = created;
  return created;
}

function list(value: unknown): Obj[] {
  return Array.isArray(value) ? value.map(obj) : [];
}

/** Resources whose spec changes bump metadata.generation. */
const GENERATION_TRACKED = new Set(['deployments.apps', 'namespaces']);
/** Registries with ReturnDeletedObject (pods, services) or a custom delete (namespaces). */
const RETURNS_DELETED_OBJECT = new Set(['pods', 'services', 'namespaces']);

/** Whether DELETE answers with the object (else a Status Success with details). */
export function returnsDeletedObject(key: string): boolean {
  return RETURNS_DELETED_OBJECT.has(key);
}

/** Whether the resource has a `status` subresource, so the main resource ignores status writes. */
export function hasStatus(info: ResourceInfo): boolean {
  return 'status' in info.subresources;
}

/** Whether spec changes bump metadata.generation. */
export function tracksGeneration(key: string): boolean {
  return GENERATION_TRACKED.has(key);
}

/** Everything but metadata and status, for generation comparisons. */
export function specOf(o: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = o;
  return JSON.stringify(rest);
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates metadata.name as the registries do (DNS-1123 subdomain; label for namespaces/services). */
export function validateName(info: ResourceInfo, name: string): void {
  const label = info.resource === 'namespaces' || info.resource === 'services';
  const ok = label ? LABEL.test(name) && name.length <= 63 : SUBDOMAIN.test(name) && name.length <= 253;
  if (ok) return;
  const rule = label
    ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  throw invalid(info.kind, info.group, name, [{ field: 'metadata.name', message: `Invalid value: "${name}": ${rule}`, reason: 'FieldValueInvalid' }]);
}

function defaultContainer(c: Obj): void {
  const image = typeof c.image === 'string' ? c.image : '';
  const tag = image.includes('@') ? 'digest' : (/:([^/:]+)$/.exec(image)?.[1] ?? 'latest');
  c.imagePullPolicy ??= tag === 'latest' ? 'Always' : 'IfNotPresent';
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.resources ??= {};
  for (const p of list(c.ports)) p.protocol ??= 'TCP';
}

function defaultPodSpec(spec: Obj): void {
  for (const c of [...list(spec.containers), ...list(spec.initContainers)]) defaultContainer(c);
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  for (const v of list(spec.volumes)) {
    const secret = v.secret as Obj | undefined;
    if (secret) secret.defaultMode ??= 420;
    const cm = v.configMap as Obj | undefined;
    if (cm) cm.defaultMode ??= 420;
    const projected = v.projected as Obj | undefined;
    if (projected) projected.defaultMode ??= 420;
  }
}

let nextClusterIp = 1;

/** Fills in the defaults the real API server sets, for the kinds the double serves. */
export function applyDefaults(key: string, o: KubeObject): void {
  switch (key) {
    case 'pods':
      defaultPodSpec(child(o, 'spec'));
      break;
    case 'deployments.apps': {
      const s = child(o, 'spec');
      s.replicas ??= 1;
      s.revisionHistoryLimit ??= 10;
      s.progressDeadlineSeconds ??= 600;
      const strategy = child(s, 'strategy');
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') {
        const ru = child(strategy, 'rollingUpdate');
        ru.maxSurge ??= '25%';
        ru.maxUnavailable ??= '25%';
      }
      defaultPodSpec(child(child(s, 'template'), 'spec'));
      break;
    }
    case 'services': {
      const s = child(o, 'spec');
      s.type ??= 'ClusterIP';
      s.sessionAffinity ??= 'None';
      if (s.type !== 'ExternalName') {
        s.clusterIP ??= `10.96.${Math.floor(nextClusterIp / 250)}.${(nextClusterIp++ % 250) + 1}`;
        s.clusterIPs ??= [s.clusterIP];
        s.ipFamilies ??= ['IPv4'];
        s.ipFamilyPolicy ??= 'SingleStack';
        s.internalTrafficPolicy ??= 'Cluster';
      }
      for (const p of list(s.ports)) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      break;
    }
    case 'secrets':
      o.type ??= 'Opaque';
      break;
    case 'namespaces': {
      o.metadata.labels = { ...o.metadata.labels, 'kubernetes.io/metadata.name': o.metadata.name ?? '' };
      const s = child(o, 'spec');
      s.finalizers ??= ['kubernetes'];
      break;
    }
    default:
      break;
  }
}

/**
 * The status the double shows in place of controllers and a kubelet that do not exist: pods are
 * Running with ready containers, deployments fully rolled out, namespaces Active.
 */
export function simulateStatus(key: string, o: KubeObject, now: string): void {
  switch (key) {
    case 'pods': {
      const spec = obj(o.spec);
      const containers = list(spec.containers);
      const status = child(o, 'status');
      status.phase ??= 'Running';
      status.conditions ??= ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now }));
      status.hostIP ??= '10.0.0.1';
      status.podIP ??= `10.244.0.${(Math.abs(hash(o.metadata.name ?? '')) % 250) + 2}`;
      status.podIPs ??= [{ ip: status.podIP }];
      status.startTime ??= now;
      status.qosClass ??= 'BestEffort';
      status.containerStatuses ??= containers.map((c) => ({
        name: c.name, image: c.image, imageID: '', containerID: `containerd://${String(hash(String(c.name))).padStart(12, '0')}`,
        ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } }, lastState: {},
      }));
      break;
    }
    case 'deployments.apps': {
      const replicas = Number(obj(o.spec).replicas ?? 1);
      const status = child(o, 'status');
      status.observedGeneration = o.metadata.generation ?? 1;
      Object.assign(status, { replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
      status.conditions ??= [
        { type: 'Available', status: 'True', lastUpdateTime: now, lastTransitionTime: now, reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
        { type: 'Progressing', status: 'True', lastUpdateTime: now, lastTransitionTime: now, reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${o.metadata.name ?? ''}" has successfully progressed.` },
      ];
      break;
    }
    case 'namespaces':
      child(o, 'status').phase ??= 'Active';
      break;
    case 'services':
      o.status ??= { loadBalancer: {} };
      break;
    default:
      break;
  }
}

function hash(s: string): number {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) | 0;
  return h;
}

/**
 * Strategic-merge directives that kubernetes-models does not carry (its generator drops vendor
 * extensions): `x-kubernetes-patch-strategy` / `-patch-merge-key` and the list-map markers, as
 * the Kubernetes API reference gives them, for the fields the double's strategic merge handles.
 * kubectl's client-side apply reads them from /openapi/v3 (and v2) to merge lists. Test code only.
 */

type Directive = Record<string, unknown>;

const byKey = (key: string, retainKeys = false): Directive => ({
  'x-kubernetes-list-map-keys': [key],
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-patch-merge-key': key,
  'x-kubernetes-patch-strategy': retainKeys ? 'merge,retainKeys' : 'merge',
});
const byKeyOnly = (key: string): Directive => ({ 'x-kubernetes-patch-merge-key': key, 'x-kubernetes-patch-strategy': 'merge' });
const containerLists: Record<string, Directive> = {
  env: byKey('name'),
  ports: { 'x-kubernetes-list-map-keys': ['containerPort', 'protocol'], 'x-kubernetes-list-type': 'map', 'x-kubernetes-patch-merge-key': 'containerPort', 'x-kubernetes-patch-strategy': 'merge' },
  volumeMounts: byKey('mountPath'),
  volumeDevices: byKey('devicePath'),
};

/** Definition name → property → vendor extensions to add. */
export const PATCH_DIRECTIVES: Record<string, Record<string, Directive>> = {
  'io.k8s.api.core.v1.PodSpec': {
    containers: byKey('name'),
    initContainers: byKey('name'),
    ephemeralContainers: byKey('name'),
    volumes: byKey('name', true),
    imagePullSecrets: byKey('name'),
    hostAliases: byKey('ip'),
    topologySpreadConstraints: { 'x-kubernetes-list-map-keys': ['topologyKey', 'whenUnsatisfiable'], 'x-kubernetes-list-type': 'map', 'x-kubernetes-patch-merge-key': 'topologyKey', 'x-kubernetes-patch-strategy': 'merge' },
  },
  'io.k8s.api.core.v1.Container': containerLists,
  'io.k8s.api.core.v1.EphemeralContainer': containerLists,
  'io.k8s.api.core.v1.PodStatus': { conditions: byKey('type') },
  'io.k8s.api.core.v1.ServiceSpec': {
    ports: { 'x-kubernetes-list-map-keys': ['port', 'protocol'], 'x-kubernetes-list-type': 'map', 'x-kubernetes-patch-merge-key': 'port', 'x-kubernetes-patch-strategy': 'merge' },
  },
  'io.k8s.api.apps.v1.DeploymentSpec': { strategy: { 'x-kubernetes-patch-strategy': 'retainKeys' } },
  'io.k8s.api.apps.v1.DeploymentStatus': { conditions: byKeyOnly('type') },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': {
    finalizers: { 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' },
    ownerReferences: { 'x-kubernetes-list-map-keys': ['uid'], 'x-kubernetes-list-type': 'map', 'x-kubernetes-patch-merge-key': 'uid', 'x-kubernetes-patch-strategy': 'merge' },
  },
};

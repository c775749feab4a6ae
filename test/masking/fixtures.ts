/**
 * Kubernetes objects as the API server sends them, for the masking tests and benchmark: pods with
 * typical specs (env, probes, volumes, managedFields, status) and Secrets of the common types.
 */

/** A JSON object. */
export type Json = Record<string, unknown>;

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Deterministic filler, so every run measures the same bytes. */
function filler(seed: number, length: number): string {
  let out = '';
  let x = seed * 2654435761;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  while (out.length < length) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += alphabet[x % alphabet.length];
  }
  return out;
}

function managedFields(manager: string): Json[] {
  return [{ manager, operation: 'Update', apiVersion: 'v1', time: '2025-01-10T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } } }];
}

/** A pod of a Deployment, as a typed PodList item (no kind), with env values, probes and status. */
export function pod(i: number, env: Array<{ name: string; value: string }> = []): Json {
  const name = `web-7d9f8c6b5-${filler(i, 5).toLowerCase()}`;
  return {
    metadata: {
      name, generateName: 'web-7d9f8c6b5-', namespace: 'payments', uid: `0f6e5d4c-3b2a-4190-8e7f-${(100000000000 + i).toString(16).slice(-12)}`, resourceVersion: String(1000 + i), creationTimestamp: '2025-01-10T10:00:00Z',
      labels: { app: 'web', 'pod-template-hash': '7d9f8c6b5', 'app.kubernetes.io/part-of': 'shop' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-10T09:59:00Z', 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c6b5', uid: '11111111-2222-4333-8444-555555555555', controller: true, blockOwnerDeletion: true }],
      managedFields: managedFields('kube-controller-manager'),
    },
    spec: {
      volumes: [{ name: 'kube-api-access-x1', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }], defaultMode: 420 } }, { name: 'config', configMap: { name: 'web-config' } }],
      containers: [{
        name: 'app', image: 'registry.example.com/shop/web@sha256:3f1c9a0e8b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3',
        args: ['--port=8080', '--log-level=info', '--config=/etc/web/config.yaml'],
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        env: [{ name: 'NODE_ENV', value: 'production' }, { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }, { name: 'DB_HOST', value: 'postgres.payments.svc.cluster.local' }, { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }, ...env],
        resources: { limits: { cpu: '500m', memory: '512Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
        volumeMounts: [{ name: 'config', mountPath: '/etc/web' }, { name: 'kube-api-access-x1', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }],
        livenessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, initialDelaySeconds: 10, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
        readinessProbe: { httpGet: { path: '/readyz', port: 8080, scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 5, successThreshold: 1, failureThreshold: 3 },
        terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
        securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      }],
      restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', serviceAccountName: 'web', serviceAccount: 'web', nodeName: `node-${i % 3}`,
      securityContext: { fsGroup: 2000 }, schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      priority: 0, enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: '2025-01-10T10:00:05Z' })),
      hostIP: `10.0.0.${i % 3}`, podIP: `10.244.${i % 3}.${i % 250}`, podIPs: [{ ip: `10.244.${i % 3}.${i % 250}` }], startTime: '2025-01-10T10:00:00Z',
      containerStatuses: [{ name: 'app', state: { running: { startedAt: '2025-01-10T10:00:03Z' } }, lastState: {}, ready: true, restartCount: 0, image: 'registry.example.com/shop/web:1.4.2', imageID: 'registry.example.com/shop/web@sha256:3f1c9a0e8b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3', containerID: `containerd://${filler(i, 64).toLowerCase()}`, started: true }],
      qosClass: 'Burstable',
    },
  };
}

/** A Secret as a typed SecretList item: Opaque with a few keys, TLS, or a dockerconfigjson. */
export function secret(i: number): Json {
  const kinds = [
    { type: 'Opaque', data: { username: b64('app'), password: b64(filler(i, 24)), 'api-key': b64(filler(i + 1, 40)) } },
    { type: 'kubernetes.io/tls', data: { 'tls.crt': b64(`-----BEGIN CERTIFICATE-----\n${filler(i, 1200)}\n-----END CERTIFICATE-----\n`), 'tls.key': b64(`-----BEGIN PRIVATE KEY-----\n${filler(i + 2, 1600)}\n-----END PRIVATE KEY-----\n`) } },
    { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'registry.example.com': { auth: b64(`robot:${filler(i, 32)}`) } } })) } },
  ];
  const body = kinds[i % kinds.length] as { type: string; data: Json };
  return {
    metadata: { name: `app-secret-${i}`, namespace: 'payments', uid: `9a8b7c6d-5e4f-4a3b-8c2d-${(200000000000 + i).toString(16).slice(-12)}`, resourceVersion: String(5000 + i), creationTimestamp: '2025-01-10T10:00:00Z', labels: { app: 'web' }, managedFields: managedFields('kubectl-create') },
    data: body.data,
    type: body.type,
  };
}

/** A LIST response body as the API server sends it. */
export function list(kind: 'PodList' | 'SecretList', items: Json[]): Json {
  return { kind, apiVersion: 'v1', metadata: { resourceVersion: '123456' }, items };
}

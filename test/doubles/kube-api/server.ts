/**
 * A double of kube-apiserver for tests and the demo: HTTPS (the fixture certificate, HTTP/1.1),
 * bearer-token authentication, RBAC, admission and an in-memory store, close enough to the real
 * server that kubectl 1.27–1.35 and client libraries cannot tell them apart for everyday calls.
 * The version (1.28, 1.29, 1.31 by default and 1.33 are tested) decides /version, the aggregated
 * discovery forms and native sidecars (before 1.29 init containers lose `restartPolicy` silently,
 * as with the SidecarContainers gate off). Webhook services resolve through `registerService`.
 *
 * NOT implemented (answers say so, or the behaviour is absent):
 * - no kubelet, scheduler or controllers: pods are Running with ready containers from creation,
 *   deployments look rolled out but own no ReplicaSets or pods, nothing is garbage-collected by
 *   ownerReferences, namespaces are removed at once (no Terminating phase that lasts);
 * - exec, attach, portforward and proxy answer 400 "Upgrade request required" or 501 until a
 *   connect handler is registered (handlers-subresources.ts CONNECT_HANDLERS);
 * - only JSON on the wire (protobuf and YAML Accepts get JSON; protobuf bodies are 415), no CBOR;
 * - no impersonation headers, no client certificates, no audit log, no API priority and fairness;
 * - server-side apply merges approximately (no conflict detection, `force` changes nothing, fields
 *   a manager stops applying are kept); managedFields are approximate;
 * - paging pages show the current state rather than a snapshot; expired continue tokens never 410;
 * - `fieldValidation` knows the top level, metadata, pod spec/containers and deployment spec only;
 * - pod updates are checked (admission-pod-rules.ts: no added or removed containers; only images,
 *   a lowered activeDeadlineSeconds, tolerations and a -1 → 1 grace period may change), but the
 *   422's diff only approximates cmp.Diff, schedulingGates may change freely and there is no
 *   in-place resize; resource quotas, limit ranges and graceful deletion are absent;
 * - the pre-1.29 sidecar drop runs after the whole admission chain, so validation and validating
 *   webhooks still see the field;
 * - webhook services exist only where registered (`registerService` or the `serviceResolver`
 *   option): any other fails as `service "NAME" not found`, as the real resolver says;
 * - only the resources in resources.ts exist; no CRDs, no aggregated APIs.
 */
import https from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { KubeObject, UserInfo } from './types.ts';
import type { DoubleState } from './handlers-context.ts';
import type { NonResourceHandler } from './routes.ts';
import { ObjectStore } from './store.ts';
import { PodLogs } from './logs.ts';
import { findKind, findResource, resourceKey } from './resources.ts';
import { parseRequestInfo } from './request-info.ts';
import { serveNonResource, serveResource } from './routes.ts';
import { writeError } from './handlers-wire.ts';
import { unauthorized } from './status.ts';
import { applyDefaults, simulateStatus, tracksGeneration } from './handlers-strategy.ts';
import { now } from './handlers-objects.ts';
import { DEFAULT_NAMESPACES, defaultServiceAccount, namespaceObject } from './bootstrap.ts';
import { createAuthenticator } from './authn.ts';
import { bootstrapRbacObjects, createAuthorizer } from './rbac.ts';
import { createReviewHandlers } from './reviews.ts';
import { createAdmission } from './admission.ts';
import { dropDisabledSidecarFields } from './admission-pod-rules.ts';
import { serveDiscovery } from './discovery.ts';
import { toTable } from './table.ts';
import { serveOpenAPI } from './openapi.ts';
import { CONNECT_HANDLERS, isUpgrade } from './handlers-subresources.ts';
import { kubeconfigYaml } from './kubeconfig.ts';

const TLS_DIR = fileURLToPath(new URL('../../fixtures/tls/', import.meta.url));

/** Options of {@link createKubeApiServer}. */
export interface KubeApiServerOptions {
  /** `1.31` or `v1.31.0`; decides /version and which discovery forms are served. Default 1.31. */
  version?: string;
  /** Extra bearer tokens, as `--token-auth-file`. The admin token is always there. */
  staticTokens?: Record<string, UserInfo>;
  /** Objects stored at start, after the defaults (they bypass admission). */
  seed?: KubeObject[];
  /** Default 0 (a free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How many changes watches can resume from (etcd's compaction window). Default 1000. */
  watchHistorySize?: number;
  /** Verifier of EKS (`k8s-aws-v1.`) tokens, passed to the authenticator. */
  eksVerifier?: (token: string) => Promise<UserInfo | undefined>;
  /**
   * Where a webhook's `clientConfig.service` is dialled when {@link KubeApiServer.registerService}
   * has no entry for it: returns `https://HOST:PORT` (the path and TLS name stay the service's).
   */
  serviceResolver?: (namespace: string, name: string, port: number, path: string) => string;
}

/** Direct access to stored objects, bypassing authentication, authorization and admission. */
export interface DirectStore {
  /** Stores a new object (defaults and simulated status applied); returns it as stored. */
  create(object: KubeObject): KubeObject;
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  /** Replaces a stored object (found by its kind, namespace and name); bumps resourceVersion. */
  update(object: KubeObject): KubeObject;
  delete(resource: string, namespace: string, name: string): KubeObject | undefined;
  /** The underlying store (watch, resourceVersion). */
  readonly raw: ObjectStore;
}

/** A running double. */
export interface KubeApiServer {
  url: string;
  port: number;
  gitVersion: string;
  caFile: string;
  caPem: string;
  /** A token of `kubernetes-admin` in `system:masters`. */
  adminToken: string;
  objects: DirectStore;
  setPodLogs(namespace: string, pod: string, container: string, lines: string[]): void;
  appendPodLog(namespace: string, pod: string, container: string, lines: string[]): void;
  /** Writes a kubeconfig for this server with the CA and a token (the admin's by default). */
  writeKubeconfig(path: string, token?: string): Promise<void>;
  /** How many watches on a resource key (`pods`, `deployments.apps`) are open right now. */
  openWatches(resource: string): number;
  /**
   * Makes webhooks that name the service `namespace/name` (on `port`, or on any port when omitted)
   * reach `url` (`https://127.0.0.1:PORT`). The certificate there must still be valid for
   * `NAME.NAMESPACE.svc`, as the real server checks. Later registrations replace earlier ones.
   */
  registerService(namespace: string, name: string, url: string, port?: number): void;
  close(): Promise<void>;
}

function gitVersionOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(version);
  if (!m) throw new TypeError(`createKubeApiServer: version must look like 1.31 or v1.31.0, got ${JSON.stringify(version)}`);
  return `v${m[1]}.${m[2]}.${m[3] ?? '0'}`;
}

function minorOf(gitVersion: string): number {
  return Number(gitVersion.split('.')[1]);
}

/** Starts a double; resolves once it listens. */
export async function createKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const gitVersion = gitVersionOf(opts.version ?? '1.31');
  const [key = '', cert = '', caPem = ''] = await Promise.all(['server.key', 'server.crt', 'ca.crt'].map((f) => readFile(`${TLS_DIR}${f}`, 'utf8')));
  const store = new ObjectStore(opts.watchHistorySize ? { historySize: opts.watchHistorySize } : {});
  const logs = new PodLogs();
  const adminToken = randomBytes(24).toString('base64url');
  const staticTokens: Record<string, UserInfo> = { ...opts.staticTokens, [adminToken]: { username: 'kubernetes-admin', groups: ['system:masters'] } };
  const authn = createAuthenticator({ store, staticTokens, ...(opts.eksVerifier ? { eksVerifier: opts.eksVerifier } : {}) });
  const authz = createAuthorizer({ store });
  const reviews = createReviewHandlers({ authorizer: authz, authenticator: authn });
  const defaulter = (o: KubeObject): KubeObject => {
    const info = findKind((o.apiVersion ?? '').includes('/') ? o.apiVersion.split('/')[0] ?? '' : '', o.kind);
    if (info) applyDefaults(resourceKey(info), o);
    return o;
  };
  const services = new Map<string, string>();
  const serviceResolver = (namespace: string, name: string, port: number, path: string): string => {
    const target = services.get(`${namespace}/${name}:${port}`) ?? services.get(`${namespace}/${name}`) ?? opts.serviceResolver?.(namespace, name, port, path);
    // No cluster networking here: an unregistered service fails as the real resolver does.
    if (target === undefined) throw new Error(`service "${name}" not found`);
    return target;
  };
  const admission = createAdmission({ store, defaulter, serviceResolver });
  const sidecarsEnabled = minorOf(gitVersion) >= 29;

  const state: DoubleState = {
    store, logs,
    admit: async (attrs) => {
      const group = attrs.resource.group;
      if (group === 'rbac.authorization.k8s.io' && attrs.object && (attrs.operation === 'CREATE' || attrs.operation === 'UPDATE')) {
        authz.checkEscalation(attrs.userInfo, attrs.operation === 'CREATE' ? 'create' : 'update', attrs.object, attrs.namespace);
      }
      const result = await admission.admit(attrs);
      if (!sidecarsEnabled && attrs.subResource === '') dropDisabledSidecarFields(result.object, attrs.oldObject);
      return result;
    },
    toTable: ({ resource, objects, listMeta, includeObject }) => toTable(resource, objects, {
      includeObject: includeObject === 'None' || includeObject === 'Object' ? includeObject : 'Metadata',
      resourceVersion: String(listMeta?.resourceVersion ?? objects[0]?.metadata.resourceVersion ?? ''),
      ...(typeof listMeta?.continue === 'string' ? { continue: listMeta.continue } : {}),
    }),
    afterCreate: (k, o) => {
      // The ServiceAccount controller's work: every namespace gets a `default` ServiceAccount.
      if (k !== 'namespaces' || !o.metadata.name) return;
      const ns = o.metadata.name;
      if (!store.get('serviceaccounts', ns, 'default')) direct.create(defaultServiceAccount(ns));
      // The root CA publisher's work: every namespace gets the cluster CA as kube-root-ca.crt.
      if (!store.get('configmaps', ns, 'kube-root-ca.crt')) direct.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: ns, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } }, data: { 'ca.crt': caPem } });
    },
    tokenRequest: (ns, sa, body) => authn.tokenRequest(ns, sa, body),
  };

  const direct: DirectStore = {
    raw: store,
    create(object) {
      const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] ?? '' : '';
      const info = findKind(group, object.kind);
      if (!info) throw new TypeError(`the double does not serve ${object.apiVersion} ${object.kind}`);
      const k = resourceKey(info);
      const copy = structuredClone(object);
      if (!info.namespaced) delete copy.metadata.namespace;
      else copy.metadata.namespace ??= 'default';
      applyDefaults(k, copy);
      if (tracksGeneration(k)) copy.metadata.generation ??= 1;
      simulateStatus(k, copy, now());
      const stored = store.create(k, copy, info);
      state.afterCreate(k, stored);
      return stored;
    },
    get: (r, ns, name) => store.get(keyOf(r), ns, name),
    list: (r, ns) => store.list(keyOf(r), ns),
    update(object) {
      const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] ?? '' : '';
      const info = findKind(group, object.kind);
      if (!info) throw new TypeError(`the double does not serve ${object.apiVersion} ${object.kind}`);
      return store.update(resourceKey(info), structuredClone(object));
    },
    delete: (r, ns, name) => store.delete(keyOf(r), ns, name),
  };

  for (const ns of DEFAULT_NAMESPACES) direct.create(namespaceObject(ns));
  for (const o of bootstrapRbacObjects()) direct.create(o);
  for (const o of opts.seed ?? []) direct.create(o);

  // Pod deletion (by API or namespace removal) ends its log streams, as a stopped container would.
  store.onChange((e) => {
    if (e.resource === 'pods' && e.type === 'DELETED') logs.endPod(e.object.metadata.namespace ?? '', e.object.metadata.name ?? '');
  });

  const nonResource: NonResourceHandler[] = [
    (path, accept) => serveDiscovery(path, accept, { gitVersion }),
    (path, accept) => serveOpenAPI(path, accept),
  ];

  async function authenticate(req: IncomingMessage): Promise<UserInfo> {
    const user = await authn.authenticate(req.headers.authorization);
    if (!user) throw unauthorized();
    return user;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const user = await authenticate(req);
      const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
      if (!authz.authorize(user, info).allowed) throw authz.forbiddenError(user, info);
      if (!info.isResourceRequest) serveNonResource(nonResource, req, res, info);
      else await serveResource(state, reviews, req, res, info, user);
    } catch (error) {
      writeError(res, error);
    }
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const fail = (code: number, body: unknown): void => {
      const text = JSON.stringify(body);
      socket.end(`HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : code === 403 ? 'Forbidden' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    try {
      const user = await authenticate(req);
      const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
      if (!authz.authorize(user, info).allowed) throw authz.forbiddenError(user, info);
      const handler = CONNECT_HANDLERS.get(`${info.resource}/${info.subresource}`);
      if (!handler?.upgrade || !isUpgrade(req)) {
        fail(501, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `the Kubernetes API double does not implement ${info.resource}/${info.subresource} yet`, reason: 'NotImplemented', code: 501 });
        return;
      }
      const resource = findResource(info.apiGroup, info.resource);
      if (!resource) throw new Error('unknown resource');
      await handler.upgrade({ state, info, resource, key: resourceKey(resource), user, req, res: undefined as never, form: { as: 'object' }, warnings: [] }, socket, head);
    } catch (error) {
      const status = (error as { status?: { code?: number } }).status;
      fail(status?.code ?? 500, status ?? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: String(error), reason: 'InternalError', code: 500 });
    }
  }

  const server = https.createServer({ key, cert, ALPNProtocols: ['http/1.1'] }, (req, res) => void handle(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void upgrade(req, socket, head));
  const sockets = new Set<Socket>();
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url, port, gitVersion, caPem, caFile: `${TLS_DIR}ca.crt`, adminToken, objects: direct,
    setPodLogs: (ns, pod, container, lines) => logs.set(ns, pod, container, lines),
    appendPodLog: (ns, pod, container, lines) => logs.append(ns, pod, container, lines),
    writeKubeconfig: (path, token) => writeFile(path, kubeconfigYaml({ server: url, caPem, token: token ?? adminToken, user: token && token !== adminToken ? 'user' : 'kubernetes-admin' }), { mode: 0o600 }),
    openWatches: (r) => store.watchCount(r),
    registerService: (namespace, name, target, port) => {
      if (!URL.canParse(target)) throw new TypeError(`registerService: url must be absolute, like https://127.0.0.1:8443, got ${JSON.stringify(target)}`);
      services.set(port === undefined ? `${namespace}/${name}` : `${namespace}/${name}:${port}`, target);
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}

function keyOf(resource: string): string {
  return resource;
}

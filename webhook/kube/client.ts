// The webhook's Kubernetes client: JSON over node:https with one keep-alive agent, for the dozen
// calls the webhook makes. It replaces @kubernetes/client-node here because that library added
// ~65 MiB RSS at import and opened a new TLS connection for every call (measured: see the bench).
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { dirname, resolve } from 'node:path';

/** A failed API call that got an HTTP answer: its status code and body (a Status, usually). */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly code: number;
  readonly body: string;
  constructor(method: string, path: string, code: number, body: string) {
    super(`${method} ${path}: HTTP ${code}`);
    this.code = code;
    this.body = body;
  }
}

/** One event of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

/** The calls the webhook makes; paths are API paths such as `/api/v1/namespaces/agents`. */
export interface KubeClient {
  get<T>(path: string, query?: Record<string, string>): Promise<T>;
  /** POST a new object to a collection. */
  create<T>(path: string, body: unknown): Promise<T>;
  /** PUT an object (its resourceVersion, when set, guards against lost updates: 409). */
  replace<T>(path: string, body: unknown): Promise<T>;
  /** Streams a watch until the server ends it (resolves) or it fails (rejects); stops on `signal`. */
  watch(path: string, query: Record<string, string>, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void>;
}

/** Where and how to connect, from a kubeconfig or the pod's service account. */
interface Connection {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  insecure: boolean;
  /** The bearer token, re-read when it comes from a file (projected tokens rotate). */
  token: () => Promise<string | undefined>;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const CALL_TIMEOUT_MS = 10_000;

/** A token file read at most once a minute, as client-go does: kubelet rotates it well before expiry. */
function tokenFile(path: string): () => Promise<string> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.at > 60_000) cached = { token: (await readFile(path, 'utf8')).trim(), at: Date.now() };
    return cached.token;
  };
}

type Entry = Record<string, unknown>;
const named = (list: unknown, name: unknown, key: string): Entry | undefined => {
  const found = Array.isArray(list) ? (list as Entry[]).find((e) => e.name === name) : undefined;
  const inner = found?.[key];
  return typeof inner === 'object' && inner !== null ? (inner as Entry) : undefined;
};
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** The current context of a kubeconfig file: server, CA, client certificate or token. */
async function fromKubeconfig(file: string): Promise<Connection> {
  // YAML is only needed out of cluster (tests, development): not loaded in a pod. `default` is
  // the package's CommonJS exports, under Node's own loader and in the bundle alike (esbuild's
  // split chunk of a dynamically imported CommonJS package exports only `default`).
  const { parse } = (await import('yaml')).default;
  const config = parse(await readFile(file, 'utf8')) as Entry;
  const context = named(config.contexts, config['current-context'], 'context');
  const cluster = named(config.clusters, context?.cluster, 'cluster');
  const user = named(config.users, context?.user, 'user') ?? {};
  const server = text(cluster?.server);
  if (!server || !URL.canParse(server)) throw new Error(`the kubeconfig ${file} names no usable API server for its current context (got "${server ?? ''}")`);
  if (user.exec || user['auth-provider']) throw new Error(`the kubeconfig ${file} uses an exec or auth-provider credential, which the webhook does not run: use a token or a client certificate`);
  const here = dirname(file);
  const data = async (inline: unknown, path: unknown): Promise<Buffer | undefined> => {
    if (text(inline)) return Buffer.from(text(inline) ?? '', 'base64');
    return text(path) ? readFile(resolve(here, text(path) ?? '')) : undefined;
  };
  const [ca, cert, key] = await Promise.all([
    data(cluster?.['certificate-authority-data'], cluster?.['certificate-authority']),
    data(user['client-certificate-data'], user['client-certificate']),
    data(user['client-key-data'], user['client-key']),
  ]);
  const token = text(user.token);
  const tokenPath = text(user.tokenFile);
  const servername = text(cluster?.['tls-server-name']);
  return {
    server: new URL(server),
    ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(servername ? { servername } : {}),
    insecure: cluster?.['insecure-skip-tls-verify'] === true,
    token: tokenPath ? tokenFile(resolve(here, tokenPath)) : async () => token,
  };
}

/**
 * The pod's own service account, reaching the API server by its Service name (as the sidecar's
 * upstream does: the API server's certificate always names kubernetes.default.svc), so that no
 * module but the configuration reads the environment.
 */
async function inCluster(server: string): Promise<Connection> {
  let ca: Buffer;
  try {
    ca = await readFile(`${SERVICE_ACCOUNT}/ca.crt`);
  } catch {
    // Worded as before the client was replaced: test/cli pins it, and operators may grep for it.
    throw new Error('not running in a pod (no in-cluster API server address): set webhook.kubeconfig (AGENTGATE_WEBHOOK_KUBECONFIG) to a kubeconfig file');
  }
  return {
    server: new URL(server),
    ca,
    insecure: false,
    token: tokenFile(`${SERVICE_ACCOUNT}/token`),
  };
}

function withQuery(path: string, query?: Record<string, string>): string {
  const search = new URLSearchParams(query).toString();
  return search ? `${path}?${search}` : path;
}

/** A client over `connection`; every call shares one keep-alive agent (one TLS handshake, not one per call). */
function clientFor(connection: Connection): KubeClient {
  const agent = new Agent({
    keepAlive: true,
    ...(connection.ca ? { ca: connection.ca } : {}), ...(connection.cert ? { cert: connection.cert } : {}), ...(connection.key ? { key: connection.key } : {}),
    ...(connection.servername ? { servername: connection.servername } : {}),
    rejectUnauthorized: !connection.insecure,
  });
  const { server } = connection;
  const base = server.pathname.replace(/\/$/, '');
  const open = async (method: string, path: string, body: string | undefined, signal: AbortSignal | undefined, timeout: boolean): Promise<import('node:http').IncomingMessage> => {
    const token = await connection.token();
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'agentgate-webhook' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolveResponse, reject) => {
      const req = request({ host: server.hostname.replace(/^\[|\]$/g, ''), port: server.port || 443, path: base + path, method, headers, agent, ...(signal ? { signal } : {}) }, resolveResponse);
      if (timeout) req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no answer within ${CALL_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  };
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await open(method, path, body === undefined ? undefined : JSON.stringify(body), undefined, true);
    const chunks: Buffer[] = [];
    for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
    const answer = Buffer.concat(chunks).toString('utf8');
    const code = res.statusCode ?? 0;
    if (code < 200 || code > 299) throw new KubeApiError(method, path, code, answer);
    return JSON.parse(answer) as T;
  };
  return {
    get: (path, query) => call('GET', withQuery(path, query)),
    create: (path, body) => call('POST', path, body),
    replace: (path, body) => call('PUT', path, body),
    async watch(path, query, onEvent, signal) {
      const res = await open('GET', withQuery(path, { ...query, watch: 'true' }), undefined, signal, false);
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
        throw new KubeApiError('GET', path, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'));
      }
      let rest = '';
      try {
        for await (const chunk of res.setEncoding('utf8') as AsyncIterable<string>) {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) if (line.trim() !== '') onEvent(JSON.parse(line) as WatchEvent);
        }
      } catch (error) {
        if (!signal.aborted) throw error;
      }
    },
  };
}

/** The API server as seen from a pod. */
export const IN_CLUSTER_SERVER = 'https://kubernetes.default.svc';

/** A client for `kubeconfig` (a file path), or for the in-cluster service account when unset. */
export async function kubeClient(kubeconfig?: string, inClusterServer = IN_CLUSTER_SERVER): Promise<KubeClient> {
  return clientFor(kubeconfig ? await fromKubeconfig(kubeconfig) : await inCluster(inClusterServer));
}

/** The HTTP status of a failed API call, or undefined when the call never got an answer. */
export function httpCode(error: unknown): number | undefined {
  return error instanceof KubeApiError ? error.code : undefined;
}

/** A short, credential-free text of a failed API call, for logs and refusal messages. */
export function apiErrorText(error: unknown): string {
  if (error instanceof KubeApiError) {
    let message = '';
    try {
      const parsed = JSON.parse(error.body) as { message?: unknown };
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // not a Status body
    }
    return message ? `HTTP ${error.code}: ${message}` : `HTTP ${error.code}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** `/api/v1/namespaces/NS/RESOURCE[/NAME]` with each segment escaped. */
export function corePath(resource: string, namespace?: string, name?: string): string {
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `/api/v1${ns}/${resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

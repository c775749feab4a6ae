// `agentgate sidecar`: makes the pod's CA, serving certificate and pod-local token, writes what the
// agent reads into the shared volume, serves the API on loopback (HTTPS) and health on the pod IP
// (HTTP, /healthz, /readyz and /metrics only), and holds the broker stream open.
import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { defaultPodLayout, type AgentIdentity } from '../src/contracts/index.ts';
import type { ConfigFor } from '../src/config/index.ts';
import { createPodCertificates } from '../src/certs/index.ts';
import { createAuditor, type Auditor, type AuditSpool } from './audit.ts';
import { newPodToken, PodTokens } from './authenticate.ts';
import { BrokerClient } from './broker.ts';
import { createDecider } from './decide.ts';
import { Upstream } from './forward.ts';
import { GrantState } from './grants.ts';
import type { MaskResponse } from './mask.ts';
import { http } from './node-http.ts';
import { createPipeline } from './pipeline.ts';
import { createAccessRequestApi } from './accessrequests.ts';
import { countingAuditor, createSidecarMetrics, METRICS_CONTENT_TYPE, timedDecider, type SidecarMetrics } from './metrics.ts';
import { gateAuditSpool, type SpoolGate } from './spool-gate.ts';
import { startBrokerStream, type BrokerStream } from './stream.ts';

/** What the sidecar needs besides its configuration. */
export interface SidecarDeps {
  log: Logger;
  /** The mask stage (src/masking binds the real one). */
  maskResponse: MaskResponse;
  /** The agent's identity, for the audit (the webhook stamps it on the pod). */
  identity: AgentIdentity;
  /** The audit spool (src/audit); without it, undeliverable events wait in a bounded memory queue. */
  spool?: AuditSpool;
  /** CA of the broker's certificate; default the system's. */
  brokerCa?: string | Buffer;
  /** Bound on each broker call; default 2 s. */
  brokerTimeoutMs?: number;
  /** How often the pod-local token is replaced; default 10 min (0: never). */
  tokenRotationMs?: number;
  /** How long a replaced token stays valid; default 5 min (client-go re-reads about once a minute). */
  tokenGraceMs?: number;
  /** Bound on receiving a request's head; default 10 s. */
  headersTimeoutMs?: number;
  /** Bound on receiving a request body; default 60 s. */
  bodyTimeoutMs?: number;
  /** How long close() lets in-flight requests finish; default 5 s. */
  closeGraceMs?: number;
  /** How long watches and followed logs outlast a lost broker stream; default 5 s. */
  openResponsesGraceMs?: number;
  /** How long an answer may wait on an agent that stops reading it before the connection is cut; default 60 s. */
  writeStallMs?: number;
  /** Bound on the API server's silence before an answer's head (and within ordinary answers); default 65 s. */
  upstreamTimeoutMs?: number;
}

/** A running sidecar. */
export interface Sidecar {
  apiPort: number;
  healthPort: number;
  /** `https://127.0.0.1:<port>`. */
  apiUrl: string;
  caPem: string;
  state: GrantState;
  auditor: Auditor;
  metrics: SidecarMetrics;
  /** The spool gate, when a spool was given (closed while the spool is full). */
  spoolGate?: SpoolGate;
  /** Resolves when the broker stream said hello. */
  streamConnected: Promise<void>;
  /** Replaces the pod-local token now (the old one keeps working for the grace period); resolves with the new one. */
  rotateToken(): Promise<string>;
  /** Stops accepting, lets in-flight requests finish, flushes the audit, closes everything. */
  close(): Promise<void>;
}

/** Writes a file so that readers see the old or the new content, never half of one: temp file, then rename. */
export async function writeAtomic(dir: string, name: string, content: string, mode = 0o644): Promise<void> {
  const temp = join(dir, `.${name}.${randomUUID()}.tmp`);
  await writeFile(temp, content, { mode });
  await rename(temp, join(dir, name));
}

function listen(server: HttpServer | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts the sidecar; resolves once both listeners accept and the shared files are written. */
export async function startSidecar(config: ConfigFor<'sidecar'>, deps: SidecarDeps): Promise<Sidecar> {
  const { log } = deps;
  const sc = config.sidecar;
  const files = defaultPodLayout.sharedVolume.files;
  const certs = createPodCertificates();
  let token = newPodToken();
  const tokens = new PodTokens(token);
  const namespace = config.pod.namespace ?? deps.identity.namespace;
  await Promise.all([
    writeAtomic(sc.sharedDir, files.ca, certs.caPem),
    // The agent runs as another user in most pods: the token is readable by all, as the kubelet's projected one is.
    writeAtomic(sc.sharedDir, files.token, token),
    writeAtomic(sc.sharedDir, files.namespace, namespace),
  ]);

  const broker = new BrokerClient({ url: sc.brokerUrl, tokenPath: sc.brokerTokenPath, timeoutMs: deps.brokerTimeoutMs ?? 2000, ...(deps.brokerCa ? { ca: deps.brokerCa } : {}) });
  const state = new GrantState({ cacheTtlMs: sc.decisionCache.ttl, maxEntries: sc.decisionCache.maxEntries });
  const upstream = new Upstream({ url: sc.upstream.url, ca: await readFile(sc.upstream.caFile), maxHeldBytes: sc.masking.maxHeldBytes, maxStreamedBytes: sc.masking.maxStreamedBytes, ...(deps.upstreamTimeoutMs !== undefined ? { headersTimeoutMs: deps.upstreamTimeoutMs } : {}) });
  const metrics = createSidecarMetrics();
  // A full spool closes the gate: requests are refused rather than forwarded unaudited.
  const gate: SpoolGate | undefined = deps.spool ? gateAuditSpool(deps.spool, log) : undefined;
  const auditor = countingAuditor(createAuditor({ broker, identity: deps.identity, instance: randomUUID(), log, ...(gate ? { spool: gate.spool } : {}) }), metrics);
  const decider = timedDecider(createDecider({ broker, state, podUid: config.pod.uid ?? deps.identity.podUid }), metrics);
  let accepting = true;
  const pipeline = createPipeline({
    tokens, decider, state, upstream, maskResponse: deps.maskResponse, auditor, log,
    bodyLimit: sc.requestBodyLimit, bodyTimeoutMs: deps.bodyTimeoutMs ?? 60_000, writeStallMs: deps.writeStallMs ?? 60_000, accepting: () => accepting,
    ...(gate ? { admit: gate.admit } : {}),
    virtualApi: createAccessRequestApi({ broker, namespace }),
  });

  const headersTimeoutMs = deps.headersTimeoutMs ?? 10_000;
  // Node checks the head and request timeouts only every connectionsCheckingInterval (30 s by
  // default), so a slowloris client would hold its socket three times longer than headersTimeout.
  const api = createHttpsServer({ cert: certs.certPem, key: certs.keyPem, minVersion: 'TLSv1.2', connectionsCheckingInterval: Math.min(1000, headersTimeoutMs) }, pipeline.handle);
  // A client that sends its head or body slowly (or never) is cut; responses (watches) are not bounded.
  api.headersTimeout = headersTimeoutMs;
  api.requestTimeout = (deps.bodyTimeoutMs ?? 60_000) + 5_000;
  api.keepAliveTimeout = 65_000;
  api.on('upgrade', (req, socket) => pipeline.handleUpgrade(req, socket));
  const sockets = new Set<Socket>();
  api.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const memo = deps.maskResponse.memo;
  let ready = false;
  const health = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(metrics.render({
        cache: () => ({ hits: state.stats.cacheHits, misses: state.stats.cacheMisses }),
        auditQueue: () => auditor.stats.queued(),
        auditDropped: () => auditor.stats.dropped,
        ...(gate && deps.spool ? { spool: () => ({ ...(deps.spool as AuditSpool).stats(), closed: gate.isClosed() }) } : {}),
        openResponses: () => state.openResponses(),
        upstreamConnections: () => upstream.pool.openConnections,
        held: () => ({ bytes: upstream.held.held, waits: upstream.held.waits }),
        streams: () => ({ bytes: upstream.streams.pending, cuts: upstream.streams.cuts }),
        ...(memo !== undefined ? { maskMemo: () => memo } : {}),
      }));
      return;
    }
    const ok = path === defaultPodLayout.sidecar.healthPath ? accepting : path === defaultPodLayout.sidecar.readyPath ? ready && accepting : undefined;
    if (ok === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
  });

  const apiPort = await listen(api, sc.api.port, sc.api.host);
  const healthPort = await listen(health, sc.health.port, sc.health.host);
  const stream: BrokerStream = startBrokerStream(broker, state, log, deps.openResponsesGraceMs);
  ready = true;

  const rotateToken = async (): Promise<string> => {
    const next = newPodToken();
    // Accept the new token before clients can read it, and keep the old one for the grace period.
    tokens.rotate(next, deps.tokenGraceMs ?? 5 * 60_000);
    token = next;
    await writeAtomic(sc.sharedDir, files.token, token);
    return token;
  };
  const rotationMs = deps.tokenRotationMs ?? 10 * 60_000;
  const rotation = rotationMs > 0 ? setInterval(() => rotateToken().catch((error: unknown) => log.error({ err: error }, 'token rotation failed')), rotationMs) : undefined;
  rotation?.unref();
  log.info({ apiPort, healthPort }, 'sidecar listening');

  return {
    apiPort, healthPort, apiUrl: `https://${sc.api.host}:${apiPort}`, caPem: certs.caPem, state, auditor, metrics,
    ...(gate ? { spoolGate: gate } : {}),
    streamConnected: stream.connected,
    rotateToken,
    async close() {
      accepting = false;
      clearInterval(rotation);
      const closed = new Promise<void>((resolve) => api.close(() => resolve()));
      api.closeIdleConnections();
      const grace = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, deps.closeGraceMs ?? 5000);
      await closed;
      clearTimeout(grace);
      stream.close();
      state.close();
      await auditor.close();
      await new Promise<void>((resolve) => health.close(() => resolve()));
      broker.close();
      upstream.close();
    },
  };
}

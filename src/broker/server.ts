// The broker's HTTPS server: routes the v1 contract and the operator API, checks the contract
// header, serves /healthz, /readyz (Redis answers and a policy is loaded) and /metrics, and turns
// every failure into a BrokerError (http.ts) so a sidecar never sees an unexplained answer.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { CONTRACT_HEADER, brokerError, checkContractHeader } from '../contracts/broker-v1.ts';
import { errorAnswer, sendError } from './http.ts';
import type { BrokerMetrics } from './metrics.ts';
import { operatorRoutes, type OperatorDeps } from './routes-operator.ts';
import { v1Routes, type Route, type V1Deps } from './routes-v1.ts';

/** Options of {@link startBrokerServer}. */
export interface BrokerServerOptions {
  host: string;
  port: number;
  cert: string | Buffer;
  key: string | Buffer;
  log: Logger;
  metrics: BrokerMetrics;
  v1: V1Deps;
  operator: OperatorDeps;
  /** Whether the broker can serve: Redis answers and a policy is loaded. */
  ready(): Promise<{ ok: boolean; reasons: string[] }>;
}

/** A listening broker server. */
export interface BrokerServer {
  url: string;
  port: number;
  server: Server;
  /** Stops accepting, ends open streams and idle connections; in-flight requests finish. */
  close(): Promise<void>;
}

const text = (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) }).end(body);
};

/** Starts the server; resolves once it listens. */
export async function startBrokerServer(options: BrokerServerOptions): Promise<BrokerServer> {
  const { log, metrics } = options;
  const v1 = v1Routes(options.v1);
  const op = operatorRoutes(options.operator);
  let accepting = true;

  function find(method: string, path: string): Route | undefined {
    const key = `${method} ${path}`;
    const exact = v1.exact.get(key) ?? op.exact.get(key);
    if (exact) return exact;
    if (method === 'GET' && path.startsWith('/v1/accessrequests/') && path.length > '/v1/accessrequests/'.length) return v1.accessRequest;
    for (const [prefix, route] of op.byId) if (key.startsWith(prefix) && key.length > prefix.length && !key.slice(prefix.length).includes('/')) return route;
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://broker');
    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/healthz') return text(res, accepting ? 200 : 503, accepting ? 'ok' : 'shutting down');
    if (method === 'GET' && url.pathname === '/readyz') {
      const state = accepting ? await options.ready() : { ok: false, reasons: ['shutting down'] };
      return text(res, state.ok ? 200 : 503, state.ok ? 'ok' : `not ready: ${state.reasons.join('; ')}`);
    }
    if (method === 'GET' && url.pathname === '/metrics') return text(res, 200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
    if (!accepting) return sendError(res, 503, brokerError('unavailable', undefined, 1));
    const header = req.headers[CONTRACT_HEADER.toLowerCase()];
    const contract = checkContractHeader(typeof header === 'string' ? header : undefined);
    if (contract) return sendError(res, 400, contract);
    const route = find(method, url.pathname);
    if (!route) return sendError(res, 404, brokerError('not-found', `No route ${method} ${url.pathname}.`));
    await route(req, res, url);
  }

  const server = createServer({ cert: options.cert, key: options.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      const answer = errorAnswer(error);
      if (answer.status >= 500 && answer.error.code !== 'redis-unavailable') log.error({ err: error, path: req.url?.split('?')[0] }, 'broker request failed');
      metrics.error(req.url?.split('?')[0] ?? '', answer.error.code);
      sendError(res, answer.status, answer.error);
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // streams stay open; bodies are bounded by size in readJson.
  server.keepAliveTimeout = 65_000;
  const sockets = new Set<Socket>();
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    async close() {
      accepting = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 5000);
      grace.unref();
      await closed;
      clearTimeout(grace);
    },
  };
}

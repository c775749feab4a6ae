// The admission webhook's HTTPS service (node:https): POST /mutate and /validate take an
// AdmissionReview v1 and answer one; /healthz and /readyz for the kubelet, /metrics. Five fixed
// routes need no framework: Express cost ~9 MiB RSS at import and work on every review (measured).
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { failure, reasonCode, writeStatus, type Status } from '../src/kube/status.ts';
import { decodeReview, errored, type AdmissionRequest, type AdmissionReviewResponse } from './admission.ts';
import type { InjectOptions } from './inject/options.ts';
import { createWebhookMetrics, METRICS_CONTENT_TYPE, type AdmissionResult, type WebhookMetrics, type WebhookName } from './metrics.ts';
import { mutateReview, needsServiceAccount, reviewInputs, validateReview, type ReviewInputs, type ReviewLookups } from './review.ts';
import { validateOptions, type ValidateOptions } from './validate/index.ts';

/** The largest review accepted: the API server's own request limit is 3 MiB. */
export const DEFAULT_BODY_LIMIT = 3 * 1024 * 1024;

/** Settings of the webhook server, checked when it starts. */
export interface WebhookServerOptions {
  /** PEM serving certificate chain and key (cert-manager's, or self-bootstrapped). */
  cert: string | Buffer;
  key: string | Buffer;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Fixed options, or a getter read per review (the cluster version may switch injection off). */
  inject: InjectOptions | (() => InjectOptions);
  /** Validation options for given injection options; `validateOptions(inject)` by default. */
  validate?: (inject: InjectOptions) => ValidateOptions;
  lookups: ReviewLookups;
  bodyLimit?: number;
  /** Whether the service is ready (e.g. its caches are synced); ready by default. */
  ready?: () => boolean;
  /** How long close() lets in-flight reviews finish before cutting connections. */
  closeGraceMs?: number;
  /** Where admissions are counted; a fresh registry by default. */
  metrics?: WebhookMetrics;
}

/** A running webhook server. */
export interface WebhookServer {
  server: Server;
  port: number;
  url: string;
  metrics: WebhookMetrics;
  /** Serves a new certificate to new connections (rotation); open connections keep the old one. */
  setCertificate(cert: string | Buffer, key: string | Buffer): void;
  /** Stops accepting, lets in-flight reviews finish (up to the grace period), then closes. */
  close(): Promise<void>;
}

class BadBody extends Error {
  readonly status: Status;
  constructor(status: Status) {
    super(status.message);
    this.status = status;
  }
}

/** The media type without parameters, lower case (`application/json; charset=utf-8` → `application/json`). */
function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = mediaType(req.headers['content-type']);
  if (type !== 'application/json') {
    throw new BadBody(failure('UnsupportedMediaType', `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not supported: send application/json`));
  }
  const tooLarge = () => new BadBody(failure('RequestEntityTooLarge', `the review is larger than ${limit} bytes`));
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Stop reading at once: a body over the limit is never buffered whole.
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  try {
    // One chunk is the common case (a typical pod): no copy.
    return JSON.parse((chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size)).toString('utf8')) as unknown;
  } catch (error) {
    throw new BadBody(failure('BadRequest', `the body is not valid JSON: ${(error as Error).message}`));
  }
}

function send(res: ServerResponse, code: number, contentType: string, body: string): void {
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

type Decide = (request: AdmissionRequest, inputs: ReviewInputs) => AdmissionReviewResponse;

/** The result and reason labels of an answer. */
export function outcomeOf(answer: AdmissionReviewResponse): { result: AdmissionResult; reason: string } {
  const { response } = answer;
  if (response.allowed) return { result: response.patch ? 'patched' : 'allowed', reason: 'none' };
  const status = response.status;
  if (status?.code === 403) return { result: 'denied', reason: (status && reasonCode(status)) ?? 'Forbidden' };
  return { result: 'errored', reason: status?.reason ?? 'InternalError' };
}

interface HandlerContext {
  name: WebhookName;
  decide: Decide;
  lookups: ReviewLookups;
  limit: number;
  metrics: WebhookMetrics;
  /** Called before a patch is answered (the mutating webhook's on-demand service account). */
  beforeAnswer?: (request: AdmissionRequest, inputs: ReviewInputs, answer: AdmissionReviewResponse) => Promise<void>;
}

function reviewHandler(ctx: HandlerContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const rejected = (status: Status): void => {
      ctx.metrics.observe(ctx.name, 'rejected', status.reason ?? 'BadRequest', (performance.now() - started) / 1000);
      // The rest of an oversized body is not read: close the connection after answering.
      writeStatus(res, status, status.code === 413 ? { connection: 'close' } : {});
    };
    let body: unknown;
    try {
      body = await readJson(req, ctx.limit);
    } catch (error) {
      if (!(error instanceof BadBody)) throw error;
      rejected(error.status);
      return;
    }
    const decoded = decodeReview(body);
    if ('status' in decoded) {
      rejected(decoded.status);
      return;
    }
    const { request } = decoded.review;
    let answer: AdmissionReviewResponse;
    try {
      const inputs = await reviewInputs(request, ctx.lookups);
      answer = ctx.decide(request, inputs);
      await ctx.beforeAnswer?.(request, inputs, answer);
    } catch (error) {
      // A lookup or an unexpected failure refuses the request: never allowed unchecked.
      answer = errored(request.uid, 500, `agentgate could not review this request: ${(error as Error).message}`);
    }
    const { result, reason } = outcomeOf(answer);
    ctx.metrics.observe(ctx.name, result, reason, (performance.now() - started) / 1000);
    send(res, 200, 'application/json', JSON.stringify(answer));
  };
}

/** Starts the webhook server and resolves once it listens. */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const given = options.inject;
  const currentInject = typeof given === 'function' ? given : () => given;
  const buildValidation = options.validate ?? ((inject: InjectOptions) => validateOptions(inject));
  // Built once per distinct options object (there are at most two: before and after 1.29).
  const validations = new WeakMap<InjectOptions, ValidateOptions>();
  const validationFor = (inject: InjectOptions): ValidateOptions => {
    let found = validations.get(inject);
    if (!found) validations.set(inject, (found = buildValidation(inject)));
    return found;
  };
  const ready = options.ready ?? (() => true);
  const metrics = options.metrics ?? createWebhookMetrics();
  const { lookups } = options;
  const ensureServiceAccount = lookups.ensureServiceAccount;
  const mutate = reviewHandler({
    name: 'mutate', lookups, limit, metrics,
    decide: (request, inputs) => mutateReview(request, currentInject(), inputs),
    ...(ensureServiceAccount
      ? {
          beforeAnswer: async (request, inputs, answer) => {
            if (needsServiceAccount(request, inputs, answer)) await ensureServiceAccount(request.namespace ?? '');
          },
        }
      : {}),
  });
  const validate = reviewHandler({ name: 'validate', lookups, limit, metrics, decide: (request, inputs) => validateReview(request, validationFor(currentInject()), inputs) });
  const text = 'text/plain; charset=utf-8';
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    // The API server calls `/mutate?timeout=10s`: route on the path alone.
    const path = query === -1 ? url : url.slice(0, query);
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (req.method === 'POST' && path === '/mutate') return mutate(req, res);
    if (req.method === 'POST' && path === '/validate') return validate(req, res);
    if (get && path === '/healthz') return send(res, 200, text, 'ok');
    if (get && path === '/readyz') return ready() ? send(res, 200, text, 'ok') : send(res, 503, text, 'not ready');
    if (get && path === '/metrics') return send(res, 200, METRICS_CONTENT_TYPE, metrics.render());
    writeStatus(res, failure('NotFound', `${req.method ?? ''} ${path} is not served: use POST /mutate or POST /validate`));
  };
  // A decision that throws outside the guarded block still answers with a Status, never a stack.
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else writeStatus(res, failure('InternalError', `agentgate could not review this request: ${(error as Error).message}`));
    });
  };

  const server = createServer({ cert: options.cert, key: options.key, minVersion: 'TLSv1.2' }, handle);
  // The API server keeps connections alive across reviews; keep them longer than its idle timeout.
  server.keepAliveTimeout = 65_000;
  server.listen(options.port ?? 0, options.host ?? '0.0.0.0');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  const grace = options.closeGraceMs ?? 10_000;
  return {
    server,
    port,
    metrics,
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    setCertificate(cert, key) {
      server.setSecureContext({ cert, key, minVersion: 'TLSv1.2' });
    },
    async close() {
      const closed = once(server, 'close');
      server.close();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), grace);
      try {
        await closed;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

// The admission webhook's HTTPS service (Express 5 over node:https): POST /mutate and /validate
// take an AdmissionReview v1 and answer one; /healthz and /readyz for the kubelet.
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import { failure, statusBody, type Status } from '../src/kube/status.ts';
import { decodeReview, errored, type AdmissionRequest, type AdmissionReviewResponse } from './admission.ts';
import type { InjectOptions } from './inject/options.ts';
import { mutateReview, reviewInputs, validateReview, type ReviewInputs, type ReviewLookups } from './review.ts';
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
  inject: InjectOptions;
  validate?: ValidateOptions;
  lookups: ReviewLookups;
  bodyLimit?: number;
  /** Whether the service is ready (e.g. its caches are synced); ready by default. */
  ready?: () => boolean;
  /** How long close() lets in-flight reviews finish before cutting connections. */
  closeGraceMs?: number;
}

/** A running webhook server. */
export interface WebhookServer {
  server: Server;
  port: number;
  url: string;
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

function sendStatus(res: Response, status: Status): void {
  res.status(status.code).type('application/json').send(statusBody(status));
}

/** The media type without parameters, lower case (`application/json; charset=utf-8` → `application/json`). */
function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

async function readJson(req: Request, limit: number): Promise<unknown> {
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
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch (error) {
    throw new BadBody(failure('BadRequest', `the body is not valid JSON: ${(error as Error).message}`));
  }
}

type Decide = (request: AdmissionRequest, inputs: ReviewInputs) => AdmissionReviewResponse;

function reviewHandler(decide: Decide, lookups: ReviewLookups, limit: number) {
  return async (req: Request, res: Response): Promise<void> => {
    let body: unknown;
    try {
      body = await readJson(req, limit);
    } catch (error) {
      if (!(error instanceof BadBody)) throw error;
      // The rest of an oversized body is not read: close the connection after answering.
      if (error.status.code === 413) res.setHeader('connection', 'close');
      sendStatus(res, error.status);
      return;
    }
    const decoded = decodeReview(body);
    if ('status' in decoded) {
      sendStatus(res, decoded.status);
      return;
    }
    const { request } = decoded.review;
    let answer: AdmissionReviewResponse;
    try {
      answer = decide(request, await reviewInputs(request, lookups));
    } catch (error) {
      // A lookup or an unexpected failure refuses the request: never allowed unchecked.
      answer = errored(request.uid, 500, `agentgate could not review this request: ${(error as Error).message}`);
    }
    res.status(200).json(answer);
  };
}

/** Starts the webhook server and resolves once it listens. */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const validation = options.validate ?? validateOptions(options.inject);
  const ready = options.ready ?? (() => true);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
  app.get('/readyz', (_req, res) => void (ready() ? res.type('text/plain').send('ok') : res.status(503).type('text/plain').send('not ready')));
  app.post('/mutate', reviewHandler((request, inputs) => mutateReview(request, options.inject, inputs), options.lookups, limit));
  app.post('/validate', reviewHandler((request, inputs) => validateReview(request, validation, inputs), options.lookups, limit));
  app.use((req, res) => sendStatus(res, failure('NotFound', `${req.method} ${req.path} is not served: use POST /mutate or POST /validate`)));

  const server = createServer({ cert: options.cert, key: options.key, minVersion: 'TLSv1.2' }, app);
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
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
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

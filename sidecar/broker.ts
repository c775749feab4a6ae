// The sidecar's client of the broker's v1 contract: HTTPS with the pod's projected broker token,
// `Agentgate-Contract: v1`, every call bounded in time, and answers checked against the contract.
import { readFile } from 'node:fs/promises';
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import https from 'node:https';
import { http } from './node-http.ts';
import { CONTRACT_HEADER, CONTRACT_VERSION, parseBrokerError, type BrokerError, type Result } from '../src/contracts/index.ts';

/** Why a broker call failed: the sidecar turns each into a 503 that says which. */
export type BrokerFailure =
  | { kind: 'unavailable'; detail: string }
  | { kind: 'timeout'; detail: string }
  | { kind: 'refused'; status: number; error: BrokerError | undefined; detail: string };

/** The answer of a broker call. */
export type BrokerAnswer<T> = { ok: true; value: T } | ({ ok: false } & BrokerFailure);

/** How the sidecar reaches its broker. */
export interface BrokerClientOptions {
  /** https:// (http:// only on loopback, for the one-machine demo). */
  url: string;
  /** CA bundle that signs the broker's certificate; default the system's. */
  ca?: string | Buffer;
  /** The projected token (audience agentgate-broker); re-read as the kubelet rotates it. */
  tokenPath: string;
  /** Bound on each call; default 2 s. */
  timeoutMs?: number;
}

/** Long enough to spare the disk, short enough to pick up the kubelet's rotation (at 80% of the TTL). */
const TOKEN_REREAD_MS = 30_000;
const MAX_ANSWER_BYTES = 1024 * 1024;

/** A broker client. */
export class BrokerClient {
  readonly #base: URL;
  readonly #agent: HttpAgent;
  readonly #request: typeof http.request;
  readonly #tokenPath: string;
  readonly timeoutMs: number;
  #token: { value: string; readAt: number } | undefined;

  constructor(options: BrokerClientOptions) {
    this.#base = new URL(options.url);
    const secure = this.#base.protocol === 'https:';
    // Keep-alive: a decision on a cold connection would pay a TLS handshake on the agent's hot path.
    this.#agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 16, ...(options.ca ? { ca: options.ca } : {}) }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.#request = secure ? https.request : http.request;
    this.#tokenPath = options.tokenPath;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  async #bearer(): Promise<string> {
    const now = Date.now();
    if (this.#token === undefined || now - this.#token.readAt > TOKEN_REREAD_MS) {
      this.#token = { value: (await readFile(this.#tokenPath, 'utf8')).trim(), readAt: now };
    }
    return this.#token.value;
  }

  /** Opens a request; resolves with the response head, or a failure. */
  async #open(method: string, path: string, body: string | undefined, signal: AbortSignal): Promise<{ ok: true; res: IncomingMessage } | ({ ok: false } & BrokerFailure)> {
    let token: string;
    try {
      token = await this.#bearer();
    } catch (error) {
      return { ok: false, kind: 'unavailable', detail: `the broker token could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    const url = new URL(path, this.#base);
    return new Promise((resolve) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, [CONTRACT_HEADER]: CONTRACT_VERSION, accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const req = this.#request(url, { method, agent: this.#agent, headers, signal }, (res) => resolve({ ok: true, res }));
      req.on('error', (error: Error) => {
        if (signal.aborted) resolve({ ok: false, kind: 'timeout', detail: `no answer within ${this.timeoutMs} ms` });
        else resolve({ ok: false, kind: 'unavailable', detail: (error as NodeJS.ErrnoException).code ?? error.message });
      });
      req.end(body);
    });
  }

  /** POSTs a message and parses the answer with `parse`; never throws. */
  async post<T>(path: string, message: unknown, parse: (value: unknown) => Result<T>, timeoutMs: number = this.timeoutMs): Promise<BrokerAnswer<T>> {
    const signal = AbortSignal.timeout(timeoutMs);
    const opened = await this.#open('POST', path, JSON.stringify(message), signal);
    if (!opened.ok) return opened;
    const { res } = opened;
    let text: string;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) throw new Error('the answer is too large');
        chunks.push(chunk);
      }
      text = Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      res.destroy();
      return signal.aborted ? { ok: false, kind: 'timeout', detail: `no answer within ${timeoutMs} ms` } : { ok: false, kind: 'unavailable', detail: (error as Error).message };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const parsed = parseBrokerError(json);
      const error = parsed.ok ? parsed.value : undefined;
      return { ok: false, kind: 'refused', status, error, detail: error ? `${error.code}: ${error.message}` : `HTTP ${status}` };
    }
    const parsed = parse(json);
    if (!parsed.ok) return { ok: false, kind: 'refused', status, error: undefined, detail: `the answer does not match the contract (${parsed.errors.map((e) => `${e.path} ${e.message}`).join('; ').slice(0, 300)})` };
    return { ok: true, value: parsed.value };
  }

  /** Opens `GET path` as a stream; `signal` ends it. The caller reads and destroys the response. */
  async stream(path: string, signal: AbortSignal): Promise<{ ok: true; res: IncomingMessage } | ({ ok: false } & BrokerFailure)> {
    const opened = await this.#open('GET', path, undefined, signal);
    if (!opened.ok) return opened;
    const status = opened.res.statusCode ?? 0;
    if (status !== 200) {
      opened.res.resume();
      return { ok: false, kind: 'refused', status, error: undefined, detail: `HTTP ${status}` };
    }
    return opened;
  }

  /** Closes idle connections. */
  close(): void {
    this.#agent.destroy();
  }
}

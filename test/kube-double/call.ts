/**
 * A raw HTTPS client for the API double's tests: one request with a token, media types and body,
 * answering status, headers and body as the server wrote them.
 */
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';

/** One answer. */
export interface CallResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown> & { metadata?: Record<string, unknown>; items?: Array<Record<string, unknown>> };
}

/** Options of {@link call}. */
export interface CallOptions {
  body?: unknown;
  /** Default application/json when there is a body. */
  contentType?: string;
  accept?: string;
  /** Default the admin token; null sends no Authorization header. */
  token?: string | null;
}

/** Sends one request to the double and reads the whole answer. */
export function call(api: KubeApiServer, method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
  const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? api.adminToken : opts.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (body) {
    headers['Content-Type'] = opts.contentType ?? 'application/json';
    headers['Content-Length'] = String(body.length);
  }
  if (opts.accept) headers.Accept = opts.accept;
  return new Promise((resolve, reject) => {
    const req = https.request(`${api.url}${path}`, { method, headers, ca: api.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: CallResult['json'] = {};
        try {
          json = JSON.parse(text) as CallResult['json'];
        } catch {
          // not JSON: tests look at text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A watch stream: collects JSON lines until stopped. */
export interface WatchStream {
  events: Array<{ type: string; object: Record<string, unknown> & { metadata?: Record<string, unknown> } }>;
  /** Resolves once `predicate` holds for the events so far, or rejects at the deadline. */
  until(predicate: (events: WatchStream['events']) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  status: Promise<number>;
  stop(): void;
}

/** Opens a watch (GET with the query already on the path). */
export function openWatch(api: KubeApiServer, path: string, accept?: string): WatchStream {
  const events: WatchStream['events'] = [];
  const waiters = new Set<() => void>();
  let resolveStatus: (s: number) => void = () => undefined;
  let resolveEnded: () => void = () => undefined;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const ended = new Promise<void>((r) => (resolveEnded = r));
  const headers: Record<string, string> = { Authorization: `Bearer ${api.adminToken}` };
  if (accept) headers.Accept = accept;
  const req = https.request(`${api.url}${path}`, { headers, ca: api.caPem }, (res) => {
    resolveStatus(res.statusCode ?? 0);
    let buffer = '';
    res.on('data', (c: Buffer) => {
      buffer += c.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buffer.slice(0, nl)) as WatchStream['events'][number]);
        buffer = buffer.slice(nl + 1);
      }
      for (const w of waiters) w();
    });
    res.on('end', () => resolveEnded());
    res.on('close', () => resolveEnded());
  });
  req.on('error', () => resolveEnded());
  req.end();
  return {
    events, ended, status,
    until: (predicate, timeoutMs = 5000) => new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate(events)) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`watch condition not met in ${timeoutMs} ms; events: ${JSON.stringify(events.map((e) => [e.type, e.object.metadata?.name]))}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    }),
    stop: () => req.destroy(),
  };
}

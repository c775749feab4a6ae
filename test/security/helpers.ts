// What the attack tests share: a sidecar in front of a recording upstream under one wide grant (so
// every request the sidecar lets through reaches upstream and can be compared), raw TLS exchanges
// for bytes a well-behaved client would never send, and a reference of the API server's request
// attributes (requestinfo.go, transcribed from its documented algorithm) to compare against.
import { connect } from 'node:tls';
import { envNameOf } from '../../src/config/index.ts';
import { GRANT_TOKEN, startWorld, type World, type WorldOptions } from '../sidecar/harness.ts';
import { startScriptedUpstream, type ScriptedUpstream } from '../sidecar/upstream.ts';

/** A sidecar whose upstream records what it received. */
export interface Gate {
  world: World;
  upstream: ScriptedUpstream;
  token: string;
  /** Sends raw bytes over TLS to the sidecar; resolves with what came back once the server closes. */
  raw(bytes: string | Buffer): Promise<RawAnswer>;
  close(): Promise<void>;
}

/** What a raw exchange produced. */
export interface RawAnswer {
  /** The response bytes as latin1 text ('' when the server closed without answering). */
  text: string;
  /** The HTTP status of the first response, 0 when there was none. */
  status: number;
}

/** The grant id every request runs under (not `all`: the contract reserves it). */
export const WIDE_GRANT = 'g-wide';

/**
 * Starts a sidecar in front of a scripted upstream, with one grant that allows everything
 * everywhere: the scope check never stops a request, so only the attack's own effect is measured.
 */
export async function startGate(options: Omit<WorldOptions, 'upstreamUrl'> = {}): Promise<Gate> {
  const upstream = await startScriptedUpstream();
  // No decision cache: every request is asked about, so the broker's record shows what each was decided as.
  const world = await startWorld({ ...options, upstreamUrl: upstream.url, env: { [envNameOf('sidecar.decisionCache.ttl')]: '0s', ...options.env } });
  world.broker.addGrant({ id: WIDE_GRANT, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }], namespaces: ['*'], token: GRANT_TOKEN });
  world.broker.table.push({ name: 'everything', when: () => true, outcome: 'allow', grantId: WIDE_GRANT });
  const token = await world.token();
  return {
    world, upstream, token,
    raw: (bytes) => rawExchange(world.sidecar.apiPort, world.sidecar.caPem, bytes),
    async close() {
      await world.close();
      await upstream.close();
    },
  };
}

/**
 * Writes `bytes` on a fresh TLS connection and collects the answer until the server closes it.
 * Requests must ask for `Connection: close`; a server that keeps the socket open past the
 * deadline fails the exchange instead of hanging the test.
 */
export function rawExchange(port: number, ca: string, bytes: string | Buffer, deadlineMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the sidecar kept the connection open past ${deadlineMs} ms; answer so far: ${text.slice(0, 200)}`));
    }, deadlineMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    // A reset after the answer is still an answer: the server closed on its side.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: status ? Number(status[1]) : 0 });
    });
  });
}

/** The JSON body of a raw answer (the text after the head), parsed. */
export function rawBody(answer: RawAnswer): Record<string, unknown> {
  const start = answer.text.indexOf('\r\n\r\n');
  return JSON.parse(answer.text.slice(start + 4)) as Record<string, unknown>;
}

/** The stable reason code of a Status: its first cause. */
export function causeOf(status: unknown): string {
  const details = (status as { details?: { causes?: Array<{ reason?: string }> } }).details;
  return details?.causes?.[0]?.reason ?? '';
}

/** The request attributes the API server would compute, in the contract's field names. */
export interface ServerAttributes {
  isResourceRequest: boolean;
  path: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/** Go's url unescape in path mode: `%XX` to bytes, `+` kept; undefined on a bad escape (Go answers 400). */
function goPathUnescape(raw: string): string | undefined {
  const bytes: number[] = [];
  const source = Buffer.from(raw, 'latin1');
  for (let i = 0; i < source.length; i++) {
    const byte = source[i] as number;
    if (byte === 0x25) {
      const hex = source.subarray(i + 1, i + 3).toString('latin1');
      if (!HEX.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(byte);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Go's url.ParseQuery: pairs with `;` or a bad escape are dropped; values in order. */
function goParseQuery(raw: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pair of raw.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const key = goPathUnescape((eq === -1 ? pair : pair.slice(0, eq)).replaceAll('+', ' '));
    const value = goPathUnescape(eq === -1 ? '' : pair.slice(eq + 1).replaceAll('+', ' '));
    if (key === undefined || value === undefined) continue;
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

/** fields.ParseSelector then RequiresExactMatch("metadata.name"); throws where the API server answers 400. */
function goSelectorName(selector: string): string | undefined {
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < selector.length; i++) {
    if (escaped) escaped = false;
    else if (selector[i] === '\\') escaped = true;
    else if (selector[i] === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  // The API server sorts the terms before building the selector: the first exact match after sorting wins.
  terms.sort();
  let name: string | undefined;
  for (const term of terms) {
    if (term === '') continue;
    let split: [string, string, string] | undefined;
    for (let i = 0; i < term.length && !split; i++) {
      for (const op of ['!=', '==', '=']) {
        if (term.startsWith(op, i)) {
          split = [term.slice(0, i), op, term.slice(i + op.length)];
          break;
        }
      }
    }
    if (!split) throw new Error(`can't understand ${term}`);
    const [field, op, rhs] = split;
    let value = '';
    for (let i = 0; i < rhs.length; i++) {
      const ch = rhs[i] as string;
      if (ch === '\\') {
        const next = rhs[i + 1];
        if (next !== '\\' && next !== ',' && next !== '=') throw new Error('bad escape');
        value += next;
        i++;
      } else if (ch === ',' || ch === '=') {
        throw new Error('unescaped');
      } else {
        value += ch;
      }
    }
    if (name === undefined && op !== '!=' && field === 'metadata.name') name = value;
  }
  return name;
}

/**
 * The attributes the API server's RequestInfoFactory gives `method` on `target` (as received by
 * the upstream), transcribed step by step from requestinfo.go; undefined where it answers 400.
 */
export function serverAttributes(method: string, target: string): ServerAttributes | undefined {
  const q = target.indexOf('?');
  const path = goPathUnescape(q === -1 ? target : target.slice(0, q));
  if (path === undefined) return undefined;
  const query = goParseQuery(q === -1 ? '' : target.slice(q + 1));
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  let parts = trimmed === '' ? [] : trimmed.split('/');
  const nonResource = (): ServerAttributes => ({ isResourceRequest: false, path, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' });
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return nonResource();
  const info: ServerAttributes = { isResourceRequest: true, path, verb: '', apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
  const prefix = parts[0];
  parts = parts.slice(1);
  if (prefix === 'apis') {
    if (parts.length < 3) return nonResource();
    info.apiGroup = parts[0] as string;
    parts = parts.slice(1);
  }
  info.apiVersion = parts[0] as string;
  parts = parts.slice(1);
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) return undefined;
    info.verb = parts[0];
    parts = parts.slice(1);
  } else {
    info.verb = ({ POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method] ?? '';
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1] as string;
      if (parts.length > 2 && parts[2] !== 'status' && parts[2] !== 'finalize') parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2] as string;
  if (parts.length >= 2) info.name = parts[1] as string;
  if (parts.length >= 1) info.resource = parts[0] as string;
  if (info.name === '' && info.verb === 'get') {
    const watchValue = query.get('watch')?.[0];
    info.verb = watchValue !== undefined && watchValue !== '0' && watchValue.toLowerCase() !== 'false' ? 'watch' : 'list';
    const selector = query.get('fieldSelector')?.[0];
    if (selector !== undefined) {
      let name: string | undefined;
      try {
        name = goSelectorName(selector);
      } catch {
        name = undefined;
      }
      if (name !== undefined && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%')) info.name = name;
    }
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

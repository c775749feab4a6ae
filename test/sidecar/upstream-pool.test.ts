// The sidecar's own HTTP/1.1 client to the API server: the answer parser on byte strings (each
// fed whole, byte by byte and in every two-piece split), then the pool against raw TLS servers
// that answer exactly the bytes a row gives (keep-alive, retries, timeouts, queueing, abandonment).
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import test from 'ava';
import { AnswerParser, type AnswerHead } from '../../sidecar/http1-answer.ts';
import { Upstream } from '../../sidecar/forward.ts';
import { SILENT, UpstreamPool, type ExchangeHandlers, type UpstreamCall } from '../../sidecar/upstream-pool.ts';

const tls = new URL('../fixtures/tls/', import.meta.url);
const ca = readFileSync(new URL('ca.crt', tls));
const otherCa = readFileSync(new URL('other-ca.crt', tls));
const cert = readFileSync(new URL('server.crt', tls));
const key = readFileSync(new URL('server.key', tls));

interface Parsed {
  heads: AnswerHead[];
  body: string;
  ended: boolean;
  error?: string;
  extra: number;
}

function parse(pieces: Buffer[], options: { head?: boolean; eof?: boolean; maxHead?: number } = {}): Parsed {
  const out: Parsed = { heads: [], body: '', ended: false, extra: 0 };
  const parser = new AnswerParser({
    head: (h) => out.heads.push(h),
    data: (c) => (out.body += c.toString('latin1')),
    end: () => (out.ended = true),
  }, options.head ?? false, options.maxHead);
  try {
    for (const piece of pieces) parser.push(piece);
    if (options.eof === true) parser.eof();
  } catch (error) {
    out.error = (error as Error).message;
  }
  out.extra = parser.extra;
  return out;
}

/** Every way of feeding `raw`: whole, byte by byte, and each split in two. */
function feeds(raw: string): Array<{ how: string; pieces: Buffer[] }> {
  const bytes = Buffer.from(raw, 'latin1');
  const out = [{ how: 'whole', pieces: [bytes] }, { how: 'byte by byte', pieces: [...bytes].map((b) => Buffer.from([b])) }];
  for (let i = 1; i < bytes.length; i++) out.push({ how: `split at ${i}`, pieces: [bytes.subarray(0, i), bytes.subarray(i)] });
  return out;
}

const OK = 'HTTP/1.1 200 OK\r\n';

test('answer parser: bodies framed by length, chunks, the connection\'s end or nothing, however the bytes arrive', (t) => {
  const rows: Array<{ name: string; raw: string; head?: boolean; eof?: boolean; status: number; body: string; keepAlive: boolean; extra?: number; headers?: Record<string, unknown> }> = [
    { name: 'Content-Length body', raw: `${OK}Content-Type: application/json\r\nContent-Length: 14\r\n\r\n{"kind":"Pod"}`, status: 200, body: '{"kind":"Pod"}', keepAlive: true },
    { name: 'empty body by Content-Length: 0', raw: `${OK}Content-Length: 0\r\n\r\n`, status: 200, body: '', keepAlive: true },
    { name: 'chunked, with an extension and a trailer', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n`, status: 200, body: 'hello world', keepAlive: true },
    { name: 'chunked, upper-case hex sizes and TE in another case', raw: `${OK}transfer-encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n`, status: 200, body: '0123456789', keepAlive: true },
    { name: 'close-delimited body (no length, not chunked) ends at the connection\'s end', raw: `${OK}Content-Type: text/plain\r\n\r\nline 1\nline 2\n`, eof: true, status: 200, body: 'line 1\nline 2\n', keepAlive: false },
    { name: 'HEAD answer: a Content-Length but no body', raw: `${OK}Content-Length: 1234\r\n\r\n`, head: true, status: 200, body: '', keepAlive: true },
    { name: '204 has no body', raw: 'HTTP/1.1 204 No Content\r\n\r\n', status: 204, body: '', keepAlive: true },
    { name: '304 has no body even with a length', raw: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', status: 304, body: '', keepAlive: true },
    { name: '100 Continue before the answer is skipped', raw: `HTTP/1.1 100 Continue\r\n\r\n${OK}Content-Length: 2\r\n\r\nok`, status: 200, body: 'ok', keepAlive: true },
    { name: '103 Early Hints before the answer is skipped', raw: `HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${OK}Content-Length: 2\r\n\r\nok`, status: 200, body: 'ok', keepAlive: true },
    { name: 'Connection: close ends reuse', raw: `${OK}Connection: close\r\nContent-Length: 2\r\n\r\nok`, status: 200, body: 'ok', keepAlive: false },
    { name: 'HTTP/1.0 is not reused', raw: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', status: 200, body: 'ok', keepAlive: false },
    { name: 'a reason phrase may be empty', raw: 'HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n', status: 404, body: '', keepAlive: true },
    { name: 'the same Content-Length twice is one length', raw: `${OK}Content-Length: 2\r\nContent-Length: 2\r\n\r\nok`, status: 200, body: 'ok', keepAlive: true },
    { name: 'bytes after the answer are counted (the connection is not reused)', raw: `${OK}Content-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n`, status: 200, body: 'ok', keepAlive: true, extra: 17 },
    // framing a lenient or careless reader would get wrong (the rest would be read as the next answer)
    { name: '204 with Transfer-Encoding: chunked still has no body', raw: 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n', status: 204, body: '', keepAlive: true },
    { name: 'HEAD answer with Transfer-Encoding: chunked has no body', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n`, head: true, status: 200, body: '', keepAlive: true },
    { name: 'a 1xx answer\'s Content-Length is not the final answer\'s', raw: `HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n${OK}Content-Length: 2\r\n\r\nok`, status: 200, body: 'ok', keepAlive: true },
    { name: 'trailers cannot add framing or fields to the head', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nContent-Length: 100\r\nX-Late: 1\r\n\r\n`, status: 200, body: 'ok', keepAlive: true, headers: { 'content-length': undefined, 'x-late': undefined } },
    { name: 'a chunk extension with a quoted string, after optional whitespace', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n2 ;a="x;y"\r\nok\r\n0;last\r\n\r\n`, status: 200, body: 'ok', keepAlive: true },
    { name: 'two interim answers before the final one', raw: `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${OK}Content-Length: 2\r\n\r\nok`, status: 200, body: 'ok', keepAlive: true },
    // reuse
    { name: 'Connection: close in a list and in another case ends reuse', raw: `${OK}Connection: keep-alive, CLOSE\r\nContent-Length: 2\r\n\r\nok`, status: 200, body: 'ok', keepAlive: false },
    { name: 'HTTP/1.0 is not reused even when it asks to keep alive', raw: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', status: 200, body: 'ok', keepAlive: false },
    // fields
    { name: 'fields named like Object.prototype members are fields like any other', raw: `${OK}Constructor: x\r\n__proto__: y\r\nToString: z\r\nContent-Length: 0\r\n\r\n`, status: 200, body: '', keepAlive: true, headers: { constructor: 'x', __proto__: 'y', tostring: 'z' } },
    { name: 'only SP and HTAB are trimmed around a value (obs-text is kept)', raw: `${OK}X-A: \t\u00a0a b\u00a0 \t\r\nContent-Length: 0\r\n\r\n`, status: 200, body: '', keepAlive: true, headers: { 'x-a': '\u00a0a b\u00a0' } },
    { name: 'repeated fields joined, Set-Cookie kept apart, names lower-cased', raw: `${OK}Warning: 299 - "a"\r\nwarning: 299 - "b"\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n`, status: 200, body: '', keepAlive: true, headers: { warning: '299 - "a", 299 - "b"', 'set-cookie': ['a=1', 'b=2'] } },
  ];
  for (const row of rows) {
    for (const { how, pieces } of feeds(row.raw)) {
      const got = parse(pieces, { ...(row.head !== undefined ? { head: row.head } : {}), ...(row.eof !== undefined ? { eof: row.eof } : {}) });
      const label = `${row.name} (${how})`;
      t.is(got.error, undefined, label);
      t.is(got.heads.length, 1, label);
      t.is(got.heads[0]?.status, row.status, label);
      t.is(got.heads[0]?.keepAlive, row.keepAlive, label);
      t.is(got.body, row.body, label);
      t.true(got.ended, label);
      // Bytes after the answer are counted in the read that ended it (later reads meet an idle connection).
      if (row.extra === undefined) t.is(got.extra, 0, label);
      else if (how === 'whole') t.is(got.extra, row.extra, label);
      if (row.headers !== undefined) {
        const headers = got.heads[0]?.headers ?? {};
        for (const [name, value] of Object.entries(row.headers)) t.deepEqual(Object.hasOwn(headers, name) ? headers[name] : undefined, value, `${label}: ${name}`);
        t.true([null, Object.prototype].includes(Object.getPrototypeOf(headers) as object | null), `${label}: the headers' prototype is untouched`);
      }
    }
  }
});

test('answer parser: a malformed answer is an error that says what is wrong, however the bytes arrive', (t) => {
  // `whole`: a long row is fed whole and byte by byte only (every split would cost seconds).
  const rows: Array<{ name: string; raw: string; eof?: boolean; error: RegExp; maxHead?: number; whole?: boolean }> = [
    // the status line
    { name: 'HTTP/2 status line', raw: 'HTTP/2.0 200 OK\r\n\r\n', error: /status line is not HTTP\/1\.x/ },
    { name: 'two-digit status', raw: 'HTTP/1.1 20 OK\r\n\r\n', error: /status line/ },
    { name: 'not HTTP at all (a TLS alert, protobuf)', raw: 'k8s\u0000\n\u000fv1\u0012\u0006Secret\r\n\r\n', error: /status line/ },
    { name: '101 Switching Protocols (never asked for)', raw: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', error: /switches protocols/ },
    // field lines
    { name: 'obs-fold (a line that starts with a space)', raw: `${OK}X-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n`, error: /field line 2 is not/ },
    { name: 'whitespace before the colon', raw: `${OK}Content-Length : 2\r\n\r\nok`, error: /field line 1 is not/ },
    { name: 'a line without a colon', raw: `${OK}garbage\r\n\r\n`, error: /field line 1 is not/ },
    { name: 'NUL in a value', raw: `${OK}X-A: a\u0000b\r\nContent-Length: 0\r\n\r\n`, error: /control character/ },
    { name: 'bare LF inside the head', raw: `${OK}X-A: a\nContent-Length: 0\r\n\r\n`, error: /control character/ },
    { name: 'a head over the bound', raw: `${OK}X-A: ${'a'.repeat(200)}\r\n\r\n`, maxHead: 100, error: /head is larger than 100 bytes/ },
    { name: 'a flood of 1xx answers counts against the head\'s bound', raw: `${'HTTP/1.1 103 Early Hints\r\n\r\n'.repeat(8)}${OK}Content-Length: 0\r\n\r\n`, maxHead: 100, error: /interim \(1xx\) answers before it are larger than 100 bytes/ },
    { name: 'a bare LF at the end of a value', raw: `${OK}Content-Length: 2\n\r\n\r\nok`, error: /control character/ },
    { name: 'a bare CR at the end of a value', raw: `${OK}Content-Length: 2\r\r\n\r\nok`, error: /control character/ },
    { name: 'a vertical tab or form feed around a Content-Length', raw: `${OK}Content-Length: \u000b2\u000c\r\n\r\nok`, error: /control character/ },
    { name: 'a bare CR in a field name', raw: `${OK}X\rA: 1\r\nContent-Length: 0\r\n\r\n`, error: /field line 1 is not/ },
    { name: 'a bare LF ends the head (never accepted as its end)', raw: `${OK}Content-Length: 0\n\nHTTP/1.1 200 OK\r\n\r\n`, error: /control character/ },
    // framing
    { name: 'Transfer-Encoding and Content-Length both', raw: `${OK}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, error: /both Transfer-Encoding and Content-Length/ },
    { name: 'a coding other than chunked', raw: `${OK}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, error: /Transfer-Encoding gzip, chunked/ },
    { name: 'chunked twice', raw: `${OK}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, error: /Transfer-Encoding chunked, chunked/ },
    { name: 'a Content-Length that is not digits', raw: `${OK}Content-Length: 12a\r\n\r\n`, error: /Content-Length 12a/ },
    { name: 'a negative Content-Length', raw: `${OK}Content-Length: -1\r\n\r\n`, error: /Content-Length -1/ },
    { name: 'two different Content-Lengths', raw: `${OK}Content-Length: 2\r\nContent-Length: 3\r\n\r\nok`, error: /two different Content-Length/ },
    { name: 'a chunk size that is not hexadecimal', raw: `${OK}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, error: /not hexadecimal/ },
    { name: 'a chunk size line ending in a bare LF', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, error: /bare LF/ },
    { name: 'a chunk longer than its size', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n`, error: /chunk does not end where its size says|chunk line is too long/ },
    { name: 'a huge chunk size', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n${'f'.repeat(20)}\r\n`, error: /not hexadecimal/ },
    { name: 'a chunk size of 13 hex digits', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n1000000000005\r\n`, error: /not hexadecimal/ },
    { name: 'a chunk size past 32 bits is not cut to its low bits', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n100000005\r\nhello\r\n0\r\n\r\n`, eof: true, error: /closed before the answer's end/ },
    { name: 'a bare CR inside a chunk extension', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n2;a\rb\r\nok\r\n0\r\n\r\n`, error: /not hexadecimal/ },
    { name: 'a chunk size with whitespace before it', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n 2\r\nok\r\n0\r\n\r\n`, error: /not hexadecimal/ },
    { name: 'a chunk size line over the bound', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n2;${'x'.repeat(5000)}\r\nok\r\n0\r\n\r\n`, error: /chunk line is too long/, whole: true },
    { name: 'trailers over the bound', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n0\r\n${'X-T: 1\r\n'.repeat(3000)}\r\n`, error: /trailers are too long/, whole: true },
    { name: 'a malformed trailer', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n`, error: /trailer field is malformed/ },
    // cut short
    { name: 'the connection closes before any answer', raw: '', eof: true, error: /closed before an answer/ },
    { name: 'the connection closes inside the head', raw: `${OK}Content-Le`, eof: true, error: /closed before the answer's end/ },
    { name: 'the connection closes inside a Content-Length body', raw: `${OK}Content-Length: 10\r\n\r\nshort`, eof: true, error: /closed before the answer's end/ },
    { name: 'the connection closes inside a chunk', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n10\r\nshort`, eof: true, error: /closed before the answer's end/ },
    { name: 'the connection closes before the last chunk', raw: `${OK}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n`, eof: true, error: /closed before the answer's end/ },
  ];
  for (const row of rows) {
    const pieces = row.raw === '' ? [{ how: 'nothing', pieces: [] }] : feeds(row.raw).slice(0, row.whole === true ? 2 : undefined);
    for (const { how, pieces: feed } of pieces) {
      const got = parse(feed, { ...(row.eof !== undefined ? { eof: row.eof } : {}), ...(row.maxHead !== undefined ? { maxHead: row.maxHead } : {}) });
      t.regex(got.error ?? '(no error)', row.error, `${row.name} (${how})`);
      t.regex(got.error ?? '', /^the API server's answer is malformed: /, `${row.name} (${how})`);
      t.false(got.ended, `${row.name} (${how}): never a short success`);
    }
  }
});

test('answer parser: a callback that stops the parser gets no further callbacks', (t) => {
  const seen: string[] = [];
  const parser: AnswerParser = new AnswerParser({
    head: () => {
      seen.push('head');
      parser.stop();
    },
    data: () => seen.push('data'),
    end: () => seen.push('end'),
  }, false);
  parser.push(Buffer.from(`${OK}Content-Length: 2\r\n\r\nok`));
  t.deepEqual(seen, ['head']);
});

// The pool against raw TLS servers.

type Script = (socket: TLSSocket, request: string, index: number) => void;

/** A TLS server that hands each complete request head (and the connection's count) to `script`. */
async function rawServer(script: Script, host = '127.0.0.1'): Promise<{ port: number; connections: () => number; names: Array<string | false>; close: () => Promise<void> }> {
  let connections = 0;
  /** The SNI each connection sent (false for none). */
  const names: Array<string | false> = [];
  let index = 0;
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert, key }, (socket) => {
    connections++;
    names.push(socket.servername ?? false);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end + 4);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        script(socket, request, index++);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    names,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface Outcome {
  status?: number;
  body: string;
  error?: NodeJS.ErrnoException;
}

function call(pool: UpstreamPool, request: Partial<UpstreamCall> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '' };
    pool.request({ method: 'GET', path: '/api/v1/namespaces/default/pods', headers: { accept: 'application/json' }, timeoutMs: 5000, ...request }, {
      head: (head) => (out.status = head.status),
      data: (chunk) => (out.body += chunk.toString('utf8')),
      end: () => resolve(out),
      error: (error) => resolve({ ...out, error }),
    });
  });
}

/** Waits for `condition` with a deadline (no fixed sleeps). */
async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const answer = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('pool: answers come back whole and a kept-alive connection carries the next request', async (t) => {
  const requests: string[] = [];
  const server = await rawServer((socket, request, i) => {
    requests.push(request);
    socket.write(i === 0 ? `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n` : answer(`{"n":${i}}`));
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  t.deepEqual(await call(pool), { status: 200, body: '{"a":1}' });
  t.deepEqual(await call(pool, { method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers: { 'content-type': 'application/json', 'content-length': 2 }, body: Buffer.from('{}') }), { status: 200, body: '{"n":1}' });
  t.deepEqual(await call(pool, { method: 'PUT', path: '/api/v1/namespaces/default/configmaps/a', headers: {}, body: Buffer.from('{"a":1}') }), { status: 200, body: '{"n":2}' });
  t.is(server.connections(), 1, 'one connection carried all three');
  t.is(requests[0], `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\naccept: application/json\r\n\r\n`);
  t.is(requests[1], `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`);
  t.is(requests[2], `PUT /api/v1/namespaces/default/configmaps/a HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\ncontent-length: 7\r\n\r\n{"a":1}`, 'a body is always framed by its length');
});

test('pool: a connection the answer closes, or that sent bytes after its answer, is not used again', async (t) => {
  const server = await rawServer((socket, _request, i) => {
    if (i === 0) socket.write(answer('{}', 'Connection: close\r\n'));
    else if (i === 1) socket.write(`${answer('{}')}HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"fake":1}`);
    else socket.write(answer('{"third":true}'));
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  t.is((await call(pool)).body, '{}');
  t.is((await call(pool)).body, '{}');
  t.is((await call(pool)).body, '{"third":true}', 'the forged second answer never reaches the third request');
  t.is(server.connections(), 3);
});

test('pool: a GET the server dropped on a kept-alive connection is sent again on a new one; a POST is not', async (t) => {
  const server = await rawServer((socket, _request, i) => {
    // The second request on the first connection meets a server that closed it as idle.
    if (i === 1 || i === 3) socket.destroy();
    else socket.write(answer(`{"n":${i}}`));
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  t.is((await call(pool)).body, '{"n":0}');
  t.deepEqual(await call(pool), { status: 200, body: '{"n":2}' }, 'retried once on a fresh connection');
  const post = await call(pool, { method: 'POST', headers: { 'content-length': 2 }, body: Buffer.from('{}') });
  t.is(post.error?.code, 'ECONNRESET', 'a write is never repeated');
  t.is(post.status, undefined);
});

test('pool: failures end the exchange with a code and nothing of the answer', async (t) => {
  const server = await rawServer((socket, request) => {
    if (request.includes('/silent')) return;
    if (request.includes('/cut')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial"');
    else if (request.includes('/malformed')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n');
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  const silent = await call(pool, { path: '/silent', timeoutMs: 200 });
  t.is(silent.error?.code, SILENT);
  const cut = await call(pool, { path: '/cut' });
  t.is(cut.error?.code, 'ECONNRESET');
  t.is(cut.error?.message, 'the API server closed the answer before its end');
  const malformed = await call(pool, { path: '/malformed' });
  t.is(malformed.error?.code, 'AGENTGATE_UPSTREAM_MALFORMED');
  t.regex(malformed.error?.message ?? '', /both Transfer-Encoding and Content-Length/);
  const refused = await call(new UpstreamPool({ host: '127.0.0.1', port: 1, servername: undefined, ca }));
  t.is(refused.error?.code, 'ECONNREFUSED');
  const wrongCa = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca: otherCa });
  const untrusted = await call(wrongCa);
  t.regex(untrusted.error?.code ?? '', /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
  const wrongName = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: 'api.elsewhere.example', ca });
  t.is((await call(wrongName)).error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  t.is(pool.openConnections, 0, 'every failed connection was closed');
});

test('pool: a path or header that would split the request is refused before anything is sent', async (t) => {
  let requests = 0;
  const server = await rawServer(() => requests++);
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  const rows: Array<{ name: string; request: Partial<UpstreamCall>; code: string }> = [
    { name: 'CRLF in a header value', request: { headers: { 'user-agent': 'kubectl\r\nImpersonate-User: admin' } }, code: 'ERR_INVALID_CHAR' },
    { name: 'NUL in a header value', request: { headers: { 'kubectl-command': 'a\u0000b' } }, code: 'ERR_INVALID_CHAR' },
    { name: 'a header name with a space', request: { headers: { 'bad name': 'x' } }, code: 'ERR_INVALID_HTTP_TOKEN' },
    { name: 'a space in the path', request: { path: '/api/v1/pods HTTP/1.1\r\nHost: evil' }, code: 'ERR_UNESCAPED_CHARACTERS' },
    { name: 'a path that is not absolute', request: { path: 'http://elsewhere/api' }, code: 'ERR_UNESCAPED_CHARACTERS' },
    { name: 'a method that is not a token', request: { method: 'GET /x' }, code: 'ERR_INVALID_HTTP_TOKEN' },
    { name: 'a CRLF in a method', request: { method: 'GET\r\nX' }, code: 'ERR_INVALID_HTTP_TOKEN' },
    { name: 'a tab in the path', request: { path: '/api\tv1' }, code: 'ERR_UNESCAPED_CHARACTERS' },
    // latin1 keeps a character's low byte only: U+010D U+010A would be written as CR LF
    { name: 'a character above U+00FF in a header value', request: { headers: { 'user-agent': 'kubectl\u010d\u010aImpersonate-User: admin' } }, code: 'ERR_INVALID_CHAR' },
    { name: 'a character above U+00FF in the path', request: { path: '/api/v1/pods\u010d\u010aHost: evil' }, code: 'ERR_UNESCAPED_CHARACTERS' },
    { name: 'a CRLF in one value of a list', request: { headers: { 'x-request-id': ['a', 'b\r\nX: y'] } }, code: 'ERR_INVALID_CHAR' },
    // the body's framing is the pool's: a wrong one would make the rest of the body a second request
    { name: 'a Content-Length longer than the body', request: { method: 'POST', headers: { 'content-length': 10 }, body: Buffer.from('{}') }, code: 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' },
    { name: 'a Content-Length shorter than the body (the rest would be a request)', request: { method: 'POST', headers: { 'Content-Length': 2 }, body: Buffer.from('{}GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n') }, code: 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' },
    { name: 'a Content-Length with no body', request: { headers: { 'content-length': '5' } }, code: 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' },
    { name: 'a Transfer-Encoding', request: { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: Buffer.from('0\r\n\r\n') }, code: 'ERR_INVALID_ARG_VALUE' },
    { name: 'a second Host, in another case', request: { headers: { HOST: 'elsewhere' } }, code: 'ERR_INVALID_ARG_VALUE' },
  ];
  for (const row of rows) t.is((await call(pool, row.request)).error?.code, row.code, row.name);
  t.is(requests, 0);
  t.is(server.connections(), 0);
});

test('pool: past maxSockets requests wait for a connection, within their bound; an abandoned exchange frees its connection', async (t) => {
  const held: TLSSocket[] = [];
  const server = await rawServer((socket, request) => {
    if (request.includes('/hold')) held.push(socket);
    else socket.write(answer('{"ok":true}'));
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca, maxSockets: 1 });
  t.teardown(() => pool.close());
  const first = pool.request({ method: 'GET', path: '/hold', headers: {}, timeoutMs: 0 }, { head: () => undefined, data: () => undefined, end: () => undefined, error: () => undefined });
  const waited = await call(pool, { timeoutMs: 200 });
  t.is(waited.error?.code, SILENT, 'no connection came free within the bound');
  const queued = call(pool);
  first.abort();
  t.deepEqual(await queued, { status: 200, body: '{"ok":true}' }, 'the abandoned exchange\'s slot went to the waiting one');
  t.is(pool.openConnections, 1);
  t.is(server.connections(), 2, 'the abandoned connection was closed, not reused');
});

test('pool: watches are counted apart from maxSockets, so open watches never starve other requests; past maxLongLived a watch waits', async (t) => {
  const held: TLSSocket[] = [];
  const server = await rawServer((socket, request) => {
    // A watch: the head and one event, then silence for as long as the client stays.
    if (request.includes('watch=1')) {
      held.push(socket);
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}\n  \r\n');
    } else {
      socket.write(answer('{"ok":true}'));
    }
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca, maxSockets: 1, maxLongLived: 2 });
  t.teardown(() => pool.close());
  const watch = (): Promise<{ exchange: ReturnType<UpstreamPool['request']>; headed: Promise<number | string> }> => {
    let exchange: ReturnType<UpstreamPool['request']> | undefined;
    const headed = new Promise<number | string>((resolve) => {
      exchange = pool.request({ method: 'GET', path: '/api/v1/pods?watch=1', headers: {}, timeoutMs: 0, headTimeoutMs: 300, longLived: true }, {
        head: (head) => resolve(head.status), data: () => undefined, end: () => undefined, error: (error) => resolve(error.code ?? 'error'),
      });
    });
    return Promise.resolve({ exchange: exchange as ReturnType<UpstreamPool['request']>, headed });
  };
  const first = await watch();
  const second = await watch();
  t.is(await first.headed, 200);
  t.is(await second.headed, 200);
  t.deepEqual(await call(pool, { timeoutMs: 1000 }), { status: 200, body: '{"ok":true}' }, 'an ordinary request is served beside two open watches (maxSockets 1)');
  const third = await watch();
  t.is(await third.headed, SILENT, 'a third watch waits for a long-lived slot, within its head bound');
  const fourth = await watch();
  first.exchange.abort();
  t.is(await fourth.headed, 200, 'an ended watch frees its slot for the next');
  t.deepEqual(await call(pool, { timeoutMs: 1000 }), { status: 200, body: '{"ok":true}' }, 'and ordinary requests still go');
  t.is(pool.openConnections, 3, 'two watches and one kept-alive connection');
});

test('pool: an ordinary request whose answer turns out streamed moves to the long-lived count, so it no longer holds an ordinary connection, while there is room', async (t) => {
  const server = await rawServer((socket, request) => {
    // An event stream: the head and one event, then silence for as long as the client stays.
    if (request.includes('/events')) socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ndata:\n\r\n');
    else socket.write(answer('{"ok":true}'));
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca, maxSockets: 1, maxLongLived: 1 });
  t.teardown(() => pool.close());
  const stream = (): Promise<ReturnType<UpstreamPool['request']>> => new Promise((resolve, reject) => {
    const exchange = pool.request({ method: 'GET', path: '/api/v1/namespaces/a/services/web:80/proxy/events', headers: {}, timeoutMs: 0 }, {
      head: () => resolve(exchange), data: () => undefined, end: () => undefined, error: reject,
    });
  });
  const first = await stream();
  t.is((await call(pool, { timeoutMs: 300 })).error?.code, SILENT, 'not marked: the stream holds the one ordinary connection');
  first.streaming();
  t.deepEqual(await call(pool, { timeoutMs: 1000 }), { status: 200, body: '{"ok":true}' }, 'marked: an ordinary request is served beside it');
  const second = await stream();
  second.streaming();
  t.is((await call(pool, { timeoutMs: 300 })).error?.code, SILENT, 'past maxLongLived a stream stays an ordinary one');
  first.abort();
  second.abort();
});

test('pool: a GET whose answer had begun is never sent again, even on a kept-alive connection', async (t) => {
  const rows: Array<{ name: string; second: (socket: TLSSocket) => void; code: string }> = [
    { name: 'part of a head, then the connection closes', second: (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-'), code: 'ECONNRESET' },
    { name: 'a 100 Continue, then the connection closes', second: (socket) => socket.end('HTTP/1.1 100 Continue\r\n\r\n'), code: 'ECONNRESET' },
    { name: 'a malformed head', second: (socket) => socket.write('HTTP/9 200 OK\r\n\r\n'), code: 'AGENTGATE_UPSTREAM_MALFORMED' },
  ];
  for (const row of rows) {
    let requests = 0;
    const server = await rawServer((socket, _request, i) => {
      requests++;
      if (i === 1) row.second(socket);
      else socket.write(answer(`{"n":${i}}`));
    });
    const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
    t.is((await call(pool)).body, '{"n":0}', row.name);
    const second = await call(pool);
    t.is(second.error?.code, row.code, row.name);
    t.is(requests, 2, `${row.name}: the server read the request once`);
    await until(() => pool.openConnections === 0, `${row.name}: the connection is closed`);
    pool.close();
    await server.close();
  }
});

test('pool: answers without a body (HEAD, 204, 304) leave the kept-alive connection at the next answer', async (t) => {
  const server = await rawServer((socket, request) => {
    if (request.startsWith('HEAD ')) socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n');
    else if (request.includes('/not-modified')) socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n');
    else if (request.includes('/no-content')) socket.write('HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n');
    else socket.write(answer('{"next":true}'));
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  const rows: Array<{ name: string; request: Partial<UpstreamCall>; status: number }> = [
    { name: 'HEAD with a Content-Length', request: { method: 'HEAD' }, status: 200 },
    { name: '304 with a Content-Length', request: { path: '/not-modified' }, status: 304 },
    { name: '204 with Transfer-Encoding: chunked', request: { path: '/no-content' }, status: 204 },
  ];
  for (const row of rows) {
    t.deepEqual(await call(pool, { ...row.request, timeoutMs: 1000 }), { status: row.status, body: '' }, row.name);
    t.deepEqual(await call(pool, { timeoutMs: 1000 }), { status: 200, body: '{"next":true}' }, `${row.name}: the next answer is the next request's`);
  }
  t.is(server.connections(), 1, 'one connection carried them all');
});

test('pool: bytes an idle connection receives retire it, so they never reach the next request', async (t) => {
  const server = await rawServer((socket, _request, i) => {
    if (i === 0) {
      socket.write(answer('{"first":true}'));
      // A forged answer, later: the sidecar sent no request it could answer.
      setTimeout(() => socket.write(answer('{"forged":true}')), 20);
    } else {
      socket.write(answer('{"second":true}'));
    }
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  t.is((await call(pool)).body, '{"first":true}');
  await until(() => pool.openConnections === 0, 'the idle connection that got bytes is closed');
  t.deepEqual(await call(pool), { status: 200, body: '{"second":true}' });
  t.is(server.connections(), 2);
});

test('pool: a paused exchange gets its whole answer once resumed, and its connection serves the next one flowing', async (t) => {
  const server = await rawServer((socket, request) => {
    if (request.includes('/halves')) {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a":');
      setTimeout(() => socket.write('12}'), 20);
    } else {
      socket.write(answer('{"whole":1}'));
    }
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  // Paused at the first bytes, resumed later: the rest arrives.
  const halves = await new Promise<Outcome>((resolve) => {
    const out: Outcome = { body: '' };
    const exchange = pool.request({ method: 'GET', path: '/halves', headers: {}, timeoutMs: 1000 }, {
      head: (head) => (out.status = head.status),
      data: (chunk) => {
        out.body += chunk.toString();
        exchange.pause();
        setTimeout(() => exchange.resume(), 50);
      },
      end: () => resolve(out),
      error: (error) => resolve({ ...out, error }),
    });
  });
  t.deepEqual(halves, { status: 200, body: '{"a":12}' });
  // Paused in the read that ended the answer, never resumed: the connection is released flowing.
  const paused = await new Promise<Outcome>((resolve) => {
    const out: Outcome = { body: '' };
    const exchange = pool.request({ method: 'GET', path: '/whole', headers: {}, timeoutMs: 1000 }, {
      head: () => undefined,
      data: (chunk) => {
        out.body += chunk.toString();
        exchange.pause();
      },
      end: () => resolve(out),
      error: (error) => resolve({ ...out, error }),
    });
  });
  t.is(paused.body, '{"whole":1}');
  t.deepEqual(await call(pool, { timeoutMs: 1000 }), { status: 200, body: '{"whole":1}' });
  t.is(server.connections(), 1);
});

test('pool: a paused exchange\'s silence bound waits while it is paused (the quiet is the caller\'s) and applies again once resumed', async (t) => {
  const server = await rawServer((socket, request) => {
    // Half the body at once; the rest only when asked for by a second request on another connection.
    if (request.includes('/half')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a":');
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.teardown(() => pool.close());
  const started = performance.now();
  const outcome = await new Promise<{ error?: NodeJS.ErrnoException; at: number }>((resolve) => {
    const exchange = pool.request({ method: 'GET', path: '/half', headers: {}, timeoutMs: 200 }, {
      head: () => undefined,
      data: () => {
        // Paused for five silence bounds: not cut meanwhile.
        exchange.pause();
        setTimeout(() => exchange.resume(), 1000);
      },
      end: () => resolve({ at: performance.now() - started }),
      error: (error) => resolve({ error, at: performance.now() - started }),
    });
  });
  // Resumed, the API server's silence counts again: cut one bound later.
  t.is(outcome.error?.code, SILENT);
  t.true(outcome.at >= 1000, `cut ${Math.round(outcome.at)} ms after the request, before it was resumed at 1000 ms`);
});

test('pool: an exchange hears head, data, then one end or one error, and nothing after; its connection is closed unless the answer ended clean', async (t) => {
  const server = await rawServer((socket, request) => {
    if (request.includes('/cut')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"');
    else if (request.includes('/bad-chunk')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n');
    else if (request.includes('/silent-body')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"');
    else if (request.includes('/trailing')) socket.write(`${answer('{}')}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}`);
    else socket.write(answer('{"ok":1}'));
  });
  t.teardown(() => server.close());
  const rows: Array<{ name: string; path: string; abortAt?: 'head' | 'data'; events: string[]; open: number }> = [
    { name: 'an answer cut short', path: '/cut', events: ['head', 'data', 'error:ECONNRESET'], open: 0 },
    { name: 'a malformed chunk after the head', path: '/bad-chunk', events: ['head', 'data', 'error:AGENTGATE_UPSTREAM_MALFORMED'], open: 0 },
    { name: 'silence inside the body', path: '/silent-body', events: ['head', 'data', `error:${SILENT}`], open: 0 },
    { name: 'bytes after the answer', path: '/trailing', events: ['head', 'data', 'end'], open: 0 },
    { name: 'abandoned in the head callback', path: '/ok', abortAt: 'head', events: ['head'], open: 0 },
    { name: 'abandoned in the data callback', path: '/cut', abortAt: 'data', events: ['head', 'data'], open: 0 },
    { name: 'a clean answer', path: '/ok', events: ['head', 'data', 'end'], open: 1 },
  ];
  for (const row of rows) {
    const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
    const events: string[] = [];
    let terminal!: () => void;
    const ended = new Promise<void>((resolve) => (terminal = resolve));
    const handlers: ExchangeHandlers = {
      head: () => {
        events.push('head');
        if (row.abortAt === 'head') exchange.abort();
      },
      data: () => {
        events.push('data');
        if (row.abortAt === 'data') exchange.abort();
      },
      end: () => {
        events.push('end');
        terminal();
      },
      error: (error) => {
        events.push(`error:${error.code ?? ''}`);
        terminal();
      },
    };
    const exchange = pool.request({ method: 'GET', path: row.path, headers: {}, timeoutMs: 200 }, handlers);
    if (row.abortAt === undefined) await ended;
    await until(() => pool.openConnections === row.open, `${row.name}: ${row.open} connection(s) open`);
    // Long enough for a late callback (the silence bound is 200 ms) to show.
    await new Promise((resolve) => setTimeout(resolve, 250));
    t.deepEqual(events, row.events, row.name);
    t.is(pool.openConnections, row.open, `${row.name}: open connections`);
    pool.close();
    await until(() => pool.openConnections === 0, `${row.name}: closed`);
  }
});

test('pool: once closed it opens nothing: a new call fails asynchronously, a call in flight fails and is not retried', async (t) => {
  let requests = 0;
  const server = await rawServer((socket, _request, i) => {
    requests++;
    // The second request meets a sidecar shutting down while the server drops the connection.
    if (i === 1) {
      pool.close();
      socket.destroy();
    } else {
      socket.write(answer('{}'));
    }
  });
  t.teardown(() => server.close());
  const pool = new UpstreamPool({ host: '127.0.0.1', port: server.port, servername: undefined, ca });
  t.is((await call(pool)).body, '{}');
  const inFlight = await call(pool);
  t.is(inFlight.error?.code, 'ECONNREFUSED');
  t.is(inFlight.error?.message, 'the sidecar is shutting down');
  await until(() => pool.openConnections === 0, 'every connection is closed');
  let returned = false;
  const late = new Promise<NodeJS.ErrnoException>((resolve) => {
    pool.request({ method: 'GET', path: '/api', headers: {}, timeoutMs: 1000 }, { head: () => undefined, data: () => undefined, end: () => undefined, error: (error) => resolve(Object.assign(error, { returned })) });
    returned = true;
  });
  const error = await late;
  t.is(error.code, 'ECONNREFUSED');
  t.true((error as NodeJS.ErrnoException & { returned: boolean }).returned, 'the error came after request() returned');
  t.is(requests, 2, 'the GET cut by the shutdown was not sent again');
  t.is(server.connections(), 1);
  t.is(pool.openConnections, 0);
});

test('pool: the API server\'s certificate is checked against the name for a DNS name and against the IP SANs for an IP address', async (t) => {
  // 127.0.0.2 is not among the certificate's SANs (localhost, 127.0.0.1, ::1, kubernetes.default.svc, kubernetes).
  const other = await rawServer((socket) => socket.write(answer('{}')), '127.0.0.2');
  t.teardown(() => other.close());
  const local = await rawServer((socket) => socket.write(answer('{}')));
  t.teardown(() => local.close());
  // `sni`: what the server saw (false: none), for the connections it accepted.
  const rows: Array<{ name: string; host: string; port: number; servername: string | undefined; code?: string; sni?: string | false; seen: () => Array<string | false> }> = [
    { name: 'an IP address in the IP SANs is accepted, with no SNI', host: '127.0.0.1', port: local.port, servername: undefined, sni: false, seen: () => local.names },
    { name: 'an IP address not in the IP SANs is refused', host: '127.0.0.2', port: other.port, servername: undefined, code: 'ERR_TLS_CERT_ALTNAME_INVALID', seen: () => other.names },
    { name: 'a DNS name in the SANs is accepted, sent as SNI', host: '127.0.0.2', port: other.port, servername: 'kubernetes.default.svc', sni: 'kubernetes.default.svc', seen: () => other.names },
    { name: 'a look-alike DNS name is refused', host: '127.0.0.2', port: other.port, servername: 'kubernetes.default.svc.evil.example', code: 'ERR_TLS_CERT_ALTNAME_INVALID', seen: () => other.names },
  ];
  for (const row of rows) {
    const pool = new UpstreamPool({ host: row.host, port: row.port, servername: row.servername, ca });
    const got = await call(pool);
    pool.close();
    t.is(got.error?.code, row.code, row.name);
    if (row.code === undefined) {
      t.is(got.body, '{}', row.name);
      t.is(row.seen().at(-1), row.sni, `${row.name}: SNI`);
    }
  }
  // How forward.ts's Upstream derives the name from the URL.
  const upstreams: Array<{ url: string; host: string; servername: string | undefined }> = [
    { url: 'https://kubernetes.default.svc:6443', host: 'kubernetes.default.svc', servername: 'kubernetes.default.svc' },
    { url: 'https://10.96.0.1', host: '10.96.0.1', servername: undefined },
    { url: 'https://[fd00::1]:6443', host: 'fd00::1', servername: undefined },
  ];
  for (const row of upstreams) {
    const upstream = new Upstream({ url: row.url, ca });
    t.deepEqual({ host: upstream.host, servername: upstream.servername }, { host: row.host, servername: row.servername }, row.url);
    upstream.close();
  }
});

// Exhausting the sidecar so that it fails open: slow heads (slowloris), slow or stalled bodies,
// idle connections by the hundred, a broker that is slow or gone. Each must end in a bounded
// time with a refusal or a closed socket, with nothing forwarded undecided, and the sidecar must
// go on serving an honest client meanwhile.
import { connect, type TLSSocket } from 'node:tls';
import test from 'ava';
import { defaultMaskingRules } from '../../src/masking/index.ts';
import type { MaskResponse, ResponseMask } from '../../sidecar/mask.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { causeOf, startGate, type Gate } from './helpers.ts';

const HEAD_MS = 300;
const BODY_MS = 300;

let gate: Gate;
test.before(async () => {
  gate = await startGate({ deps: { headersTimeoutMs: HEAD_MS, bodyTimeoutMs: BODY_MS } });
});
test.after.always(async () => {
  await gate?.close();
});

const PODS = '/api/v1/namespaces/agents/pods';

function open(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: gate.world.sidecar.apiPort, ca: gate.world.sidecar.caPem, servername: 'localhost' }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Resolves with what the server sent and how long it took once it closes the socket; rejects past `deadlineMs`. */
function closedBy(socket: TLSSocket, deadlineMs: number): Promise<{ text: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the sidecar still held the connection after ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ms: performance.now() - started });
    });
  });
}

test.serial('slow clients are cut within their bound, without reaching upstream', async (t) => {
  const auth = `Authorization: Bearer ${gate.token}\r\n`;
  const rows: Array<{ name: string; start: string; trickle?: string; want: RegExp }> = [
    { name: 'a head trickled byte by byte (slowloris)', start: `GET ${PODS} HTTP/1.1\r\nHost: x\r\n${auth}`, trickle: 'X', want: /^(HTTP\/1\.1 408|$)/ },
    { name: 'a head that stops half way', start: `GET ${PODS} HTTP/1.1\r\nHost: x\r\n`, want: /^(HTTP\/1\.1 408|$)/ },
    { name: 'a connection that never sends a byte', start: '', want: /^(HTTP\/1\.1 408|$)/ },
    { name: 'a body that stalls after its head', start: `POST ${PODS} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"kind":`, want: /^HTTP\/1\.1 504 .*"reason":"body-timeout"/s },
    { name: 'a chunked body trickled forever', start: `POST ${PODS} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, trickle: '1\r\n \r\n', want: /^HTTP\/1\.1 504 .*"reason":"body-timeout"/s },
  ];
  for (const row of rows) {
    gate.upstream.received.length = 0;
    const socket = await open();
    const closed = closedBy(socket, 5000);
    if (row.start !== '') socket.write(row.start);
    // The attack itself: a byte at a time, forever, until the sidecar hangs up.
    const trickle = row.trickle === undefined ? undefined : setInterval(() => socket.writable && socket.write(row.trickle ?? ''), 50);
    const { text, ms } = await closed.finally(() => clearInterval(trickle));
    t.regex(text, row.want, `${row.name}: ${text.slice(0, 80)}`);
    t.true(ms < 3000, `${row.name}: cut after ${Math.round(ms)} ms`);
    t.is(gate.upstream.received.length, 0, `${row.name}: nothing forwarded`);
  }
});

test.serial('hundreds of idle connections do not stop an honest client', async (t) => {
  const idle = await Promise.all(Array.from({ length: 200 }, () => open()));
  t.teardown(() => {
    for (const socket of idle) socket.destroy();
  });
  const reply = await gate.world.call('GET', PODS, { headers: { authorization: `Bearer ${gate.token}` } });
  t.is(reply.status, 200);
});

test.serial('a slow or absent broker fails closed with a 503 in bounded time, nothing forwarded', async (t) => {
  const rows: Array<{ name: string; mode: 'slow' | 'down' | 'error'; cause: string }> = [
    { name: 'broker holds the decision', mode: 'slow', cause: 'broker-unavailable' },
    { name: 'broker resets connections', mode: 'down', cause: 'broker-unavailable' },
    { name: 'broker answers 503', mode: 'error', cause: 'unavailable' },
  ];
  t.teardown(() => {
    gate.world.broker.mode = 'up';
  });
  for (const row of rows) {
    gate.upstream.received.length = 0;
    gate.world.broker.mode = row.mode;
    const started = performance.now();
    const reply = await gate.world.call('GET', `${PODS}?row=${row.mode}`, { headers: { authorization: `Bearer ${gate.token}` } });
    const ms = performance.now() - started;
    t.is(reply.status, 503, row.name);
    t.is(causeOf(JSON.parse(reply.body)), row.cause, row.name);
    t.true(ms < 3000, `${row.name}: answered after ${Math.round(ms)} ms`);
    t.is(gate.upstream.received.length, 0, `${row.name}: nothing forwarded`);
  }
});

test('an answer sent a byte per chunk is held in a few pieces, not a Buffer per byte, and still masked', async (t) => {
  const held: Array<{ pieces: number; size: number }> = [];
  const real = createMaskResponse({ rules: defaultMaskingRules });
  // The real mask stage, watched: how many pieces the proxy hands it for each answer held whole.
  const maskResponse: MaskResponse = (target) => {
    const mask = real(target);
    const whole = mask.whole?.bind(mask);
    if (whole === undefined) return mask;
    return Object.assign(Object.create(mask) as ResponseMask, {
      whole(parts: readonly Buffer[], size: number) {
        held.push({ pieces: parts.length, size });
        return whole(parts, size);
      },
    });
  };
  const g = await startGate({ deps: { maskResponse } });
  t.teardown(() => g.close());
  const key = 'AKIAIOSFODNN7EXAMPLE';
  const big = 'z'.repeat(5000);
  const body = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'trickle' }, data: { env: `KEY=${key}`, filler: 'f'.repeat(20_000) } });
  g.upstream.respond = (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url.includes('mixed')) {
      // Tiny and large pieces in turn.
      const text = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'mixed' }, data: { a: big, b: big, c: big, env: `KEY=${key}` } });
      for (let i = 0; i < text.length;) {
        const n = i % 2 === 0 ? 1 : 5000;
        res.write(text.slice(i, i + n));
        i += n;
      }
    } else {
      for (const ch of body) res.write(ch);
    }
    res.end();
  };
  const trickled = await g.world.call('GET', '/api/v1/namespaces/agents/configmaps/trickle', { headers: { authorization: `Bearer ${g.token}` } });
  t.is(trickled.status, 200);
  t.notRegex(trickled.body, new RegExp(key), 'masked');
  t.regex(trickled.body, /"filler":"f{20000}"/, 'the rest intact');
  t.is(held[0]?.size, Buffer.byteLength(body));
  t.true((held[0]?.pieces ?? Number.POSITIVE_INFINITY) <= 2, `${held[0]?.pieces} pieces for ${body.length} one-byte chunks`);
  const mixed = await g.world.call('GET', '/api/v1/namespaces/agents/configmaps/mixed', { headers: { authorization: `Bearer ${g.token}` } });
  t.is(mixed.status, 200);
  t.notRegex(mixed.body, new RegExp(key));
  t.is((JSON.parse(mixed.body) as { data: { a: string } }).data.a, big, 'pieces kept in order');
  const second = held[1];
  t.true(second !== undefined && second.pieces <= 2 * Math.ceil(second.size / 4096) + 1, `${second?.pieces} pieces for ${second?.size} bytes`);
});

// Ways a long-lived or abandoned request could outlive the gate: an agent that hangs up while its
// request is decided, a grant that ends before the API server answered a watch, `follow` spelt as
// the API server (not a regex) reads it, a broker stream that stalls or is lost, and answers that
// the mask stage cannot read (no type, or text for an object) or that are too large to hold.
import { request } from 'node:https';
import { connect } from 'node:tls';
import test from 'ava';
import { defaultMaskingRules } from '../../src/masking/index.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { GRANT_TOKEN, until } from '../sidecar/harness.ts';
import { causeOf, startGate, WIDE_GRANT, type Gate } from './helpers.ts';

const MARKER_B64 = Buffer.from('agentgate-masked-data').toString('base64');

async function gate(t: { teardown(fn: () => Promise<void>): void }, deps: Parameters<typeof startGate>[0] = {}): Promise<Gate> {
  const g = await startGate(deps);
  t.teardown(() => g.close());
  return g;
}

/** An upstream that answers watches (and followed logs) with a line every 50 ms until the client goes; counts the open ones. */
function streamingUpstream(g: Gate, headDelayMs = 0): { open(): number } {
  let open = 0;
  g.upstream.respond = (req, res) => {
    const longLived = req.url.includes('watch') || req.url.includes('/log');
    if (!longLived) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}');
      return;
    }
    open++;
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      open--;
      clearInterval(timer);
    });
    setTimeout(() => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': req.url.includes('/log') ? 'text/plain' : 'application/json' });
      let i = 0;
      timer = setInterval(() => res.write(req.url.includes('/log') ? `line ${i++}\n` : `${JSON.stringify({ type: 'ADDED', object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: `p-${i++}` } } })}\n`), 50);
    }, headDelayMs);
  };
  return { open: () => open };
}

/** Opens a request and collects its answer until it ends; `end` resolves then (or at `deadlineMs` with ended: false). */
function follow(g: Gate, path: string, deadlineMs = 4000): { chunks: string[]; end: Promise<{ status: number; ended: boolean; body: string }>; abort(): void } {
  const chunks: string[] = [];
  let abort = (): void => {};
  const end = new Promise<{ status: number; ended: boolean; body: string }>((resolve) => {
    const req = request({ host: '127.0.0.1', port: g.world.sidecar.apiPort, path, ca: g.world.sidecar.caPem, servername: 'localhost', agent: false, headers: { authorization: `Bearer ${g.token}` } }, (res) => {
      res.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ended: true, body: chunks.join('') }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, ended: true, body: chunks.join('') }));
    });
    req.on('error', () => resolve({ status: 0, ended: true, body: chunks.join('') }));
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ status: 0, ended: false, body: chunks.join('') });
    }, deadlineMs);
    timer.unref();
    abort = () => req.destroy();
    req.end();
  });
  return { chunks, end, abort: () => abort() };
}

test('an agent that hangs up while its request is decided: nothing is forwarded, each request is audited, nothing stays open', async (t) => {
  const g = await gate(t);
  const upstream = streamingUpstream(g);
  g.world.broker.decisionDelayMs = 300;
  const requests = ['/api/v1/namespaces/agents/pods?watch=true', '/api/v1/namespaces/agents/configmaps'];
  for (let i = 0; i < 10; i++) {
    for (const path of requests) {
      const before = g.world.broker.decisions.length;
      const req = request({ host: '127.0.0.1', port: g.world.sidecar.apiPort, path, method: path.includes('watch') ? 'GET' : 'POST', ca: g.world.sidecar.caPem, servername: 'localhost', agent: false, headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' } });
      req.on('error', () => {});
      req.end(path.includes('watch') ? undefined : '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}');
      // Hang up once the broker is deciding, before it answers.
      await until(() => g.world.broker.decisions.length > before, 3000, 'the request to reach the broker');
      req.destroy();
    }
  }
  // Each request is audited once its decision came back (300 ms, longer on a loaded machine).
  const events = (): Array<{ code: number; outcome: string }> => g.world.broker.auditBatches.flatMap((b) => b.events).map((e) => ({ code: e.response.code, outcome: e.decision.outcome }));
  try {
    await until(async () => {
      await g.world.sidecar.auditor.flush();
      return events().length >= 20;
    }, 15_000, 'every abandoned request audited');
  } catch (error) {
    t.fail(`${(error as Error).message}: ${JSON.stringify(events())}`);
    return;
  }
  t.is(g.upstream.received.length, 0, 'nothing forwarded for an agent that had gone');
  t.is(upstream.open(), 0);
  t.is(g.world.sidecar.state.openResponses(), 0);
  t.is(events().length, 20, 'each abandoned request audited once');
  // Allowed and gone: no response code. (On a loaded machine a decision may time out instead: 503, still audited.)
  t.deepEqual(events().filter((e) => e.outcome === 'allow' && e.code !== 0), [], 'no allowed request got an answer');
  t.true(events().filter((e) => e.outcome === 'allow').length > 0, JSON.stringify(events()));
  g.world.broker.decisionDelayMs = 0;
  const honest = await g.world.call('GET', '/api/v1/namespaces/agents/pods', { headers: { authorization: `Bearer ${g.token}` } });
  t.is(honest.status, 200);
});

test('a grant that ends while the API server has not answered the watch yet cuts it at once', async (t) => {
  const g = await gate(t);
  const upstream = streamingUpstream(g, 500);
  const watch = follow(g, '/api/v1/namespaces/agents/pods?watch=true');
  await until(() => g.upstream.received.length === 1, 3000, 'the watch to reach the API server');
  const revokedAt = performance.now();
  g.world.broker.revoke(WIDE_GRANT);
  const answer = await watch.end;
  t.true(answer.ended, 'the agent\'s watch ended');
  t.true(performance.now() - revokedAt < 1000, `${Math.round(performance.now() - revokedAt)} ms`);
  t.is(answer.status, 410);
  t.regex(answer.body, /the grant this response was served under has ended: revoked; ask for access again/);
  t.notRegex(answer.body, /ADDED/);
  await until(() => upstream.open() === 0, 2000, 'the upstream watch to close');
  t.is(g.world.sidecar.state.openResponses(), 0);
});

// The API server reads a boolean query parameter as true unless it is "0" or "false" (any case).
for (const query of ['follow=true', 'follow=yes', 'follow', 'follow=', 'fol%6Cow=true', 'follow=T', 'follow=TRUE']) {
  test(`logs with ${query} are cut when the grant ends`, async (t) => {
    const g = await gate(t);
    const upstream = streamingUpstream(g);
    const logs = follow(g, `/api/v1/namespaces/agents/pods/web-0/log?${query}`);
    await until(() => logs.chunks.length > 0, 3000, 'the first log line');
    const revokedAt = performance.now();
    g.world.broker.revoke(WIDE_GRANT);
    const answer = await logs.end;
    t.true(answer.ended, 'the followed logs ended');
    t.true(performance.now() - revokedAt < 1000, `${Math.round(performance.now() - revokedAt)} ms`);
    await until(() => upstream.open() === 0, 2000, 'the upstream log stream to close');
  });
}

test('logs with follow=false or follow=0 are ordinary answers, not held open', async (t) => {
  const g = await gate(t);
  g.upstream.respond = (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('line 0\nline 1\n');
  for (const query of ['follow=false', 'follow=0', 'follow=FALSE']) {
    const answer = await g.world.call('GET', `/api/v1/namespaces/agents/pods/web-0/log?${query}`, { headers: { authorization: `Bearer ${g.token}` } });
    t.is(answer.status, 200, query);
    t.is(answer.body, 'line 0\nline 1\n', query);
  }
  t.is(g.world.sidecar.state.openResponses(), 0);
});

test('a broker stream that stalls is given up and opened again once the broker answers', async (t) => {
  const g = await gate(t);
  g.world.broker.mode = 'slow';
  g.world.broker.dropStreams();
  await until(() => !g.world.sidecar.state.streamConnected, 2000, 'the stream to be lost');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  g.world.broker.mode = 'up';
  // The harness's broker timeout is 500 ms: the stalled open is abandoned and retried.
  await until(() => g.world.sidecar.state.streamConnected, 4000, 'the stream to be open again');
  t.true(g.world.broker.openStreams() >= 1);
});

test('watches still open when the broker stream has been lost for the grace period are cut, since no revocation could reach them', async (t) => {
  const g = await gate(t, { deps: { openResponsesGraceMs: 300 } });
  const upstream = streamingUpstream(g);
  const watch = follow(g, '/api/v1/namespaces/agents/pods?watch=true');
  await until(() => watch.chunks.length > 0, 3000, 'the first event');
  g.world.broker.mode = 'down';
  g.world.broker.dropStreams();
  const lostAt = performance.now();
  const answer = await watch.end;
  t.true(answer.ended);
  const ms = performance.now() - lostAt;
  t.true(ms >= 250 && ms < 1500, `cut ${Math.round(ms)} ms after the stream was lost (grace 300 ms)`);
  const last = answer.body.trim().split('\n').at(-1) ?? '';
  const event = JSON.parse(last) as { type: string; object: { code: number; message: string } };
  t.is(event.type, 'ERROR');
  t.is(event.object.code, 503);
  t.regex(event.object.message, /the broker cannot be reached.*its stream was lost, so no revocation could reach this response; retry shortly/);
  await until(() => upstream.open() === 0, 2000, 'the upstream watch to close');
  g.world.broker.mode = 'up';
});

test('object answers the mask stage cannot read are withheld (502), and a Secret sent as text/plain is still masked', async (t) => {
  const g = await gate(t, { deps: { maskResponse: createMaskResponse({ rules: defaultMaskingRules, maxBodyBytes: 1024 * 1024 }) } });
  const secret = JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'agents' }, type: 'Opaque', data: { pin: Buffer.from('hunter2-real').toString('base64') } });
  const rows: Array<{ name: string; headers: Record<string, string>; body: Buffer; status: number; cause?: string }> = [
    { name: 'protobuf bytes without a Content-Type', headers: {}, body: Buffer.concat([Buffer.from('k8s\u0000\n\u0006Secret'), Buffer.from('hunter2-real')]), status: 502, cause: 'mask-failed' },
    { name: 'protobuf bytes labelled text/plain', headers: { 'content-type': 'text/plain' }, body: Buffer.concat([Buffer.from('k8s\u0000\n\u0006Secret'), Buffer.from('hunter2-real')]), status: 502, cause: 'mask-failed' },
    { name: 'a Secret labelled text/plain', headers: { 'content-type': 'text/plain' }, body: Buffer.from(secret), status: 200 },
    { name: 'a Secret labelled text/html', headers: { 'content-type': 'text/html' }, body: Buffer.from(secret), status: 200 },
    { name: 'a Secret without a Content-Type', headers: {}, body: Buffer.from(secret), status: 200 },
    { name: 'an answer larger than sidecar.masking.maxBodyBytes', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', data: { big: 'x'.repeat(2 * 1024 * 1024) } })), status: 502, cause: 'mask-failed' },
  ];
  for (const row of rows) {
    g.upstream.respond = (_req, res) => {
      res.writeHead(200, row.headers);
      res.end(row.body);
    };
    const answer = await g.world.call('GET', '/api/v1/namespaces/agents/secrets/db', { headers: { authorization: `Bearer ${g.token}` } });
    t.is(answer.status, row.status, `${row.name}: ${answer.body.slice(0, 200)}`);
    t.false(answer.body.includes('hunter2-real') || answer.body.includes(Buffer.from('hunter2-real').toString('base64')), `${row.name}: no value`);
    if (row.status === 200) t.is((JSON.parse(answer.body) as { data: { pin: string } }).data.pin, MARKER_B64, row.name);
    if (row.cause !== undefined) t.is(causeOf(JSON.parse(answer.body)), row.cause, row.name);
  }
  const large = rows.at(-1) as (typeof rows)[number];
  g.upstream.respond = (_req, res) => void res.writeHead(200, large.headers).end(large.body);
  const answer = await g.world.call('GET', '/api/v1/namespaces/agents/configmaps/big', { headers: { authorization: `Bearer ${g.token}` } });
  t.regex((JSON.parse(answer.body) as { message: string }).message, /the answer is larger than 1048576 bytes, the most agentgate masks at once; ask for fewer objects \(limit\)/);
});

test('an answer the API server cuts before its end is a 503, never a short success, and a 401 or redirect cut early does not crash the sidecar', async (t) => {
  const g = await gate(t);
  const rows: Array<{ name: string; status: number; length: number }> = [
    { name: 'a 200 cut after 10 of 1000 bytes', status: 200, length: 1000 },
    { name: 'a 401 cut after 10 bytes', status: 401, length: 1000 },
    { name: 'a 302 cut after 10 bytes', status: 302, length: 1000 },
  ];
  for (const row of rows) {
    g.upstream.respond = (_req, res) => {
      res.writeHead(row.status, { 'content-type': 'application/json', 'content-length': row.length, ...(row.status === 302 ? { location: 'https://example.com/' } : {}) });
      res.write('{"kind":"P');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const answer = await g.world.call('GET', '/api/v1/namespaces/agents/pods/web-0', { headers: { authorization: `Bearer ${g.token}` } });
    t.true(answer.status === 503 || answer.status === 502, `${row.name}: ${answer.status} ${answer.body.slice(0, 200)}`);
    t.notRegex(answer.body, /"kind":"P"?$/, `${row.name}: none of the cut body`);
  }
  // The 401 made the sidecar drop the credential and ask for a fresh one: the broker sends it.
  g.world.broker.setCredential(WIDE_GRANT, GRANT_TOKEN);
  g.upstream.respond = (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0"}}');
  const honest = await g.world.call('GET', '/api/v1/namespaces/agents/pods/web-0', { headers: { authorization: `Bearer ${g.token}` } });
  t.is(honest.status, 200, `the sidecar still serves: ${honest.body.slice(0, 300)}`);
});

/**
 * A raw agent connection that asks for `path` and reads the answer in stretches of `stretch`
 * bytes (the first one 4 KiB), stopping after each: for `pauseMs` (for ever without it, until
 * resume()). It hangs up itself once it has `enough` bytes.
 */
function stallingReader(g: Gate, path: string, options: { pauseMs?: number; stretch?: number; enough?: number } = {}): { bytes(): number; closed: Promise<void>; resume(): void; destroy(): void } {
  const socket = connect({ host: '127.0.0.1', port: g.world.sidecar.apiPort, ca: g.world.sidecar.caPem, servername: 'localhost' });
  let bytes = 0;
  let next = 4096;
  socket.on('data', (c: Buffer) => {
    bytes += c.length;
    if (bytes >= (options.enough ?? Number.POSITIVE_INFINITY)) {
      socket.destroy();
      return;
    }
    if (bytes > next) {
      next = options.stretch === undefined ? Number.POSITIVE_INFINITY : bytes + options.stretch;
      socket.pause();
      if (options.pauseMs !== undefined) setTimeout(() => socket.resume(), options.pauseMs);
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${g.token}\r\nConnection: close\r\n\r\n`);
  return { bytes: () => bytes, closed, resume: () => socket.resume(), destroy: () => socket.destroy() };
}

test('an agent that stops reading its answer is cut after the write-stall bound, and the upstream watch with it', async (t) => {
  const g = await gate(t, { deps: { writeStallMs: 1000 } });
  let open = 0;
  // A watch that writes 64 KiB events as fast as the sidecar takes them.
  const event = `${JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'big' }, data: { blob: 'x'.repeat(64 * 1024) } } })}\n`;
  g.upstream.respond = (req, res) => {
    if (!req.url.includes('watch')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}');
      return;
    }
    open++;
    res.on('close', () => open--);
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = (): void => {
      while (!res.destroyed && res.write(event));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  };
  const reader = stallingReader(g, '/api/v1/namespaces/agents/configmaps?watch=true');
  t.teardown(() => reader.destroy());
  let closed = false;
  void reader.closed.then(() => (closed = true));
  await until(() => open === 1, 3000, 'the watch to reach the API server');
  await until(() => open === 0, 8000, 'the sidecar to cut the stalled answer and close the upstream watch');
  t.is(g.world.sidecar.state.openResponses(), 0);
  reader.resume();
  await until(() => closed, 3000, 'the agent\'s connection to be closed');
  await g.world.sidecar.auditor.flush();
  const audited = g.world.broker.auditBatches.flatMap((b) => b.events).find((e) => e.attributes.verb === 'watch');
  t.is(audited?.response.code, 200, 'the cut watch is audited');
  const honest = await g.world.call('GET', '/api/v1/namespaces/agents/pods', { headers: { authorization: `Bearer ${g.token}` } });
  t.is(honest.status, 200, 'the sidecar serves on');
});

// Both ways an answer goes out: held whole by the real mask stage, or streamed by a masker without whole().
for (const stage of ['held whole (the real mask stage)', 'streamed (a masker without whole)'] as const) {
test(`an ordinary answer the agent stops reading is cut after the bound; one it reads slowly, with pauses, is not: ${stage}`, async (t) => {
  const g = await gate(t, { deps: { writeStallMs: 1000, ...(stage.startsWith('held') ? { maskResponse: createMaskResponse({ rules: defaultMaskingRules }) } : {}) } });
  // 12 MiB: more than the loopback socket buffers hold.
  const big = JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: {}, items: Array.from({ length: 192 }, (_, i) => ({ metadata: { name: `cm-${i}` }, data: { blob: 'y'.repeat(64 * 1024) } })) });
  g.upstream.respond = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) }).end(big);
  };
  const read = async (options: { pauseMs: number; stretch?: number }): Promise<{ bytes: number; closedEarly: boolean; ms: number }> => {
    const started = performance.now();
    const reader = stallingReader(g, '/api/v1/namespaces/agents/configmaps', { ...options, enough: big.length });
    await reader.closed;
    return { bytes: reader.bytes(), closedEarly: reader.bytes() < big.length, ms: performance.now() - started };
  };
  // 300 ms pauses after every MiB: it takes several times the bound in all, but never stops for it.
  const slow = await read({ pauseMs: 300, stretch: 1024 * 1024 });
  t.false(slow.closedEarly, `a reader with pauses gets it all (${slow.bytes} bytes in ${Math.round(slow.ms)} ms)`);
  t.true(slow.ms > 1000, `the slow read outlasted the bound (${Math.round(slow.ms)} ms)`);
  const stalled = await read({ pauseMs: 4000 });
  t.true(stalled.closedEarly, `a reader that stops for 4 s is cut (${stalled.bytes} of ${big.length} bytes)`);
});
}

test('a watch whose head never comes ends with a 503 after the upstream bound', async (t) => {
  const g = await gate(t, { deps: { upstreamTimeoutMs: 1000 } });
  g.upstream.respond = () => undefined;
  const started = performance.now();
  const watch = follow(g, '/api/v1/namespaces/agents/pods?watch=true', 5000);
  const answer = await watch.end;
  t.true(answer.ended);
  t.is(answer.status, 503);
  t.regex(answer.body, /no answer within 1 s/);
  t.true(performance.now() - started < 3000, `${Math.round(performance.now() - started)} ms`);
});

// The bound on answers held whole for masking across all requests (sidecar/held-budget.ts): the
// budget's rules on their own, then through a sidecar whose upstream holds one answer half sent
// while a second one arrives whole. And the held pieces themselves (sidecar/held-pieces.ts):
// zeroed once their answer is masked or cannot be.
import type { ServerResponse } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { defaultMaskingRules } from '../../src/masking/index.ts';
import { HeldBudget } from '../../sidecar/held-budget.ts';
import { HeldPieces } from '../../sidecar/held-pieces.ts';
import type { MaskResponse, MaskTarget } from '../../sidecar/mask.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { grantPodReads, metric, startWorld, until } from './harness.ts';
import { startScriptedUpstream, type ScriptedUpstream } from './upstream.ts';
import type { SidecarDeps } from '../../sidecar/start.ts';

test('budget: answers read on while the total is within the limit; past it a later one waits and the oldest goes on', (t) => {
  const budget = new HeldBudget(100, { freeBytes: 0 });
  const a = budget.open();
  const b = budget.open();
  t.true(a.add(60));
  t.true(b.add(40), 'exactly at the limit is within it');
  t.false(b.add(10), 'past the limit, a later answer waits');
  t.true(a.add(500), 'the oldest answer always goes on, or two answers could wait on each other');
  t.is(budget.held, 610);
  t.is(budget.waits, 1);
  let resumed = 0;
  b.onTurn(() => resumed++);
  t.is(resumed, 0, 'no room yet');
  a.release();
  t.is(resumed, 1, 'the older answer is done: the next one is the oldest now');
  t.is(budget.held, 50);
  a.release();
  t.is(budget.held, 50, 'release is idempotent');
  b.release();
  t.is(budget.held, 0);
});

test('budget: paused answers resume oldest first, and only while there is room', (t) => {
  const budget = new HeldBudget(100, { freeBytes: 0 });
  const a = budget.open();
  const b = budget.open();
  const c = budget.open();
  const d = budget.open();
  t.true(a.add(90));
  t.false(b.add(30));
  t.false(c.add(30));
  t.false(d.add(5));
  const order: string[] = [];
  b.onTurn(() => order.push('b'));
  c.onTurn(() => order.push('c'));
  d.onTurn(() => order.push('d'));
  a.release();
  // Held now 65: b is the oldest (resumes), c and d fit (65 <= 100).
  t.deepEqual(order, ['b', 'c', 'd']);
  const e = budget.open();
  t.false(e.add(40), '105 held: a new answer past the limit waits');
  let eResumed = false;
  e.onTurn(() => (eResumed = true));
  d.release();
  t.true(eResumed, '100 held once d is done: within the limit');
  t.throws(() => new HeldBudget(0), { instanceOf: RangeError });
});

test('budget: a released share never waits, and an answer already allowed is resumed at once', (t) => {
  const budget = new HeldBudget(10, { freeBytes: 0 });
  const a = budget.open();
  const b = budget.open();
  a.add(20);
  b.release();
  t.true(b.add(1000), 'a share given back (the request ended) counts nothing and never waits');
  t.is(budget.held, 20);
  let now = false;
  a.onTurn(() => (now = true));
  t.true(now, 'the oldest is resumed at once');
});

test('budget: each answer\'s first bytes never wait, so a small GET does not queue behind large LISTs', (t) => {
  const budget = new HeldBudget(100, { freeBytes: 20 });
  const large = budget.open();
  t.true(large.add(500), 'the oldest');
  const small = budget.open();
  t.true(small.add(20), 'within its free bytes although the budget is spent');
  t.false(small.add(1), 'past them, the limit applies');
  t.is(new HeldBudget(1).freeBytes, 64 * 1024, 'the default allowance');
});

test('budget: one wait is counted once, however many pieces of the answer come before its pause takes hold', (t) => {
  const budget = new HeldBudget(100, { freeBytes: 0 });
  const a = budget.open();
  const b = budget.open();
  a.add(100);
  // One socket read holds several chunks of a chunked answer: each reaches add() after the first paused it.
  t.false(b.add(10));
  t.false(b.add(10));
  t.false(b.add(10));
  t.is(budget.waits, 1, 'one pause, one wait');
  let resumed = 0;
  b.onTurn(() => resumed++);
  a.release();
  t.is(resumed, 1);
  t.true(b.add(200), 'the oldest now');
  const c = budget.open();
  t.false(c.add(10), 'the next answer past the limit');
  t.is(budget.waits, 2, 'a new wait is counted');
});

/** A PodList of about `bytes`, as JSON. */
function podList(bytes: number, name: string): string {
  const items: unknown[] = [];
  const item = (i: number) => ({ metadata: { name: `${name}-${i}`, namespace: 'agents' }, spec: { containers: [{ name: 'c', image: 'nginx', args: ['x'.repeat(900)] }] } });
  for (let i = 0, size = 0; size < bytes; i++) {
    items.push(item(i));
    size += 1000;
  }
  return JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items });
}


/** An upstream answering two LISTs of 600 KiB: `second` at once, `first` up to `split` bytes and then as `rest` goes on. */
async function twoLists(rest: (res: ServerResponse, first: string, split: number) => void) {
  const upstream = await startScriptedUpstream();
  const first = podList(600 * 1024, 'first');
  const second = podList(600 * 1024, 'second');
  const split = 400 * 1024;
  upstream.respond = (received, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(received.url.includes('first') ? first : second) });
    if (received.url.includes('second')) {
      res.end(second);
      return;
    }
    res.write(first.slice(0, split));
    rest(res, first, split);
  };
  return { upstream, first, second, split };
}

/** Two LISTs through a sidecar with a 256 KiB budget: the first starts and is held in part, then the second, which must wait. */
async function twoAnswers(t: ExecutionContext, upstream: ScriptedUpstream, split: number, deps: Partial<SidecarDeps> = {}) {
  const world = await startWorld({
    upstreamUrl: upstream.url,
    env: { AGENTGATE_SIDECAR_MASKING_MAX_HELD_BYTES: '256KiB' },
    deps: { maskResponse: createMaskResponse({ rules: defaultMaskingRules }), ...deps },
  });
  t.teardown(async () => {
    await world.close();
    await upstream.close();
  });
  grantPodReads(world);
  const headers = { authorization: `Bearer ${await world.token()}`, accept: 'application/json' };
  const port = world.sidecar.healthPort;
  const firstCall = world.call('GET', '/api/v1/namespaces/agents/pods?labelSelector=first', { headers });
  await until(async () => (await metric(port, 'agentgate_sidecar_held_bytes')) >= split, 5000, 'the first answer held in part');
  const second = { doneAt: 0 };
  const secondCall = world.call('GET', '/api/v1/namespaces/agents/pods?labelSelector=second', { headers }).then((answer) => {
    second.doneAt = performance.now();
    return answer;
  });
  await until(async () => (await metric(port, 'agentgate_sidecar_held_waits_total')) >= 1, 5000, 'the second answer waiting for room');
  return { port, firstCall, secondCall, second };
}

test('through the sidecar: past sidecar.masking.maxHeldBytes a second answer waits until the older one is sent, and both arrive whole', async (t) => {
  let sendRest: () => void = () => {};
  let restSentAt = Number.POSITIVE_INFINITY;
  // The first answer stops half way until the test lets it go on.
  const { upstream, first, second, split } = await twoLists((res, body, at) => {
    sendRest = () => {
      restSentAt = performance.now();
      res.end(body.slice(at));
    };
  });
  const { port, firstCall, secondCall, second: secondDone } = await twoAnswers(t, upstream, split);
  t.is(secondDone.doneAt, 0, 'the second answer is not sent while the older one holds the budget');
  const heldWhileWaiting = await metric(port, 'agentgate_sidecar_held_bytes');
  t.true(heldWhileWaiting < split + 256 * 1024, `the waiting answer holds no more than what it had read: ${heldWhileWaiting} bytes held`);
  sendRest();
  const [a, b] = await Promise.all([firstCall, secondCall]);
  t.is(a.status, 200);
  t.is(b.status, 200);
  t.is(a.body, first, 'the first answer arrives whole');
  t.is(b.body, second, 'the second answer arrives whole');
  t.true(secondDone.doneAt > restSentAt, 'the second answer went out only after the first was let go on');
  await until(async () => (await metric(port, 'agentgate_sidecar_held_bytes')) === 0, 5000, 'the budget given back');
});

test('through the sidecar: an answer waiting for room is not cut by the upstream silence bound, which is the API server\'s, not the sidecar\'s own pause', async (t) => {
  let firstEndedAt = Number.POSITIVE_INFINITY;
  // The first answer trickles (never silent) for 2.5 upstream silence bounds, holding the budget all along.
  const { upstream, second, split } = await twoLists((res, body, from) => {
    let at = from;
    const tick = setInterval(() => {
      res.write(body.slice(at, at + 10));
      at += 10;
    }, 100);
    setTimeout(() => {
      clearInterval(tick);
      firstEndedAt = performance.now();
      res.end(body.slice(at));
    }, 2500);
  });
  const { port, firstCall, secondCall, second: secondDone } = await twoAnswers(t, upstream, split, { upstreamTimeoutMs: 1000 });
  const [a, b] = await Promise.all([firstCall, secondCall]);
  t.is(a.status, 200);
  t.is(b.status, 200, `the waiting answer was cut: ${b.body.slice(0, 200)}`);
  t.is(b.body, second, 'the second answer arrives whole');
  t.true(secondDone.doneAt > firstEndedAt, 'it still waited for the older answer');
  t.true((await metric(port, 'agentgate_sidecar_held_waits_total')) <= 2, 'kept alive while waiting, its wait is counted once');
  await until(async () => (await metric(port, 'agentgate_sidecar_held_bytes')) === 0, 5000, 'the budget given back');
});

test('held pieces: wipe zeroes every piece, large ones the caller handed over and the block small ones were gathered in, and lets them go', (t) => {
  const pieces = new HeldPieces();
  const large = Buffer.alloc(8192, 'a');
  const small = [Buffer.from('secret-one'), Buffer.from('secret-two')];
  pieces.add(small[0] as Buffer);
  pieces.add(small[1] as Buffer);
  pieces.add(large);
  const held = [...pieces.sealed()];
  t.is(Buffer.concat(held).toString(), `secret-onesecret-two${'a'.repeat(8192)}`);
  pieces.wipe();
  for (const piece of held) t.true(piece.every((byte) => byte === 0), 'each piece is zeroed');
  t.true(large.every((byte) => byte === 0), 'the piece as it came is zeroed, not a copy');
  t.deepEqual(pieces.sealed(), [], 'nothing is held after');
});

test('the mask stage as a stream, for a proxy that streams a held body: the pieces written are zeroed once masked or refused, and a clean body flows out as it came', async (t) => {
  const stage = createMaskResponse({ rules: defaultMaskingRules, memo: false });
  const attributes = { verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'agents', name: 'web-0', isResourceRequest: true, path: '/api/v1/namespaces/agents/pods/web-0' } as MaskTarget['attributes'];
  const through = async (body: string): Promise<{ out: string; error?: Error; pieces: Buffer[] }> => {
    const { stream } = stage({ attributes, statusCode: 200, contentType: 'application/json', watch: false });
    const pieces = [Buffer.from(body.slice(0, 10)), Buffer.from(body.slice(10))];
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    const ended = new Promise<Error | undefined>((resolve) => {
      stream.once('end', () => resolve(undefined));
      stream.once('error', resolve);
    });
    for (const piece of pieces) stream.write(piece);
    stream.end();
    const error = await ended;
    return { out: Buffer.concat(chunks).toString(), pieces, ...(error ? { error } : {}) };
  };
  const key = 'AKIAIOSFODNN7EXAMPLE';
  const masked = await through(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-0', annotations: { key } } }));
  t.false(masked.out.includes(key));
  t.true(masked.pieces.every((p) => p.every((byte) => byte === 0)), 'masked: the raw pieces are zeroed');
  const refused = await through(`{"kind":"Pod","metadata":{"annotations":{"key":"${key}"}`);
  t.is(refused.error?.name, 'MaskingError');
  t.true(refused.pieces.every((p) => p.every((byte) => byte === 0)), 'refused: the raw pieces are zeroed');
  const clean = JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-0' } });
  const passed = await through(clean);
  t.is(passed.out, clean);
  t.is(Buffer.concat(passed.pieces).toString(), clean, 'clean: the pieces are what went out');
});

test('through the sidecar: the raw pieces of an answer are zeroed once it is masked, when it cannot be, and once a clean one, sent as its own pieces, is out', async (t) => {
  const upstream = await startScriptedUpstream();
  // The real stage, with a look at the pieces the proxy hands it.
  const real = createMaskResponse({ rules: defaultMaskingRules, memo: false });
  const handed: Buffer[][] = [];
  const stage: MaskResponse = Object.assign((target: MaskTarget) => {
    const mask = real(target);
    const whole = mask.whole?.bind(mask);
    if (whole === undefined) return mask;
    return {
      get stream() {
        return mask.stream;
      },
      masked: () => mask.masked(),
      maxBytes: mask.maxBytes,
      whole: (parts: readonly Buffer[], size: number) => {
        handed.push([...parts]);
        return whole(parts, size);
      },
    };
  }, { memo: real.memo });
  const world = await startWorld({ upstreamUrl: upstream.url, deps: { maskResponse: stage } });
  t.teardown(async () => {
    await world.close();
    await upstream.close();
  });
  grantPodReads(world);
  const headers = { authorization: `Bearer ${await world.token()}`, accept: 'application/json' };
  const key = 'AKIAIOSFODNN7EXAMPLE';
  const pod = (value: string) => JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-0', namespace: 'agents' }, spec: { containers: [{ name: 'c', image: 'nginx', env: [{ name: 'KEY', value }], args: ['x'.repeat(20_000)] }] } });
  const rows = [
    { name: 'a pod with an AWS key in its env', body: pod(key), code: 200, zeroed: true },
    { name: 'a clean pod', body: pod('plain'), code: 200, zeroed: false },
    { name: 'a pod that does not parse', body: pod(key).slice(0, -1), code: 502, zeroed: true },
  ];
  for (const row of rows) {
    handed.length = 0;
    // In several writes, so that the answer is held as several pieces.
    upstream.respond = (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let at = 0; at < row.body.length; at += 6000) res.write(row.body.slice(at, at + 6000));
      res.end();
    };
    const answer = await world.call('GET', '/api/v1/namespaces/agents/pods/web-0', { headers });
    t.is(answer.status, row.code, `${row.name}: ${answer.body.slice(0, 200)}`);
    t.false(answer.body.includes(key), `${row.name}: no key comes back`);
    if (row.code === 200 && !row.zeroed) t.is(answer.body, row.body, `${row.name}: sent as it came`);
    const pieces = handed.flat();
    t.true(pieces.length > 1, `${row.name}: held as ${pieces.length} pieces`);
    // The sidecar is done with the answer once the agent has it (the audit follows at once).
    await until(() => pieces.every((piece) => piece.every((byte) => byte === 0)), 2000, `${row.name}: its raw pieces zeroed`);
  }
});

// The bound on bytes of streamed answers waiting on their agents (sidecar/stream-budget.ts): the
// budget's rules on their own, then through a sidecar whose agent opens watches it never reads
// beside one it reads: those are cut once they hold the most past the bound, the last goes on.
import { connect, type TLSSocket } from 'node:tls';
import test from 'ava';
import { defaultMaskingRules } from '../../src/masking/index.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { StreamBudget } from '../../sidecar/stream-budget.ts';
import { grantPodReads, metric, startWorld, until } from './harness.ts';
import { startScriptedUpstream } from './upstream.ts';

test('budget: within the limit nothing is cut; past it the stream holding the most is, once, and its bytes are given back', (t) => {
  const budget = new StreamBudget(100);
  const cut: string[] = [];
  const a = budget.open(() => cut.push('a'));
  const b = budget.open(() => cut.push('b'));
  const c = budget.open(() => cut.push('c'));
  a.report(60);
  b.report(40);
  t.deepEqual(cut, [], 'exactly at the limit is within it');
  t.is(budget.pending, 100);
  c.report(10);
  t.deepEqual(cut, ['a'], 'past it, the largest holder is cut, not the one that reported');
  t.is(budget.pending, 50);
  a.report(500);
  t.deepEqual(cut, ['a'], 'a stream cut no longer counts, nor is cut again');
  b.report(0);
  t.is(budget.pending, 10, 'a stream that drained holds nothing');
  c.close();
  c.close();
  t.is(budget.pending, 0, 'close gives back, and is idempotent');
  t.is(budget.cuts, 1);
  t.throws(() => new StreamBudget(0), { instanceOf: RangeError });
});

test('budget: a report past the limit cuts the largest holders, as many as it takes', (t) => {
  const budget = new StreamBudget(100);
  const cut: string[] = [];
  const shares = ['a', 'b', 'c'].map((name) => budget.open(() => cut.push(name)));
  shares[0]?.report(50);
  shares[1]?.report(30);
  shares[2]?.report(90);
  t.deepEqual(cut, ['c'], 'c (90) first: the 80 left are within');
  t.is(budget.pending, 80);
  shares[0]?.report(200);
  t.deepEqual(cut, ['c', 'a'], 'a (200) alone past it: a is cut, and the 30 left are within');
  t.is(budget.pending, 30);
});

test('budget: of streams holding as much, the one longest without progress is cut', (t) => {
  const budget = new StreamBudget(100);
  const cut: string[] = [];
  // The reader opened first: by age alone it would go.
  const reader = budget.open(() => cut.push('reader'));
  const stalled = budget.open(() => cut.push('stalled'));
  const third = budget.open(() => cut.push('third'));
  reader.report(50);
  stalled.report(50);
  reader.report(0);
  reader.report(50);
  t.deepEqual(cut, [], 'within the limit');
  third.report(1);
  t.deepEqual(cut, ['stalled'], 'the reader took its bytes since; the stalled one never did');
});

test('through the sidecar: watches their agent never reads are cut once they hold the most past the bound; a watch that is read goes on to its end', async (t) => {
  const upstream = await startScriptedUpstream();
  // Events of 1.2 MB: a stream that is not read holds the one being written and the next one masked.
  const EVENTS = 12;
  const event = (i: number): string => `${JSON.stringify({ type: 'ADDED', object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: `p-${i}`, namespace: 'agents', resourceVersion: String(i), annotations: { note: 'x'.repeat(1_200_000) } } } })}\n`;
  const closed = new Map<string, number>();
  upstream.respond = (received, res) => {
    const who = new URL(received.url, 'https://x').searchParams.get('labelSelector') ?? '';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.on('close', () => closed.set(who, performance.now()));
    let i = 0;
    const next = (): void => {
      while (i < EVENTS) if (!res.write(event(i++))) return void res.once('drain', next);
      res.end();
    };
    next();
  };
  const world = await startWorld({ upstreamUrl: upstream.url, env: { AGENTGATE_SIDECAR_MASKING_MAX_STREAMED_BYTES: '2MiB' }, deps: { maskResponse: createMaskResponse({ rules: defaultMaskingRules }) } });
  const sockets: TLSSocket[] = [];
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await world.close();
    await upstream.close();
  });
  grantPodReads(world);
  const token = await world.token();
  // Stalled agents: a watch asked for over TLS, and nothing read after. Each holds an event.
  const stall = async (name: string): Promise<void> => {
    const socket = connect({ host: '127.0.0.1', port: world.sidecar.apiPort, ca: world.sidecar.caPem, servername: 'localhost' });
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once('secureConnect', resolve));
    socket.write(`GET /api/v1/namespaces/agents/pods?watch=1&labelSelector=${name} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nAccept: application/json\r\n\r\n`);
    socket.pause();
    await until(async () => (await metric(world.sidecar.healthPort, 'agentgate_sidecar_streamed_pending_bytes')) > 0 || closed.size > 0, 10_000, `${name} holding`);
  };
  await stall('stalled-1');
  t.false(closed.has('stalled-1'), 'one stalled watch is within the bound');
  await stall('stalled-2');
  await until(() => closed.has('stalled-1'), 10_000, 'the first stalled watch cut, and its upstream request closed');
  t.is(await metric(world.sidecar.healthPort, 'agentgate_sidecar_streamed_cuts_total'), 1, 'the cut is counted');
  // A reading agent: its events all arrive, masked as ever, and the other stalled watch gives way.
  const read = await world.call('GET', '/api/v1/namespaces/agents/pods?watch=1&labelSelector=reading', { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  t.is(read.status, 200);
  t.is(read.body.split('\n').filter((line) => line !== '').length, EVENTS, 'every event of the watch that is read arrives');
  t.true(read.body.includes('"name":"p-0"') && read.body.includes(`"name":"p-${EVENTS - 1}"`), 'from the first event to the last');
  await until(() => closed.has('stalled-2'), 10_000, 'the second stalled watch cut');
  t.is(await metric(world.sidecar.healthPort, 'agentgate_sidecar_streamed_cuts_total'), 2, 'the reading watch was never the one cut');
  await until(async () => (await metric(world.sidecar.healthPort, 'agentgate_sidecar_streamed_pending_bytes')) === 0, 5000, 'nothing held once both are done');
});

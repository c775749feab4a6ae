// The memo of single objects' masking: a hit only on the same bytes (however they were cut into
// pieces), bounded in entries and bytes, its own copy of the bytes; through the mask stage, only
// for GETs of one object; and through the sidecar, an unchanged Secret read again is as masked as
// the first time, a changed one is masked anew, and /metrics counts both.
import test from 'ava';
import { defaultMaskingRules, MASK_MARKER, MASK_MARKER_BASE64 } from '../../src/masking/index.ts';
import { parseRequest } from '../../src/request/index.ts';
import { MaskMemo } from '../../sidecar/mask-memo.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { GRANT_TOKEN, grantPodReads, metric, startWorld } from './harness.ts';
import { startScriptedUpstream } from './upstream.ts';

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const cut = (body: Buffer, at: number[]): Buffer[] => {
  const cuts = [0, ...at, body.length];
  return cuts.slice(1).map((end, i) => body.subarray(cuts[i], end));
};

test('a hit needs the same bytes (length and SHA-256): any cut into pieces hits, one byte changed or a length changed misses', (t) => {
  const memo = new MaskMemo();
  const body = Buffer.from('{"kind":"Pod","metadata":{"name":"web-0","resourceVersion":"1000"}}');
  memo.set('json /p', [body], body.length, { text: undefined, masked: 0 });
  for (let at = 1; at < body.length; at++) t.deepEqual(memo.get('json /p', cut(body, [at]), body.length), { text: undefined, masked: 0 } as never, `cut at ${at}`);
  t.truthy(memo.get('json /p', cut(body, [3, 9, 40]), body.length), 'three cuts');
  const changed = Buffer.from(body.toString().replace('1000', '1001'));
  t.is(memo.get('json /p', [changed], changed.length), undefined, 'one byte changed');
  t.is(memo.get('json /p', cut(changed, [20]), changed.length), undefined, 'one byte changed, in two pieces');
  const longer = Buffer.from(body.toString().replace('1000', '10000'));
  t.is(memo.get('json /p', [longer], longer.length), undefined, 'another length');
  t.is(memo.get('json /q', [body], body.length), undefined, 'another key');
  t.is(memo.hits, body.length);
  t.is(memo.misses, 4);
});

test('the memo compares digests, not the pieces it was given: those may be reused for other answers; it counts the masked text, not the answer', (t) => {
  const memo = new MaskMemo();
  const password = Buffer.from('hunter2-real').toString('base64');
  const shared = Buffer.from(`{"kind":"Secret","data":{"password":"${password}"}}`);
  const original = Buffer.from(shared);
  memo.set('k', [shared], shared.length, { text: '{"kind":"Secret","data":{"password":"masked"}}', masked: 1 });
  shared.write(`{"kind":"Secret","data":{"password":"${'x'.repeat(password.length)}"}}`);
  t.is(memo.get('k', [shared], shared.length), undefined, 'the reused buffer is not what was masked');
  t.deepEqual(memo.get('k', [original], original.length), { text: '{"kind":"Secret","data":{"password":"masked"}}', masked: 1 } as never);
  t.is(memo.bytes, 128 + 2 * '{"kind":"Secret","data":{"password":"masked"}}'.length + 1);
});

test('bounded: bodies over the entry bound are not kept, the least recently used go first, the bytes add up', (t) => {
  const memo = new MaskMemo({ maxEntryBytes: 100, maxBytes: 300 });
  const body = (n: number): Buffer => Buffer.from(`{"n":${n},"pad":"${'x'.repeat(80)}"}`);
  const size = body(0).length;
  memo.set('big', [Buffer.alloc(101, 0x20)], 101, { text: undefined, masked: 0 });
  t.is(memo.size, 0, 'over the entry bound');
  for (let n = 0; n < 3; n++) memo.set(`k${n}`, [body(n)], size, { text: undefined, masked: 0 });
  t.is(memo.size, 2, 'two entries of 130 bytes fit in 300, three do not');
  t.is(memo.get('k0', [body(0)], size), undefined, 'the oldest went first');
  t.truthy(memo.get('k1', [body(1)], size), 'k1 is used now');
  memo.set('k3', [body(3)], size, { text: undefined, masked: 0 });
  t.truthy(memo.get('k1', [body(1)], size), 'k1, recently used, stays');
  t.is(memo.get('k2', [body(2)], size), undefined, 'k2, least recently used, went');
  t.is(memo.bytes, 2 * 130);
  const masked = 'y'.repeat(60);
  memo.set('k1', [body(1)], size, { text: masked, masked: 2 });
  t.is(memo.size, 1, 'a masked text counts against the bound (two bytes a character)');
  t.is(memo.bytes, 128 + 2 * masked.length + 2);
  t.deepEqual(memo.get('k1', [body(1)], size), { text: masked, masked: 2 } as never);
  // Empty answers (HEAD) cost almost no bytes: the entry bound holds them.
  const few = new MaskMemo({ maxEntries: 3 });
  for (let n = 0; n < 1000; n++) few.set(`/head/${n}`, [], 0, { text: undefined, masked: 0 });
  t.is(few.size, 3);
  t.truthy(few.get('/head/999', [], 0), 'the newest stay');
  t.is(few.get('/head/996', [], 0), undefined, 'the oldest went');
});

test('the mask stage remembers GETs of one object only, and its answer from the memo is the one masked anew', (t) => {
  const stage = createMaskResponse({ rules: defaultMaskingRules });
  const memo = stage.memo;
  if (memo === undefined) throw new Error('the stage keeps a memo by default');
  const target = (method: string, url: string) => {
    const parsed = parseRequest(method, url);
    if (!parsed.ok) throw new Error(parsed.error.message);
    return { attributes: parsed.attributes, statusCode: 200, contentType: 'application/json', watch: false, url };
  };
  const secret = (password: string): Buffer => Buffer.from(JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's' }, type: 'Opaque', data: { password: Buffer.from(password).toString('base64') }, note: `key ${AWS_KEY}` }));
  const whole = (method: string, url: string, body: Buffer, at: number[] = []) => {
    const mask = stage(target(method, url));
    if (mask.whole === undefined) throw new Error('the stage holds JSON answers whole');
    return { result: mask.whole(cut(body, at), body.length), masked: mask.masked() };
  };
  const first = whole('GET', '/api/v1/namespaces/agents/secrets/s', secret('hunter2'));
  t.is(first.masked, 2);
  t.true(String(first.result.body).includes(MASK_MARKER_BASE64) && String(first.result.body).includes(MASK_MARKER));
  t.is(memo.misses, 1);
  const again = whole('GET', '/api/v1/namespaces/agents/secrets/s', secret('hunter2'), [17]);
  t.is(memo.hits, 1, 'the same bytes, in other pieces: from the memo');
  t.deepEqual(again, first);
  const changed = whole('GET', '/api/v1/namespaces/agents/secrets/s', secret('hunter3'));
  t.is(memo.hits, 1, 'a changed Secret is masked anew');
  t.false(String(changed.result.body).includes(Buffer.from('hunter3').toString('base64')));
  t.is(changed.masked, 2);
  const hits = memo.hits;
  for (let i = 0; i < 2; i++) whole('GET', '/api/v1/namespaces/agents/secrets', secret('hunter2'));
  for (let i = 0; i < 2; i++) whole('PUT', '/api/v1/namespaces/agents/secrets/s', secret('hunter2'));
  t.is(memo.hits, hits, 'lists and answers to writes are not remembered');
  const clean = Buffer.from('{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0"}}');
  whole('GET', '/api/v1/namespaces/agents/pods/web-0', clean);
  const cleanAgain = whole('GET', '/api/v1/namespaces/agents/pods/web-0', clean, [5]);
  t.is(memo.hits, hits + 1);
  t.is(cleanAgain.masked, 0);
  t.true(Array.isArray(cleanAgain.result.body), 'a clean answer from the memo is the upstream\'s own pieces');
  t.is(Buffer.concat(cleanAgain.result.body as Buffer[]).toString(), clean.toString());
  // An empty answer (a HEAD on the same URL) neither hits nor pushes out the GET's entry.
  const before = { hits: memo.hits, misses: memo.misses };
  whole('HEAD', '/api/v1/namespaces/agents/pods/web-0', Buffer.alloc(0));
  t.deepEqual({ hits: memo.hits, misses: memo.misses }, before, 'a HEAD does not use the memo');
  whole('GET', '/api/v1/namespaces/agents/pods/web-0', clean);
  t.is(memo.hits, hits + 2, 'the GET\'s entry is still there after the HEAD');
  // Free text (a non-resource path read by sniffing) is masked anew every time: its masked text is
  // made of slices of the upstream's, which the memo would keep alive.
  const text = (): ReturnType<typeof whole> => {
    const parsed = parseRequest('GET', '/healthz/details');
    if (!parsed.ok) throw new Error(parsed.error.message);
    const mask = stage({ attributes: parsed.attributes, statusCode: 200, contentType: 'application/octet-stream', watch: false, url: '/healthz/details' });
    if (mask.whole === undefined) throw new Error('held whole');
    const body = Buffer.from(`ok key=${AWS_KEY}`);
    return { result: mask.whole([body], body.length), masked: mask.masked() };
  };
  const counted = memo.hits + memo.misses;
  t.is(text().masked, 1);
  t.is(text().masked, 1);
  t.is(memo.hits + memo.misses, counted, 'the sniffed text never went through the memo');
  t.is(createMaskResponse({ rules: defaultMaskingRules, memo: false }).memo, undefined, 'memo: false keeps none');
});

test('lookup hands set the digest it made, so a miss on a changed answer digests it once; a failed masking leaves nothing behind', (t) => {
  const memo = new MaskMemo();
  const first = Buffer.from('{"kind":"Pod","metadata":{"resourceVersion":"1"}}');
  const second = Buffer.from('{"kind":"Pod","metadata":{"resourceVersion":"2"}}');
  t.deepEqual(memo.lookup('k', [first], first.length), { hit: undefined, digest: undefined }, 'no entry of this length: no digest made');
  memo.set('k', [first], first.length, { text: undefined, masked: 0 });
  const miss = memo.lookup('k', [second], second.length);
  t.is(miss.hit, undefined);
  t.true(Buffer.isBuffer(miss.digest) && miss.digest.length === 32);
  memo.set('k', [second], second.length, { text: undefined, masked: 0 }, miss.digest);
  t.truthy(memo.get('k', [second], second.length), 'stored under the digest lookup made');
  t.is(memo.get('k', [first], first.length), undefined);
  // The memo holds no per-call state between lookup and set: a lookup whose masking then failed
  // (no set follows) changes nothing for the next answer.
  memo.lookup('k', [first], first.length);
  t.truthy(memo.get('k', [second], second.length));
});


test('through the sidecar: a Secret read again unchanged is as masked as the first time, a changed one is masked anew', async (t) => {
  const upstream = await startScriptedUpstream();
  const world = await startWorld({ upstreamUrl: upstream.url, deps: { maskResponse: createMaskResponse({ rules: defaultMaskingRules }) } });
  t.teardown(async () => {
    await world.close();
    await upstream.close();
  });
  grantPodReads(world);
  world.broker.addGrant({ id: 'g-secrets', rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }], namespaces: ['agents'], token: GRANT_TOKEN });
  world.broker.table.push({ name: 'secrets', when: (a) => a.resource === 'secrets', outcome: 'allow', grantId: 'g-secrets', cacheForMs: 60_000 });
  let password = 'hunter2-real';
  upstream.respond = (_q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's', resourceVersion: password.length > 12 ? '2' : '1' }, type: 'Opaque', data: { password: Buffer.from(password).toString('base64') } }));
  const headers = { authorization: `Bearer ${await world.token()}`, accept: 'application/json' };
  const read = async (): Promise<string> => {
    const reply = await world.call('GET', '/api/v1/namespaces/agents/secrets/s', { headers });
    t.is(reply.status, 200, reply.body);
    t.false(reply.body.includes(Buffer.from(password).toString('base64')), `leaks: ${reply.body}`);
    return reply.body;
  };
  const port = world.sidecar.healthPort;
  const first = await read();
  t.true(first.includes(MASK_MARKER_BASE64));
  t.is(await read(), first);
  t.is(await read(), first);
  t.is(await metric(port, 'agentgate_sidecar_mask_memo_hits_total'), 2);
  password = 'hunter2-rotated';
  const rotated = await read();
  t.true(rotated.includes(MASK_MARKER_BASE64) && rotated.includes('"resourceVersion":"2"'));
  t.is(await metric(port, 'agentgate_sidecar_mask_memo_hits_total'), 2, 'the changed Secret was masked anew');
  t.is(await metric(port, 'agentgate_sidecar_mask_memo_misses_total'), 2);
  t.true((await metric(port, 'agentgate_sidecar_mask_memo_bytes')) > 0);
});

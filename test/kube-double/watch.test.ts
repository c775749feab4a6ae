// Watch semantics of the API double: initial events, resume from a resourceVersion, 410 Expired,
// selector transitions, timeoutSeconds, sendInitialEvents bookmarks and the /watch/ path form.
import test from 'ava';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';
import { call, openWatch } from './call.ts';
import type { WatchStream } from './call.ts';

let api: KubeApiServer;
test.before(async () => {
  api = await createKubeApiServer({ watchHistorySize: 50 });
});
test.after.always(async () => {
  await api.close();
});

async function namespace(name: string): Promise<string> {
  await call(api, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  return `/api/v1/namespaces/${name}/configmaps`;
}

function cm(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { v: '1' } };
}

const summary = (w: WatchStream): string[] => w.events.map((e) => `${e.type} ${String(e.object.metadata?.name ?? '')}`);

test('a watch without resourceVersion starts with ADDED for what exists, then follows changes', async (t) => {
  const path = await namespace('w-initial');
  await call(api, 'POST', path, { body: cm('before') });
  const w = openWatch(api, `${path}?watch=true`);
  t.teardown(() => w.stop());
  t.is(await w.status, 200);
  await w.until((e) => e.length >= 2); // kube-root-ca.crt and before
  await call(api, 'POST', path, { body: cm('after') });
  await call(api, 'PATCH', `${path}/after`, { body: { data: { v: '2' } }, contentType: 'application/merge-patch+json' });
  await call(api, 'DELETE', `${path}/after`);
  await w.until((e) => e.length >= 5);
  t.deepEqual(summary(w), ['ADDED before', 'ADDED kube-root-ca.crt', 'ADDED after', 'MODIFIED after', 'DELETED after']);
  t.is(w.events[2]?.object.kind, 'ConfigMap');
});

test('a watch from a resourceVersion replays the changes after it', async (t) => {
  const path = await namespace('w-resume');
  const first = await call(api, 'POST', path, { body: cm('one') });
  await call(api, 'POST', path, { body: cm('two') });
  const w = openWatch(api, `${path}?watch=1&resourceVersion=${String(first.json.metadata?.resourceVersion)}`);
  t.teardown(() => w.stop());
  await w.until((e) => e.length >= 1);
  t.deepEqual(summary(w), ['ADDED two']);
});

test('a resourceVersion older than the history is an ERROR event with 410 Expired', async (t) => {
  const path = await namespace('w-expired');
  for (let i = 0; i < 60; i++) await call(api, 'POST', path, { body: cm(`fill-${i}`) });
  const w = openWatch(api, `${path}?watch=1&resourceVersion=1`);
  await w.ended;
  t.is(w.events.length, 1);
  t.is(w.events[0]?.type, 'ERROR');
  t.like(w.events[0]?.object, { kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
  t.regex(String(w.events[0]?.object.message), /^too old resource version: 1 \(\d+\)$/);
});

test('a label-selected watch turns label changes into ADDED and DELETED', async (t) => {
  const path = await namespace('w-selector');
  const list = await call(api, 'GET', path);
  const w = openWatch(api, `${path}?watch=1&labelSelector=tier%3Dweb&resourceVersion=${String(list.json.metadata?.resourceVersion)}`);
  t.teardown(() => w.stop());
  await call(api, 'POST', path, { body: cm('flip') });
  await call(api, 'PATCH', `${path}/flip`, { body: { metadata: { labels: { tier: 'web' } } }, contentType: 'application/merge-patch+json' });
  await call(api, 'PATCH', `${path}/flip`, { body: { metadata: { labels: { tier: 'db' } } }, contentType: 'application/merge-patch+json' });
  await w.until((e) => e.length >= 2);
  t.deepEqual(summary(w), ['ADDED flip', 'DELETED flip']);
});

test('timeoutSeconds ends the stream', async (t) => {
  const path = await namespace('w-timeout');
  const w = openWatch(api, `${path}?watch=1&timeoutSeconds=1&resourceVersion=0`);
  await w.ended;
  t.deepEqual(summary(w), ['ADDED kube-root-ca.crt']);
});

test('sendInitialEvents ends the initial state with an initial-events-end bookmark', async (t) => {
  const path = await namespace('w-initial-events');
  const w = openWatch(api, `${path}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`);
  t.teardown(() => w.stop());
  await w.until((e) => e.some((x) => x.type === 'BOOKMARK'));
  t.deepEqual(w.events.map((e) => e.type), ['ADDED', 'BOOKMARK']);
  t.deepEqual(w.events[1]?.object.metadata?.annotations, { 'k8s.io/initial-events-end': 'true' });
  const bad = await call(api, 'GET', `${path}?watch=1&sendInitialEvents=true`);
  t.is(bad.status, 422);
});

test('the deprecated /watch/ path watches one object', async (t) => {
  const path = await namespace('w-path');
  await call(api, 'POST', path, { body: cm('target') });
  await call(api, 'POST', path, { body: cm('other') });
  const w = openWatch(api, '/api/v1/watch/namespaces/w-path/configmaps/target');
  t.teardown(() => w.stop());
  await w.until((e) => e.length >= 1);
  await call(api, 'DELETE', `${path}/other`);
  await call(api, 'DELETE', `${path}/target`);
  await w.until((e) => e.length >= 2);
  t.deepEqual(summary(w), ['ADDED target', 'DELETED target']);
});

test('a Table watch sends one row per event', async (t) => {
  const path = await namespace('w-table');
  const w = openWatch(api, `${path}?watch=1`, 'application/json;as=Table;v=v1;g=meta.k8s.io');
  t.teardown(() => w.stop());
  await w.until((e) => e.length >= 1);
  t.is(w.events[0]?.object.kind, 'Table');
  t.is((w.events[0]?.object.rows as unknown[]).length, 1);
});

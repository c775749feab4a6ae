// limit/continue paging of the API double's lists, and pod logs over the API.
import test from 'ava';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';
import { call } from './call.ts';

let api: KubeApiServer;
test.before(async () => {
  api = await createKubeApiServer();
  api.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'paged' } });
  for (const n of ['a', 'b', 'c', 'd', 'e']) api.objects.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${n}`, namespace: 'paged', labels: { odd: String('ace'.includes(n)) } } });
  api.objects.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'one', namespace: 'paged' }, spec: { containers: [{ name: 'app', image: 'x' }] } });
  api.objects.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'two', namespace: 'paged' }, spec: { containers: [{ name: 'app', image: 'x' }, { name: 'side', image: 'y' }] } });
  api.setPodLogs('paged', 'one', 'app', ['l1', 'l2', 'l3']);
});
test.after.always(async () => {
  await api.close();
});

const CM = '/api/v1/namespaces/paged/configmaps';
const names = (items: Array<Record<string, unknown>> | undefined): string[] => (items ?? []).map((i) => String((i.metadata as { name?: string }).name));

test('limit and continue walk the whole list in pages at one resourceVersion', async (t) => {
  const first = await call(api, 'GET', `${CM}?limit=2`);
  t.deepEqual(names(first.json.items), ['cm-a', 'cm-b']);
  t.is(first.json.metadata?.remainingItemCount, 4);
  const seen = names(first.json.items);
  let cont = String(first.json.metadata?.continue ?? '');
  while (cont) {
    const page = await call(api, 'GET', `${CM}?limit=2&continue=${encodeURIComponent(cont)}`);
    t.is(page.json.metadata?.resourceVersion, first.json.metadata?.resourceVersion);
    seen.push(...names(page.json.items));
    cont = String(page.json.metadata?.continue ?? '');
  }
  t.deepEqual(seen, ['cm-a', 'cm-b', 'cm-c', 'cm-d', 'cm-e', 'kube-root-ca.crt']);
});

test('paging with a label selector leaves out remainingItemCount', async (t) => {
  const r = await call(api, 'GET', `${CM}?limit=1&labelSelector=odd%3Dtrue`);
  t.deepEqual(names(r.json.items), ['cm-a']);
  t.is(r.json.metadata?.remainingItemCount, undefined);
  t.truthy(r.json.metadata?.continue);
});

test('a malformed continue token is 400', async (t) => {
  const r = await call(api, 'GET', `${CM}?limit=1&continue=garbage`);
  t.is(r.status, 400);
  t.is(r.json.reason, 'BadRequest');
});

const logRows: Array<{ name: string; path: string; status: number; text?: string; message?: string }> = [
  { name: 'the only container is the default', path: '/api/v1/namespaces/paged/pods/one/log', status: 200, text: 'l1\nl2\nl3\n' },
  { name: 'tailLines keeps the last lines', path: '/api/v1/namespaces/paged/pods/one/log?tailLines=2', status: 200, text: 'l2\nl3\n' },
  { name: 'limitBytes cuts the stream', path: '/api/v1/namespaces/paged/pods/one/log?limitBytes=4', status: 200, text: 'l1\nl' },
  { name: 'a multi-container pod needs container', path: '/api/v1/namespaces/paged/pods/two/log', status: 400, message: 'a container name must be specified for pod two, choose one of: [app side]' },
  { name: 'an unknown container is 400', path: '/api/v1/namespaces/paged/pods/one/log?container=nope', status: 400, message: 'container nope is not valid for pod one' },
  { name: 'a named container of a multi-container pod', path: '/api/v1/namespaces/paged/pods/two/log?container=side', status: 200, text: '' },
  { name: 'a missing pod is 404', path: '/api/v1/namespaces/paged/pods/three/log', status: 404, message: 'pods "three" not found' },
];

for (const row of logRows) {
  test(`pod logs: ${row.name}`, async (t) => {
    const r = await call(api, 'GET', row.path);
    t.is(r.status, row.status);
    if (row.text !== undefined) t.is(r.text, row.text);
    if (row.message !== undefined) t.is(r.json.message, row.message);
  });
}

// The broker's keep-alive API clients against a plain HTTPS server that counts TLS connections:
// calls share connections across API types, every call still carries the KubeConfig's current
// token, a pool is replaced after its maximum age, and close() ends the connections.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { kubeConfigFor } from '../../src/broker/credentials/tokenrequest.ts';
import { kubeClients } from '../../src/broker/kube-clients.ts';
import { until } from './harness.ts';

const TLS = new URL('../fixtures/tls/', import.meta.url);

interface Counted {
  url: string;
  caPem: string;
  /** TLS connections accepted so far. */
  connections: number;
  open: Set<Socket>;
  authorizations: string[];
  close(): Promise<void>;
}

/** Answers a pod for any core GET and a Role for any RBAC GET, as JSON. */
async function countingServer(): Promise<Counted> {
  const [cert, key, caPem] = await Promise.all([readFile(new URL('server.crt', TLS)), readFile(new URL('server.key', TLS)), readFile(new URL('ca.crt', TLS), 'utf8')]);
  const state = { connections: 0, open: new Set<Socket>(), authorizations: [] as string[] };
  const server: Server = createServer({ cert, key }, (req, res) => {
    state.authorizations.push(req.headers.authorization ?? '');
    const body = req.url?.startsWith('/apis/rbac.authorization.k8s.io/')
      ? { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r', namespace: 'agents' }, rules: [] }
      : { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'agents', uid: 'u' }, spec: { containers: [] } };
    const text = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  });
  server.keepAliveTimeout = 60_000;
  server.on('secureConnection', (socket: Socket) => {
    state.connections++;
    state.open.add(socket);
    socket.on('close', () => state.open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caPem,
    get connections() {
      return state.connections;
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of state.open) socket.destroy();
    }),
  });
}

// undici hands a call that follows an answer at once to a second connection while the first is
// still finishing its answer, so a series of calls settles on two connections, never more.
test('calls of every API type share the pool: a series of twenty calls opens at most two connections', async (t) => {
  const server = await countingServer();
  t.teardown(() => server.close());
  const clients = kubeClients(kubeConfigFor({ name: 'c', server: server.url, ca: server.caPem }, 'token-a'));
  t.teardown(() => clients.close());
  const core = clients.api(CoreV1Api);
  const rbac = clients.api(RbacAuthorizationV1Api);
  for (let i = 0; i < 10; i++) {
    t.is((await core.readNamespacedPod({ name: 'p', namespace: 'agents' })).metadata?.name, 'p');
    t.is((await rbac.readNamespacedRole({ name: 'r', namespace: 'agents' })).metadata?.name, 'r');
  }
  t.true(server.connections <= 2, `${server.connections} TLS handshakes for twenty calls`);
});

test('concurrent calls reuse the pool: five rounds of three calls open at most six connections', async (t) => {
  const server = await countingServer();
  t.teardown(() => server.close());
  const clients = kubeClients(kubeConfigFor({ name: 'c', server: server.url, ca: server.caPem }, 'token-a'));
  t.teardown(() => clients.close());
  const core = clients.api(CoreV1Api);
  for (let round = 0; round < 5; round++) await Promise.all([1, 2, 3].map(() => core.readNamespacedPod({ name: 'p', namespace: 'agents' })));
  t.true(server.connections <= 6, `${server.connections} connections for fifteen calls`);
});

test('every call carries the KubeConfig\'s current credential, though the connection is kept', async (t) => {
  const server = await countingServer();
  t.teardown(() => server.close());
  const kubeConfig = kubeConfigFor({ name: 'c', server: server.url, ca: server.caPem }, 'token-a');
  const clients = kubeClients(kubeConfig);
  t.teardown(() => clients.close());
  const core = clients.api(CoreV1Api);
  await core.readNamespacedPod({ name: 'p', namespace: 'agents' });
  // A rotated credential (the in-cluster token file is re-read the same way): the next call uses it.
  kubeConfig.loadFromOptions({
    clusters: kubeConfig.getClusters(), contexts: kubeConfig.getContexts(), currentContext: kubeConfig.getCurrentContext(),
    users: [{ name: 'agentgate-broker', token: 'token-b' }],
  });
  await core.readNamespacedPod({ name: 'p', namespace: 'agents' });
  t.deepEqual(server.authorizations, ['Bearer token-a', 'Bearer token-b']);
  t.true(server.connections <= 2);
});

test('a pool older than its maximum age is replaced, so rotated TLS material is used', async (t) => {
  const server = await countingServer();
  t.teardown(() => server.close());
  let now = 0;
  const clients = kubeClients(kubeConfigFor({ name: 'c', server: server.url, ca: server.caPem }, 'token-a'), { maxAgeMs: 60_000, now: () => now });
  t.teardown(() => clients.close());
  const core = clients.api(CoreV1Api);
  const series = async (): Promise<void> => {
    for (let i = 0; i < 4; i++) await core.readNamespacedPod({ name: 'p', namespace: 'agents' });
  };
  await series();
  const first = server.connections;
  now = 59_999;
  await series();
  t.is(server.connections, first, 'still the first pool just before its age');
  now = 60_000;
  await core.readNamespacedPod({ name: 'p', namespace: 'agents' });
  t.is(server.connections, first + 1, 'a new pool, a new connection');
});

test('close ends the pooled connections; a later call opens a new pool', async (t) => {
  const server = await countingServer();
  t.teardown(() => server.close());
  const clients = kubeClients(kubeConfigFor({ name: 'c', server: server.url, ca: server.caPem }, 'token-a'));
  const core = clients.api(CoreV1Api);
  await core.readNamespacedPod({ name: 'p', namespace: 'agents' });
  t.is(server.open.size, 1);
  await clients.close();
  await until(() => server.open.size === 0, 5000, 'the kept connection closed');
  await core.readNamespacedPod({ name: 'p', namespace: 'agents' });
  t.is(server.connections, 2);
  t.is(server.open.size, 1);
  await clients.close();
});

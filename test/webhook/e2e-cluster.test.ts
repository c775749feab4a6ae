// The webhook against clusters it must refuse to serve normally, with real kubectl: a 1.28
// cluster (no native sidecars) gets every agent pod refused with the reason, and a pod created
// while the webhook is down is refused by failurePolicy Fail.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { installConfigurations, serviceConfig, startCluster, startService } from './service-harness.ts';

function pod(name: string, namespace: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'app', image: 'busybox' }] } });
}

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

for (const version of ['1.31', '1.33']) {
  test(`kubectl ${version}: on a 1.28 cluster the webhook refuses agent pods and says why`, async (t) => {
    const cluster = await startCluster({ version: '1.28' });
    t.teardown(() => cluster.close());
    const { service, stop } = await startService(cluster, serviceConfig(cluster));
    t.teardown(stop);
    t.is(service.cluster().gitVersion, 'v1.28.0');
    await cluster.run(version, ['create', 'namespace', 'agentgate-system']);
    await installConfigurations(cluster, service.server.url.replace('127.0.0.1', 'localhost'), cluster.api.caPem, version);
    await cluster.run(version, ['create', 'namespace', 'agents']);
    await cluster.run(version, ['label', 'namespace', 'agents', 'agentgate.io/inject=enabled']);
    const applied = await cluster.run(version, ['apply', '-f', '-'], pod('agent', 'agents'));
    t.is(applied.code, 1);
    t.is(applied.stderr.trim(), 'Error from server (Forbidden): error when creating "STDIN": admission webhook "inject.agentgate.io" denied the request: this cluster runs Kubernetes v1.28.0, which is older than 1.29 and lacks native sidecars (init containers with restartPolicy Always): upgrade the cluster, agentgate cannot inject its sidecar before 1.29');
    // Pods outside labelled namespaces are not the webhook's business, whatever the version.
    const other = await cluster.run(version, ['apply', '-f', '-'], pod('web', 'default'));
    t.is(other.code, 0, other.stderr);
  });

  test(`kubectl ${version}: a pod created while the webhook is down is refused (failurePolicy Fail)`, async (t) => {
    const cluster = await startCluster({ version: '1.31' });
    t.teardown(() => cluster.close());
    const port = await closedPort();
    await installConfigurations(cluster, `https://localhost:${port}`, cluster.api.caPem, version);
    await cluster.run(version, ['create', 'namespace', 'agents']);
    await cluster.run(version, ['label', 'namespace', 'agents', 'agentgate.io/inject=enabled']);
    const applied = await cluster.run(version, ['apply', '-f', '-'], pod('agent', 'agents'));
    t.is(applied.code, 1);
    t.is(applied.stderr.trim(), `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "inject.agentgate.io": failed to call webhook: Post "https://localhost:${port}/mutate?timeout=10s": dial tcp 127.0.0.1:${port}: connect: connection refused`);
  });
}

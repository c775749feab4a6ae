/**
 * Real kubectl against discovery, OpenAPI and Table output alone: a throwaway HTTPS server with
 * the fixture certificate serves only those handlers plus one fixed pod list.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serveDiscovery } from '../doubles/kube-api/discovery.ts';
import { serveOpenAPI } from '../doubles/kube-api/openapi.ts';
import { toTable } from '../doubles/kube-api/table.ts';
import { findResource } from '../doubles/kube-api/resources.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';

const run = promisify(execFile);
const TLS = new URL('../fixtures/tls/', import.meta.url);
const KUBECTL = (v: string): string => `/usr/lib/google-cloud-sdk/bin/kubectl.${v}`;
const started = new Date(Date.now() - 3 * 60_000 - 2_000);
const POD: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', resourceVersion: '7', creationTimestamp: started.toISOString() },
  spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'nginx' }] },
  status: { phase: 'Running', podIPs: [{ ip: '10.0.0.5' }], containerStatuses: [{ name: 'app', ready: true, restartCount: 0, state: { running: {} } }] },
};

let server: ReturnType<typeof createServer>;
let url = '';
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'discovery-kubectl-'));
  server = createServer({ key: await readFile(new URL('server.key', TLS)), cert: await readFile(new URL('server.crt', TLS)) }, (req, res) => {
    const path = req.url ?? '/';
    const accept = req.headers.accept;
    const r = serveDiscovery(path, accept, { gitVersion: 'v1.33.0' }) ?? serveOpenAPI(path, accept);
    if (r) {
      res.writeHead(r.status, { 'Content-Type': r.contentType, ...(r.vary ? { Vary: r.vary } : {}), ...r.headers });
      res.end(r.body);
      return;
    }
    if (path.startsWith('/api/v1/namespaces/default/pods') && accept?.includes('as=Table')) {
      const info = findResource('', 'pods');
      if (info) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(toTable(info, [POD], { includeObject: 'Metadata', resourceVersion: '7' })));
        return;
      }
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

async function kubectl(version: string, ...args: string[]): Promise<string> {
  const common = ['--server', url, '--certificate-authority', new URL('ca.crt', TLS).pathname, '--token', 'x', '--cache-dir', join(dir, `cache-${version}`)];
  const { stdout } = await run(KUBECTL(version), [...common, ...args], { timeout: 30_000 });
  return stdout;
}

for (const version of ['1.27', '1.33']) {
  test(`kubectl ${version} api-resources lists every served resource`, async (t) => {
    const out = await kubectl(version, 'api-resources', '--no-headers', '-o', 'name');
    const names = out.trim().split('\n').sort();
    t.deepEqual(names, [
      'clusterrolebindings.rbac.authorization.k8s.io',
      'clusterroles.rbac.authorization.k8s.io',
      'configmaps',
      'deployments.apps',
      'events',
      'localsubjectaccessreviews.authorization.k8s.io',
      'mutatingwebhookconfigurations.admissionregistration.k8s.io',
      'namespaces',
      'pods',
      'rolebindings.rbac.authorization.k8s.io',
      'roles.rbac.authorization.k8s.io',
      'secrets',
      'selfsubjectaccessreviews.authorization.k8s.io',
      'selfsubjectreviews.authentication.k8s.io',
      'selfsubjectrulesreviews.authorization.k8s.io',
      'serviceaccounts',
      'services',
      'subjectaccessreviews.authorization.k8s.io',
      'tokenreviews.authentication.k8s.io',
      'validatingwebhookconfigurations.admissionregistration.k8s.io',
    ]);
    const wide = await kubectl(version, 'api-resources', '--api-group=apps', '-o', 'wide');
    t.regex(wide, /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment\s+create,delete,deletecollection,get,list,patch,update,watch\s+all/);
  });
}

test('kubectl 1.31 explain pod.spec.containers reads the OpenAPI v3 schema', async (t) => {
  const out = await kubectl('1.31', 'explain', 'pod.spec.containers');
  t.regex(out, /^KIND:\s+Pod\nVERSION:\s+v1\n/);
  t.regex(out, /FIELD: containers <\[\]Container>/);
  t.regex(out, /name\t<string> -required-/);
  t.regex(out, /ports\t<\[\]ContainerPort>/);
  t.regex(out, /imagePullPolicy\t<string>\n\s+enum: Always, IfNotPresent, Never/);
});

test('kubectl 1.33 get pods -o wide prints the server-side Table', async (t) => {
  const out = await kubectl('1.33', 'get', 'pods', '-n', 'default', '-o', 'wide');
  const lines = out.trimEnd().split('\n');
  t.regex(lines[0] ?? '', /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
  t.regex(lines[1] ?? '', /^web\s+1\/1\s+Running\s+0\s+3m\d+s\s+10\.0\.0\.5\s+node-1\s+<none>\s+<none>$/);
});

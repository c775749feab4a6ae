// The access-request virtual API with real kubectl (1.27, 1.31, 1.33): the command a refusal
// prints works as printed, `create --raw` reaches the broker double and `get --raw` reads the
// request back, list and discovery answer; bad requests, unknown ids, other verbs and a broker
// that is away each get a Status kubectl prints. Nothing of the agentgate.io group goes upstream.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { kubectl } from '../helpers/kubectl.ts';
import { grantPodReads, startWorld, type World } from './harness.ts';

const VERSIONS = ['1.27', '1.31', '1.33'] as const;
const BASE = '/apis/agentgate.io/v1alpha1/accessrequests';

interface ObjectShape {
  kind: string;
  apiVersion: string;
  metadata: { name: string; namespace: string };
  spec: { namespaces: string[]; duration: string };
  status: { phase: string };
  items?: ObjectShape[];
}

for (const version of VERSIONS) {
  test(`kubectl ${version}: the refusal's command asks through create --raw, and get --raw reads the request back`, async (t) => {
    const world: World = await startWorld({ kubeVersion: version, deps: { brokerTimeoutMs: 3000 } });
    t.teardown(() => world.close());
    grantPodReads(world);
    const opts = { kubeconfig: world.kubeconfig };

    const denied = await kubectl(version, ['get', 'pods', '-n', 'other'], opts);
    const printed = /echo '(\{.*\})' \| kubectl create --raw (\S+) -f -/.exec(denied.stderr);
    t.truthy(printed, denied.stderr);
    const [, body = '', path = ''] = printed ?? [];
    t.is(path, BASE);
    const file = join(world.dir, 'request.json');
    await writeFile(file, body);

    // As printed, only with a file instead of stdin.
    const created = await kubectl(version, ['create', '--raw', path, '-f', file], opts);
    t.is(created.code, 0, created.stderr);
    const object = JSON.parse(created.stdout) as ObjectShape;
    t.is(object.kind, 'AccessRequest');
    t.is(object.apiVersion, 'agentgate.io/v1alpha1');
    t.is(object.metadata.namespace, 'agents');
    t.is(object.status.phase, 'Pending');
    t.deepEqual(object.spec.namespaces, ['other']);
    const stored = world.broker.accessRequests.get(object.metadata.name);
    t.deepEqual(stored?.spec.rules, [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }]);
    t.deepEqual(world.broker.violations, []);

    // The same command with stdin, as an agent would paste it.
    const piped = await kubectl(version, ['create', '--raw', path, '-f', '-'], { ...opts, input: body });
    t.is(piped.code, 0, piped.stderr);

    const read = await kubectl(version, ['get', '--raw', `${BASE}/${object.metadata.name}`], opts);
    t.is(read.code, 0, read.stderr);
    t.deepEqual(JSON.parse(read.stdout), object);

    const list = await kubectl(version, ['get', '--raw', BASE], opts);
    t.is(list.code, 0, list.stderr);
    t.deepEqual((JSON.parse(list.stdout) as ObjectShape).items?.map((i) => i.metadata.name), [...world.broker.accessRequests.keys()]);
    const namespaced = await kubectl(version, ['get', '--raw', '/apis/agentgate.io/v1alpha1/namespaces/agents/accessrequests'], opts);
    t.is((JSON.parse(namespaced.stdout) as ObjectShape).items?.length, 2);

    const discovery = await kubectl(version, ['get', '--raw', '/apis/agentgate.io/v1alpha1'], opts);
    t.like(JSON.parse(discovery.stdout), { kind: 'APIResourceList', groupVersion: 'agentgate.io/v1alpha1', resources: [{ name: 'accessrequests', kind: 'AccessRequest', namespaced: true }] });

    // Every step is audited, tied to the agent.
    await world.sidecar.auditor.flush();
    const codes = world.broker.auditBatches.flatMap((b) => b.events).filter((e) => e.attributes.apiGroup === 'agentgate.io').map((e) => `${e.attributes.verb} ${e.decision.code} ${e.response.code}`);
    // kubectl may repeat a read on a slow machine; every step is there, and each answered 2xx.
    for (const step of ['create access-request-created 201', 'get access-request-read 200', 'list access-request-read 200']) t.true(codes.includes(step), `${step} in ${JSON.stringify(codes)}`);
    t.is(codes.filter((c) => c.startsWith('create ')).length, 2);
    t.true(codes.every((c) => / 20[01]$/.test(c)), JSON.stringify(codes));
  });

  test(`kubectl ${version}: invalid requests, unknown ids, other verbs and an absent broker get a Status kubectl prints`, async (t) => {
    const world = await startWorld({ kubeVersion: version, deps: { brokerTimeoutMs: 3000 } });
    t.teardown(() => world.close());
    const opts = { kubeconfig: world.kubeconfig };
    const file = join(world.dir, 'bad.json');
    await writeFile(file, JSON.stringify({ apiVersion: 'agentgate.io/v1alpha1', kind: 'AccessRequest', spec: { rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }], namespaces: ['agents'], duration: '30m' } }));
    const rows: Array<{ name: string; args: string[]; stderr: RegExp }> = [
      { name: 'no reason', args: ['create', '--raw', BASE, '-f', file], stderr: /^Error from server \(BadRequest\): agentgate: the access request is invalid: spec\.reason: is required/ },
      { name: 'an unknown id', args: ['get', '--raw', `${BASE}/ar-404`], stderr: /^Error from server \(NotFound\): agentgate: not found: accessrequests\.agentgate\.io "ar-404" is not an access request of this agent/ },
      { name: 'delete is not served', args: ['delete', '--raw', `${BASE}/ar-1`], stderr: /^Error from server \(MethodNotAllowed\): agentgate: accessrequests support create, get and list only: delete is not one of them/ },
      { name: 'another resource of the group', args: ['get', '--raw', '/apis/agentgate.io/v1alpha1/grants'], stderr: /^Error from server \(NotFound\): agentgate: not found: the agentgate\.io group serves only/ },
    ];
    for (const row of rows) {
      const run = await kubectl(version, row.args, opts);
      t.is(run.code, 1, row.name);
      t.regex(run.stderr, row.stderr, row.name);
    }
    t.is(world.broker.accessRequests.size, 0);

    world.broker.mode = 'down';
    await writeFile(file, JSON.stringify({ apiVersion: 'agentgate.io/v1alpha1', kind: 'AccessRequest', spec: { rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }], namespaces: ['agents'], duration: '30m', reason: 'read the db password' } }));
    const down = await kubectl(version, ['create', '--raw', BASE, '-f', file], opts);
    t.regex(down.stderr, /^Error from server \(ServiceUnavailable\): agentgate: the broker cannot be reached, so no decision could be made; retry shortly/);
  });
}

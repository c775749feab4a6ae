// The grant stream and the operator commands: grant, credential and revocation events reach the
// agent's sidecars; `agentgate revoke --all` and `agentgate freeze` (the real CLI, over the
// operator API) reach every connected stream within one second, measured; resumption with since.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/run.ts';
import type { ExitCode } from '../../src/cli/exit-codes.ts';
import { kubeconfigYaml } from '../doubles/kube-api/kubeconfig.ts';
import { AGENT_NS, attrs, decide, openStream, startBrokerWorld, until, type BrokerWorld, type OpenStream } from './harness.ts';
import type { BrokerClient } from '../../sidecar/broker.ts';

const CA_FILE = fileURLToPath(new URL('../fixtures/tls/ca.crt', import.meta.url));
const AGENTS = 6;
let world: BrokerWorld;
let operatorConfig: string;
let strangerConfig: string;

interface Agent {
  uid: string;
  client: BrokerClient;
  stream: OpenStream;
}
const agents: Agent[] = [];

test.before(async () => {
  world = await startBrokerWorld();
  operatorConfig = join(world.dir, 'operator.kubeconfig');
  strangerConfig = join(world.dir, 'stranger.kubeconfig');
  await writeFile(operatorConfig, kubeconfigYaml({ server: world.kube.url, caPem: world.kube.caPem, token: await world.operatorToken('ops', true), user: 'ops' }));
  await writeFile(strangerConfig, kubeconfigYaml({ server: world.kube.url, caPem: world.kube.caPem, token: await world.operatorToken('stranger', false), user: 'stranger' }));
  for (let i = 0; i < AGENTS; i++) {
    const pod = world.pod(`stream-${i}`, { agent: `stream-bot-${i}` });
    const client = await world.client(await world.podToken(pod));
    const stream = await openStream(client);
    agents.push({ uid: pod.metadata.uid ?? '', client, stream });
  }
  await until(() => agents.every((a) => a.stream.events.some((e) => e.event.type === 'hello')), 5000, 'every hello');
});
test.after.always(async () => {
  for (const a of agents) {
    a.stream.close();
    a.client.close();
  }
  await world?.close();
});

async function cli(args: string[], config = operatorConfig): Promise<{ code: ExitCode; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli([...args, '--broker-url', world.broker.url, '--broker-ca', CA_FILE, '--kubeconfig', config], {
    stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {},
  });
  return { code, out, err };
}

/** Every agent gets a fresh grant and waits for its credential; returns the grant ids. */
async function grantAll(): Promise<string[]> {
  const ids: string[] = [];
  for (const a of agents) {
    const answer = await decide(a.client, attrs('list', 'pods', AGENT_NS), a.uid);
    if (!answer.ok || answer.value.grant === undefined) throw new Error(JSON.stringify(answer));
    ids.push(answer.value.grant.id);
  }
  await until(() => agents.every((a, i) => a.stream.events.some((e) => e.event.type === 'credential' && e.event.credential.grantId === ids[i])), 5000, 'every credential');
  return ids;
}

/** The latest arrival, across streams, of the first event after `since` that `match` accepts. */
async function maxArrival(since: number, match: (a: Agent, i: number, e: OpenStream['events'][number]['event']) => boolean): Promise<number> {
  await until(() => agents.every((a, i) => a.stream.events.some((e) => e.at >= since && match(a, i, e.event))), 3000, 'the event on every stream');
  return Math.max(...agents.map((a, i) => (a.stream.events.find((e) => e.at >= since && match(a, i, e.event))?.at ?? Infinity) - since));
}

test.serial('grant, credential and revocation events reach the stream; a sidecar resumes after its last seq', async (t) => {
  const [id] = await grantAll();
  const first = agents[0];
  if (!first || !id) return t.fail();
  t.true(first.stream.events.some((e) => e.event.type === 'grant' && e.event.grant.id === id));
  const seen = Math.max(...first.stream.events.map((e) => (e.event.type === 'hello' || e.event.type === 'heartbeat' || e.event.type === 'unknown' ? 0 : e.event.seq)));
  const revoked = await cli(['revoke', id]);
  t.is(revoked.code, 0, revoked.err);
  t.regex(revoked.out, new RegExp(`revoked ${id}`));
  await until(() => first.stream.events.some((e) => e.event.type === 'revocation' && e.event.grantId === id && e.event.reason === 'revoked'), 2000, 'revocation');

  const resumed = await openStream(first.client, seen);
  t.teardown(() => resumed.close());
  await until(() => resumed.events.some((e) => e.event.type === 'revocation'), 3000, 'resumed revocation');
  const hello = resumed.events[0]?.event;
  t.true(hello?.type === 'hello' && hello.resumed, JSON.stringify(hello));
  t.false(resumed.events.some((e) => e.event.type === 'grant'), 'events before since are not sent again');
  const again = await cli(['revoke', id]);
  t.is(again.code, 1);
  t.regex(again.err, /not-found: No live grant/);
});

test.serial(`revoke --all reaches all ${AGENTS} connected streams within 1 s`, async (t) => {
  const ids = await grantAll();
  const listed = await cli(['grants']);
  t.is(listed.code, 0, listed.err);
  for (const id of ids) t.true(listed.out.includes(id), `grants lists ${id}`);
  const start = performance.now();
  const revoked = await cli(['revoke', '--all', '--namespace', AGENT_NS]);
  t.is(revoked.code, 0, revoked.err);
  const max = await maxArrival(start, (_a, i, e) => e.type === 'revocation' && e.grantId === ids[i]);
  t.log(`revoke --all: slowest of ${AGENTS} streams got its revocation ${max.toFixed(1)} ms after the command started`);
  t.true(max <= 1000, `${max} ms`);
  t.regex((await cli(['grants'])).out, /No live grants/);
});

test.serial(`freeze reaches all ${AGENTS} connected streams within 1 s and denies every decision; --undo resumes`, async (t) => {
  const ids = await grantAll();
  const start = performance.now();
  const frozen = await cli(['freeze']);
  t.is(frozen.code, 0, frozen.err);
  t.regex(frozen.out, /frozen by system:serviceaccount:agentgate-system:ops/);
  const max = await maxArrival(start, (_a, _i, e) => e.type === 'revocation' && e.grantId === 'all' && e.reason === 'frozen');
  t.log(`freeze: slowest of ${AGENTS} streams got "revocation all frozen" ${max.toFixed(1)} ms after the command started`);
  t.true(max <= 1000, `${max} ms`);
  const denied = await decide(agents[0]!.client, attrs('list', 'pods', AGENT_NS), agents[0]!.uid);
  t.true(denied.ok && denied.value.outcome === 'deny' && denied.value.reason.code === 'frozen', JSON.stringify(denied));
  t.regex((await cli(['grants'])).out, /FROZEN by system:serviceaccount:agentgate-system:ops/);

  const thawStart = performance.now();
  const thawed = await cli(['freeze', '--undo']);
  t.is(thawed.code, 0, thawed.err);
  // The grants are still live: the sidecars, which dropped them, get them and their credentials again.
  await maxArrival(thawStart, (_a, i, e) => e.type === 'credential' && e.credential.grantId === ids[i]);
  const allowed = await decide(agents[0]!.client, attrs('list', 'pods', AGENT_NS), agents[0]!.uid);
  t.true(allowed.ok && allowed.value.reason.code === 'grant-live' && allowed.value.grant?.id === ids[0], JSON.stringify(allowed));
});

test.serial('an operator without the agentgate role is refused by the SubjectAccessReview', async (t) => {
  const rows: Array<[string, string[]]> = [['grants', ['grants']], ['revoke --all', ['revoke', '--all']], ['freeze', ['freeze']]];
  for (const [name, args] of rows) {
    const answer = await cli(args, strangerConfig);
    t.is(answer.code, 1, name);
    t.regex(answer.err, /forbidden: system:serviceaccount:agentgate-system:stranger may not/, name);
  }
  const frozen = await world.broker.store.frozen();
  t.is(frozen, undefined);
});

test.serial('agentgate request prints the id and waits for the decision', async (t) => {
  const args = ['request', '--agent', 'stream-bot-0', '--namespace', AGENT_NS, '--verbs', 'get,list', '--resources', 'pods,deployments', '--duration', '30m', '--reason', 'incident 42'];
  const running = cli(args);
  const id = await (async () => {
    let found: string | undefined;
    await until(async () => {
      const granted = await world.broker.redis.client.keys('ag:accessrequest:*');
      for (const key of granted) {
        const request = await world.broker.accessRequests.get(key.slice('ag:accessrequest:'.length));
        if (request?.spec.reason === 'incident 42') found = request.id;
      }
      return found !== undefined;
    }, 5000, 'the request');
    return found ?? '';
  })();
  const request = await world.broker.accessRequests.get(id);
  t.deepEqual(request?.spec.rules, [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }, { verbs: ['get', 'list'], apiGroups: ['apps'], resources: ['deployments'] }]);
  t.is(await world.broker.accessRequests.requestedBy(id), 'system:serviceaccount:agentgate-system:ops');
  await world.broker.approve(id, 'bob');
  const done = await running;
  t.is(done.code, 0, done.err);
  t.regex(done.out, new RegExp(`^${id}\\nGranted by bob: grant g-[0-9a-f]+\\n$`));
});

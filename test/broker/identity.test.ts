// Who may call the broker: the projected token of an injected pod (TokenReview with the broker's
// audience, pod binding, the webhook's annotations) and nothing else, each refusal with its exact
// BrokerError; operators by TokenReview and SubjectAccessReview on agentgate.io.
import test from 'ava';
import https from 'node:https';
import { attrs, AGENT_NS, decide, startBrokerWorld, type BrokerWorld } from './harness.ts';

let world: BrokerWorld;
test.before(async () => {
  world = await startBrokerWorld({ broker: { identityCacheMs: 0 } });
});
test.after.always(async () => {
  await world?.close();
});

test('an injected pod\'s projected token gets decisions under its identity', async (t) => {
  const pod = world.pod('agent-ok');
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  const answer = await decide(client, attrs('list', 'pods', AGENT_NS), pod.metadata.uid);
  t.true(answer.ok, JSON.stringify(answer));
  if (!answer.ok) return;
  t.is(answer.value.outcome, 'allow');
  t.is(answer.value.reason.code, 'grant-created');
  const grant = answer.value.grant?.id ?? '';
  const stored = await world.broker.store.get(grant);
  t.deepEqual(stored?.grant.identity, { connection: 'test', namespace: AGENT_NS, agent: 'agent-a' });
});

interface RefusalRow {
  name: string;
  token: () => Promise<string>;
  podUid?: () => string;
  status: number;
  code: string;
  message?: RegExp;
}

const rows: RefusalRow[] = [
  // Tokens the TokenReview does not accept.
  { name: 'a token of the pod with the API server\'s audience, not the broker\'s', token: async () => world.podToken(world.pod('agent-aud'), 'https://kubernetes.default.svc'), status: 401, code: 'unauthenticated' },
  { name: 'a token of another audience altogether', token: async () => world.podToken(world.pod('agent-aud2'), 'vault'), status: 401, code: 'unauthenticated' },
  { name: 'a token that is no token', token: async () => 'not-a-token', status: 401, code: 'unauthenticated' },
  { name: 'the admin token of the cluster (audience-agnostic static token)', token: async () => world.kube.adminToken, status: 401, code: 'unauthenticated' },
  {
    name: 'a token of a pod deleted since',
    token: async () => {
      const pod = world.pod('agent-gone');
      const token = await world.podToken(pod);
      world.kube.objects.delete('pods', AGENT_NS, 'agent-gone');
      return token;
    },
    status: 401,
    code: 'unauthenticated',
  },
  // Tokens that authenticate, of pods that are not agents.
  { name: 'a pod the webhook did not inject', token: async () => world.podToken(world.pod('plain-pod', { injected: false })), status: 403, code: 'not-injected', message: /not injected by agentgate.*agents\/plain-pod/ },
  { name: 'an operator\'s service account token (no pod binding)', token: async () => world.operatorToken('not-a-pod', false), status: 401, code: 'unauthenticated' },
  // The sidecar names a pod other than its token's.
  { name: 'a podUid that is not the token\'s pod', token: async () => world.podToken(world.pod('agent-uid')), podUid: () => '00000000-0000-4000-8000-000000000000', status: 403, code: 'identity-invalid' },
];

for (const row of rows) {
  test(`refused: ${row.name}`, async (t) => {
    const client = await world.client(await row.token());
    t.teardown(() => client.close());
    const answer = await decide(client, attrs('list', 'pods', AGENT_NS), row.podUid?.());
    t.false(answer.ok);
    if (answer.ok || answer.kind !== 'refused') return t.fail(JSON.stringify(answer));
    t.is(answer.status, row.status);
    t.is(answer.error?.code, row.code);
    if (row.message) t.regex(answer.error?.message ?? '', row.message);
  });
}

test('a missing bearer token is unauthenticated on every route, and a foreign contract version is refused', async (t) => {
  const call = (path: string, headers: Record<string, string>) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(`${world.broker.url}${path}`, { method: path === '/v1/stream' ? 'GET' : 'POST', ca: world.caPem, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(path === '/v1/stream' ? undefined : '{}');
  });
  for (const path of ['/v1/decisions', '/v1/stream', '/v1/audit', '/v1/accessrequests']) {
    const answer = await call(path, {});
    t.is(answer.status, 401, path);
    t.is((JSON.parse(answer.body) as { code: string }).code, 'unauthenticated', path);
  }
  const v2 = await call('/v1/decisions', { 'agentgate-contract': 'v2' });
  t.is(v2.status, 400);
  t.is((JSON.parse(v2.body) as { code: string }).code, 'contract-unsupported');
});

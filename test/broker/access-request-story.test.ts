// The access-request story end to end, per kubectl version: real kubectl → the real sidecar → the
// real broker → the API double. The agent lists pods (granted on demand), is refused on Secrets with
// the command to ask, asks through `kubectl create --raw`, a human approves, it reads Secrets
// (masked), and after the short grant ends it is refused again, the grant's service account, Role
// and RoleBinding are gone from the double while its token is still within its lifetime, and the
// audit holds every step under the agent's identity.
import test from 'ava';
import https from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { auditRecords, type AuditRecord } from '../../src/audit/index.ts';
import { grantAccessRequest } from '../../src/broker/approve.ts';
import { GRANT_LABEL, grantObjectName } from '../../src/broker/credentials/tokenrequest.ts';
import type { Credential } from '../../src/contracts/index.ts';
import { defaultMaskingRules } from '../../src/masking/rules.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { kubectl } from '../helpers/kubectl.ts';
import { AGENT_NS, AGENTGATE_NS, CONNECTION, startAgentSidecar, startBrokerWorld, until, type AgentSidecar, type BrokerWorld } from './harness.ts';

const VERSIONS = ['1.27', '1.31', '1.35'] as const;
const BASE = '/apis/agentgate.io/v1alpha1/accessrequests';
/** The grant's life once approved: long enough for two kubectl runs, short enough to wait out. */
const GRANT_TTL_MS = 5000;
const APPROVER = 'alice@example.com';
/** The refusal a Secrets read gets while no grant covers it: what happened and the exact command to ask. */
const REFUSED = /Error from server \(Forbidden\): agentgate denied the request: No policy rule covers this request.*To ask for list secrets in namespace agents: echo '(\{.*\})' \| kubectl create --raw (\S+) -f -/;

let world: BrokerWorld;

test.before(async () => {
  world = await startBrokerWorld();
  // The default policy with its fallback set to deny: what no rule names is refused with the
  // command to ask for it. (With the shipped fallback, approve, the broker files the request itself
  // and the refusal names `kubectl get --raw …/accessrequests/ar-…` instead: see sidecar.test.ts.)
  const file = world.config.broker.policyFile;
  const policy = (await readFile(file, 'utf8')).replace(/^default:\n {2}outcome: approve$/m, 'default:\n  outcome: deny');
  await writeFile(file, policy);
  const reloaded = await world.broker.policy.reload();
  if (!reloaded.ok || world.broker.policy.current()?.default.outcome !== 'deny') throw new Error(`policy: ${JSON.stringify(reloaded)}`);
});
test.after.always(async () => {
  await world?.close();
});

/** An agent pod with the real sidecar (the real mask stage) in front of the double. */
const startAgent = (name: string): Promise<AgentSidecar> => startAgentSidecar(world, name, name, createMaskResponse({ rules: defaultMaskingRules }));

/** The grant's objects in the double, by kind. */
function grantObjects(grantId: string): Record<string, string[]> {
  const of = (resource: string): string[] => world.kube.objects.list(resource).filter((o) => o.metadata.labels?.[GRANT_LABEL] === grantId).map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`);
  return { serviceAccounts: of('serviceaccounts'), roles: of('roles.rbac.authorization.k8s.io'), roleBindings: of('rolebindings.rbac.authorization.k8s.io') };
}

/** GET with a bearer token straight at the double (not through the sidecar): the HTTP status. */
function doubleStatus(path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${world.kube.url}${path}`, { ca: world.kube.caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

interface AccessRequestObject {
  kind: string;
  metadata: { name: string; namespace: string };
  spec: { rules: unknown[]; namespaces: string[]; duration: string };
  status: { phase: string };
}

for (const version of VERSIONS) {
  test.serial(`kubectl ${version}: pods on demand, refused on Secrets, asks with create --raw, approved, reads, loses access when the grant ends; all audited`, async (t) => {
    const name = `story-${version.replace('.', '-')}`;
    const { identity, sidecar, kubeconfig } = await startAgent(name);
    t.teardown(() => sidecar.close());
    const opts = { kubeconfig };

    // 1. Pods of its own namespace: granted on demand by the default policy's read rule.
    const pods = await kubectl(version, ['get', 'pods', '-o', 'name'], opts);
    t.is(pods.code, 0, pods.stderr);
    t.regex(pods.stdout, /^pod\/web-0$/m);
    t.regex(pods.stdout, new RegExp(`^pod/${name}$`, 'm'));

    // 2. Secrets: refused, with the exact command to ask for them.
    const refused = await kubectl(version, ['get', 'secrets'], opts);
    t.is(refused.code, 1);
    t.is(refused.stdout, '');
    const printed = REFUSED.exec(refused.stderr);
    if (printed === null) return t.fail(`no command to ask in: ${refused.stderr}`);
    const [, printedBody = '', path = ''] = printed;
    t.is(path, BASE);
    const asked = JSON.parse(printedBody) as { apiVersion: string; kind: string; spec: { rules: unknown[]; namespaces: string[]; duration: string; reason: string } };
    t.deepEqual(asked.spec.rules, [{ verbs: ['list'], apiGroups: [''], resources: ['secrets'] }]);
    t.deepEqual(asked.spec.namespaces, [AGENT_NS]);
    t.notRegex(refused.stderr, /hunter2|aHVudGVyMg/);

    // 3. Asks as printed (stdin), for get and list, for the shortest duration the contract allows.
    const body = { ...asked, spec: { ...asked.spec, rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['secrets'] }], duration: '1m', reason: 'read the database password to debug the failing migration' } };
    const created = await kubectl(version, ['create', '--raw', path, '-f', '-'], { ...opts, input: JSON.stringify(body) });
    t.is(created.code, 0, created.stderr);
    const request = JSON.parse(created.stdout) as AccessRequestObject;
    t.is(request.kind, 'AccessRequest');
    t.regex(request.metadata.name, /^ar-[0-9a-f]{16}$/);
    t.is(request.metadata.namespace, AGENT_NS);
    t.is(request.status.phase, 'Pending');
    t.is(request.spec.duration, '1m');
    const pending = await kubectl(version, ['get', '--raw', `${BASE}/${request.metadata.name}`], opts);
    t.is(pending.code, 0, pending.stderr);
    t.is((JSON.parse(pending.stdout) as AccessRequestObject).status.phase, 'Pending');
    t.is((await kubectl(version, ['get', 'secrets'], opts)).code, 1, 'nothing is granted while the request waits');

    // 4. A human approves through the broker's approval path; the cap stands in for a short TTL
    //    (the contract's minimum duration is a minute).
    const settle = { accessRequests: world.broker.accessRequests, store: world.broker.store, lifecycle: world.broker.lifecycle, roles: world.broker.kube, maxGrantTtlMs: GRANT_TTL_MS };
    const granted = await grantAccessRequest(settle, request.metadata.name, APPROVER);
    t.is(granted?.status.phase, 'Granted');
    const grantId = granted?.status.grantId ?? '';
    const record = await world.broker.store.get(grantId);
    t.like(record?.grant, { approvedBy: APPROVER, accessRequestId: request.metadata.name, namespaces: [AGENT_NS], identity: { connection: CONNECTION, namespace: AGENT_NS, agent: name } });
    t.deepEqual(grantObjects(grantId), {
      serviceAccounts: [`${AGENTGATE_NS}/${grantObjectName(grantId)}`],
      roles: [`${AGENT_NS}/${grantObjectName(grantId)}`],
      roleBindings: [`${AGENT_NS}/${grantObjectName(grantId)}`],
    });
    const readBack = await kubectl(version, ['get', '--raw', `${BASE}/${request.metadata.name}`], opts);
    t.is((JSON.parse(readBack.stdout) as AccessRequestObject).status.phase, 'Granted', readBack.stderr);

    const secrets = await kubectl(version, ['get', 'secrets'], opts);
    t.is(secrets.code, 0, secrets.stderr);
    t.regex(secrets.stdout, /^NAME\s+TYPE\s+DATA\s+AGE\n/);
    t.regex(secrets.stdout, /^db-password\s+Opaque\s+1\s/m);
    const secret = await kubectl(version, ['get', 'secret', 'db-password', '-o', 'json'], opts);
    t.is(secret.code, 0, secret.stderr);
    t.true(Object.keys((JSON.parse(secret.stdout) as { data: Record<string, string> }).data).includes('password'));
    t.notRegex(secret.stdout, /hunter2|aHVudGVyMg/, 'the value is masked');
    // The credential the sidecar forwarded with, kept to show the token outlives the grant.
    const credential: Credential | undefined = sidecar.state.credential(grantId);
    if (credential === undefined) return t.fail('the sidecar holds no credential for the grant');

    // 5. The grant ends: the sidecar lets go of it, the broker no longer holds it, and the same
    //    command is refused again with the same advice.
    const ends = Date.parse(record?.grant.expiresAt ?? '');
    await until(async () => sidecar.state.grant(grantId) === undefined && (await world.broker.store.get(grantId)) === undefined, GRANT_TTL_MS + 10_000, 'the grant ended');
    t.true(Date.now() >= ends, 'not before its end');
    const after = await kubectl(version, ['get', 'secrets'], opts);
    t.is(after.code, 1);
    t.is(after.stdout, '');
    t.regex(after.stderr, REFUSED);
    t.notRegex(after.stderr, /hunter2|aHVudGVyMg/);
    // The expiry job removed the account, the Role and the RoleBinding; the token, within its
    // lifetime still, is refused by the API server because its account is gone.
    await until(() => Object.values(grantObjects(grantId)).every((names) => names.length === 0), 10_000, "the grant's objects removed from the double");
    t.deepEqual(grantObjects(grantId), { serviceAccounts: [], roles: [], roleBindings: [] });
    t.true(Date.parse(credential.expiresAt) - Date.now() > 5 * 60_000, `token expires at ${credential.expiresAt}`);
    t.is(await doubleStatus(`/api/v1/namespaces/${AGENT_NS}/secrets`, credential.token), 401);

    // 6. The audit: every step, in order, under the agent's identity (the sidecar's events carry
    //    the answer kubectl got; the broker's own decision events carry code 0).
    await sidecar.auditor.flush();
    await world.broker.auditor.flush();
    const steps: Array<{ name: string; match: (r: AuditRecord) => boolean }> = [
      { name: 'pods listed', match: (r) => r.event.attributes.resource === 'pods' && r.event.attributes.verb === 'list' && r.event.decision.outcome === 'allow' && r.event.response.code === 200 },
      { name: 'secrets refused', match: (r) => r.event.attributes.resource === 'secrets' && r.event.decision.outcome === 'deny' && r.event.decision.code === 'policy-no-rule' && r.event.response.code === 403 },
      { name: 'access request created', match: (r) => r.event.attributes.apiGroup === 'agentgate.io' && r.event.attributes.verb === 'create' && r.event.decision.code === 'access-request-created' && r.event.response.code === 201 },
      { name: 'secrets listed under the grant', match: (r) => r.event.attributes.resource === 'secrets' && r.event.attributes.verb === 'list' && r.event.decision.outcome === 'allow' && r.event.grantId === grantId && r.event.response.code === 200 },
      { name: 'secret read masked', match: (r) => r.event.attributes.resource === 'secrets' && r.event.attributes.verb === 'get' && r.event.grantId === grantId && r.event.masked > 0 && r.event.response.code === 200 },
      { name: 'secrets refused after the end', match: (r) => r.event.attributes.resource === 'secrets' && r.event.decision.outcome === 'deny' && r.event.response.code === 403 && Date.parse(r.event.time) >= ends - 1000 },
    ];
    let records: AuditRecord[] = [];
    await until(async () => {
      records = [];
      for await (const r of auditRecords(world.broker.audit, { podUid: identity.podUid })) records.push(r);
      return steps.every((step) => records.some(step.match));
    }, 10_000, 'every step in the audit');
    let last = -1;
    for (const step of steps) {
      const at = records.findIndex((r, i) => i > last && step.match(r));
      t.true(at > last, `${step.name}, after the step before it`);
      if (at > last) last = at;
    }
    for (const r of records) t.like(r.event.identity, { connection: CONNECTION, namespace: AGENT_NS, agent: name, podUid: identity.podUid }, JSON.stringify(r.event.attributes));
    t.true(records.some((r) => r.event.response.code === 0 && r.event.grantId === grantId), "the broker's own decision under the grant");
  });
}

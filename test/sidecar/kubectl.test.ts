// The sidecar through real kubectl (1.31 and 1.33), forwarding to the API double with a grant's
// credential and asking the broker double: what an agent sees when it is allowed, refused, when
// the broker is down or slow, and when its grant is revoked under a running `kubectl get -w`.
import test from 'ava';
import { kubectl, startKubectl } from '../helpers/kubectl.ts';
import { grantPodReads, startWorld, until, type World } from './harness.ts';

const VERSIONS = ['1.31', '1.33'] as const;

/** Waits for a running kubectl to exit by itself; resolves with the ms it took and what it printed. */
async function exitOf(run: Awaited<ReturnType<typeof startKubectl>>, timeoutMs: number): Promise<string> {
  try {
    await run.waitFor(/(?!)/, timeoutMs);
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

for (const version of VERSIONS) {
  test(`kubectl ${version}: allowed, refused by the broker, out of the grant's scope, broker down and slow`, async (t) => {
    const world: World = await startWorld({ kubeVersion: version });
    t.teardown(() => world.close());
    grantPodReads(world);
    const opts = { kubeconfig: world.kubeconfig };

    // Allowed: the list reaches the double with the grant's credential.
    const allowed = await kubectl(version, ['get', 'pods', '-o', 'name'], opts);
    t.is(allowed.code, 0, allowed.stderr);
    t.is(allowed.stdout.trim(), 'pod/web-0');

    // Denied by the broker: kubectl prints the Status, with the command that asks for access.
    const denied = await kubectl(version, ['get', 'pods', '-n', 'other'], opts);
    t.is(denied.code, 1);
    t.regex(denied.stderr, /^Error from server \(Forbidden\): agentgate denied the request: No grant covers this request\./);
    t.true(denied.stderr.includes('kubectl create --raw /apis/agentgate.io/v1alpha1/accessrequests -f -'), denied.stderr);
    t.true(denied.stderr.includes('"resources":["pods"]') && denied.stderr.includes('"namespaces":["other"]'), denied.stderr);

    // A broker that allows beyond the grant (a bug) is not trusted: the sidecar enforces the rules itself.
    world.broker.table.unshift({ name: 'buggy: secrets under the pods grant', when: (a) => a.resource === 'secrets', outcome: 'allow', grantId: 'g-pods' });
    const outOfScope = await kubectl(version, ['get', 'secrets'], opts);
    t.is(outOfScope.code, 1);
    t.regex(outOfScope.stderr, /^Error from server \(Forbidden\): agentgate: the grant does not cover this request: grant g-pods does not cover list secrets in namespace agents\./);
    world.broker.table.shift();

    // Approval required: a 403 naming the access request.
    world.broker.table.unshift({ name: 'needs approval', when: (a) => a.resource === 'configmaps', outcome: 'approval-required', approvalRequestId: 'ar-42' });
    const approval = await kubectl(version, ['get', 'configmaps'], opts);
    t.regex(approval.stderr, /^Error from server \(Forbidden\): agentgate: this request needs a human approval: .*Access request ar-42 is waiting for a human/);

    // Broker slow: a 503 within the bound (500 ms here), not a hang.
    world.broker.mode = 'slow';
    world.broker.dropStreams(); // the cached allow must not be used while the stream is down
    await until(() => !world.sidecar.state.streamConnected, 2000, 'stream to drop');
    const startedSlow = performance.now();
    const slow = await kubectl(version, ['get', 'pods'], opts);
    const slowMs = performance.now() - startedSlow;
    t.regex(slow.stderr, /^Error from server \(ServiceUnavailable\): agentgate: the broker did not answer in time, so no decision could be made; retry shortly/);
    t.true(slowMs < 5000, `kubectl took ${slowMs} ms`);

    // Broker down: connections reset, a 503 that says so.
    world.broker.mode = 'down';
    world.broker.dropStreams();
    const down = await kubectl(version, ['get', 'pods'], opts);
    t.is(down.code, 1);
    t.regex(down.stderr, /^Error from server \(ServiceUnavailable\): agentgate: the broker cannot be reached, so no decision could be made; retry shortly/);
  });

  test(`kubectl ${version}: a revocation on the stream cuts a running get -w within 1 s`, async (t) => {
    const world = await startWorld({ kubeVersion: version });
    t.teardown(() => world.close());
    const grantId = grantPodReads(world);
    const watch = await startKubectl(version, ['get', 'pods', '-w'], { kubeconfig: world.kubeconfig });
    t.teardown(async () => void (await watch.stop()));
    await watch.waitFor(/web-0/);
    // The cut is registered before the API server answers; the upstream watch opens a moment later.
    await until(() => world.kube.openWatches('pods') === 1, 5000, 'the upstream watch to open');
    t.is(world.sidecar.state.openResponses(), 1);

    const revokedAt = performance.now();
    world.broker.revoke(grantId);
    const exit = await exitOf(watch, 5000);
    const elapsed = performance.now() - revokedAt;
    t.true(elapsed < 1000, `kubectl get -w ended ${Math.round(elapsed)} ms after the revocation`);
    t.log(`kubectl ${version} get -w cut ${Math.round(elapsed)} ms after the revocation`);
    t.regex(exit, /kubectl exited/);
    // The upstream watch is gone too, and the next call is refused rather than served from cache.
    await until(() => world.kube.openWatches('pods') === 0, 2000, 'the upstream watch to close');
    const after = await kubectl(version, ['get', 'pods'], { kubeconfig: world.kubeconfig });
    t.regex(after.stderr, /^Error from server \(Forbidden\): agentgate denied the request: No grant covers this request/);
  });

  test(`kubectl ${version}: --as is refused with a 403 and never reaches the API server`, async (t) => {
    const world = await startWorld({ kubeVersion: version });
    t.teardown(() => world.close());
    grantPodReads(world);
    const before = world.broker.decisions.length;
    // `get --raw`: plain `get` fails in discovery first, where kubectl prints only "unknown".
    const result = await kubectl(version, ['get', '--raw', '/api/v1/namespaces/agents/pods', '--as', 'system:admin', '--as-group', 'system:masters'], { kubeconfig: world.kubeconfig });
    t.is(result.code, 1);
    t.regex(result.stderr, /^Error from server \(Forbidden\): agentgate: impersonation is not allowed: remove the Impersonate-\* headers/);
    t.is(world.broker.decisions.length, before, 'no decision was even asked for');
  });
}

// The real chain: real kubectl → the real sidecar (sidecar/start.ts) → the real broker → the API
// double. kubectl lists pods (discovery and the read granted on demand), is refused on secrets
// with a Status that names the command to follow up, and loses access at `agentgate freeze`.
import test from 'ava';
import type { Sidecar } from '../../sidecar/start.ts';
import { kubectl } from '../helpers/kubectl.ts';
import { testMasker } from '../sidecar/harness.ts';
import { startAgentSidecar, startBrokerWorld, until, type BrokerWorld } from './harness.ts';

const VERSIONS = ['1.31', '1.33'];
let world: BrokerWorld;
let sidecar: Sidecar;
let kubeconfig: string;

test.before(async () => {
  world = await startBrokerWorld();
  ({ sidecar, kubeconfig } = await startAgentSidecar(world, 'agent-kubectl', 'kubectl-bot', testMasker));
});
test.after.always(async () => {
  await sidecar?.close();
  await world?.close();
});

for (const version of VERSIONS) {
  test.serial(`kubectl ${version}: lists pods granted on demand, is refused on secrets with the command to follow`, async (t) => {
    const pods = await kubectl(version, ['get', 'pods', '-o', 'name'], { kubeconfig });
    t.is(pods.code, 0, pods.stderr);
    t.regex(pods.stdout, /pod\/web-0/);
    t.regex(pods.stdout, /pod\/agent-kubectl/);

    const other = await kubectl(version, ['get', 'pods', '-n', 'other'], { kubeconfig });
    t.not(other.code, 0);
    t.regex(other.stderr, /Error from server \(Forbidden\).*human approval.*kubectl get --raw \/apis\/agentgate\.io\/v1alpha1\/accessrequests\/ar-[0-9a-f]+/);

    const secrets = await kubectl(version, ['get', 'secrets'], { kubeconfig });
    t.not(secrets.code, 0);
    t.regex(secrets.stderr, /Error from server \(Forbidden\): .*No policy rule covers this request.*kubectl get --raw \/apis\/agentgate\.io\/v1alpha1\/accessrequests\/ar-[0-9a-f]+/);
    t.notRegex(secrets.stdout + secrets.stderr, /hunter2|aHVudGVyMg/);
  });
}

test.serial('agentgate freeze cuts kubectl off at once; the grant made on demand is visible to operators', async (t) => {
  const grants = await world.broker.store.list({ agent: 'kubectl-bot' });
  t.true(grants.some((r) => r.grant.rules.some((rule) => rule.resources?.includes('pods'))), 'the on-demand read grant');
  t.true(grants.some((r) => r.grant.rules.some((rule) => rule.nonResourceURLs?.includes('/apis'))), 'the discovery grant');
  await world.broker.store.freeze('incident-commander');
  t.teardown(() => world.broker.store.unfreeze());
  await until(() => sidecar.state.credential(grants[0]?.grant.id ?? '') === undefined, 1000, 'the sidecar dropped its credentials');
  const frozen = await kubectl('1.31', ['get', 'pods'], { kubeconfig });
  t.not(frozen.code, 0);
  t.regex(frozen.stderr, /frozen by an operator/);
});

// The sidecar checks who the API server is before it sends a credential: an upstream whose
// certificate the configured CA did not sign gets no request at all (the TLS handshake fails
// before any byte of HTTP, so the grant's token never leaves), and the agent gets a 503 that says
// the API server cannot be reached, with the TLS error named.
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { envNameOf } from '../../src/config/index.ts';
import { causeOf, startGate } from './helpers.ts';

const OTHER_CA = fileURLToPath(new URL('../fixtures/tls/other-ca.crt', import.meta.url));

test('an API server with a certificate from another CA gets no request and no credential; the agent gets a 503', async (t) => {
  const gate = await startGate({ env: { [envNameOf('sidecar.upstream.caFile')]: OTHER_CA } });
  t.teardown(() => gate.close());
  const answer = await gate.world.call('GET', '/api/v1/namespaces/agents/pods', { headers: { authorization: `Bearer ${gate.token}` } });
  t.is(answer.status, 503, answer.body);
  const status = JSON.parse(answer.body) as { reason: string; message: string };
  t.is(status.reason, 'ServiceUnavailable');
  t.is(causeOf(status), 'upstream-unavailable');
  t.regex(status.message, /^agentgate: the Kubernetes API server cannot be reached; retry shortly: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
  t.is(gate.upstream.received.length, 0, 'nothing reached the impostor');
});

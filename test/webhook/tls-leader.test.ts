// Self-bootstrapped TLS against the API double (Secret written, caBundle patched into both
// configurations, a client verifying the Service name trusts the server, renewal before expiry
// keeping the old CA trusted), and leader election over an in-memory Lease (the double serves
// no coordination.k8s.io Leases).
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import test from 'ava';
import forge from 'node-forge';
import { kubeClient } from '../../webhook/kube/client.ts';
import { LeaseConflict, runLeaderElection, type LeaseRecord, type LeaseStore } from '../../webhook/kube/leader.ts';
import { createCertificateAuthority, issueServingCertificate } from '../../webhook/tls/certificates.ts';
import { selfSignedTls } from '../../webhook/tls/self-signed.ts';
import { eventually, installConfigurations, serviceConfig, startCluster, startService } from './service-harness.ts';

const DAY = 86_400_000;

test('self-bootstrapped TLS: Secret, caBundle in both configurations, a certificate for <service>.<namespace>.svc', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.close());
  await cluster.run('1.33', ['create', 'namespace', 'agentgate-system']);
  // Installed without caBundle, as the chart does when the webhook bootstraps its own CA.
  await installConfigurations(cluster, 'service', '', '1.33');
  const { service, stop } = await startService(cluster, serviceConfig(cluster, {}, true));
  t.teardown(stop);

  const secret = cluster.api.objects.get('secrets', 'agentgate-system', 'agentgate-webhook-tls');
  t.truthy(secret, 'the Secret was not written');
  const bundle = service.caBundle();
  const wanted = Buffer.from(bundle).toString('base64');
  for (const resource of ['mutatingwebhookconfigurations.admissionregistration.k8s.io', 'validatingwebhookconfigurations.admissionregistration.k8s.io']) {
    const config = cluster.api.objects.get(resource, '', 'agentgate');
    const hooks = (config?.webhooks ?? []) as { clientConfig: { caBundle?: string } }[];
    t.true(hooks.length > 0 && hooks.every((hook) => hook.clientConfig.caBundle === wanted), `${resource} caBundle not patched`);
  }
  // A client that verifies the Service's DNS name with the caBundle, as the API server does.
  const peer = await new Promise<X509Certificate>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: service.server.port, ca: bundle, servername: 'agentgate-webhook.agentgate-system.svc' }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
  t.true(peer.checkHost('agentgate-webhook.agentgate-system.svc') !== undefined);

  // The API server reaches it through the Service, verifying agentgate-webhook.agentgate-system.svc
  // against the patched caBundle: a pod in a labelled namespace comes out injected.
  cluster.api.registerService('agentgate-system', 'agentgate-webhook', service.server.url);
  await cluster.run('1.33', ['create', 'namespace', 'agents']);
  await cluster.run('1.33', ['label', 'namespace', 'agents', 'agentgate.io/inject=enabled']);
  const applied = await cluster.run('1.33', ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'agent', namespace: 'agents' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } }));
  t.is(applied.code, 0, applied.stderr);
  const stored = cluster.api.objects.get('pods', 'agents', 'agent');
  t.is((stored?.spec as { initContainers?: { name: string }[] } | undefined)?.initContainers?.[0]?.name, 'agentgate-sidecar');

  // A second replica finds the Secret fresh and serves the same material.
  const follower = await startService(cluster, serviceConfig(cluster, {}, true), { identity: 'webhook-1' });
  t.teardown(follower.stop);
  t.is(follower.service.caBundle(), bundle);
});

test('renewal before expiry: a new serving certificate, and a new CA trusted beside the old one', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.close());
  await cluster.run('1.33', ['create', 'namespace', 'agentgate-system']);
  await installConfigurations(cluster, 'https://localhost:1', '', '1.33');
  const kube = await kubeClient(cluster.kubeconfig);
  let now = new Date('2030-01-01T00:00:00Z');
  const tls = selfSignedTls({
    kube, namespace: 'agentgate-system', secretName: 'agentgate-webhook-tls', serviceName: 'agentgate-webhook',
    configurations: { mutating: 'agentgate', validating: 'agentgate' }, now: () => now, caValidityMs: 300 * DAY, servingValidityMs: 90 * DAY,
  });
  const first = await tls.reconcile();
  t.deepEqual(await tls.reconcile(), first, 'nothing changes while certificates are fresh');

  now = new Date(now.getTime() + 70 * DAY); // past two thirds of the serving certificate's 90 days
  const second = await tls.reconcile();
  t.not(second.serving.certPem, first.serving.certPem);
  t.is(second.ca.certPem, first.ca.certPem);

  now = new Date(now.getTime() + 140 * DAY); // day 210: past two thirds of the CA's 300 days
  const third = await tls.reconcile();
  t.not(third.ca.certPem, first.ca.certPem);
  t.true(third.caBundle.startsWith(third.ca.certPem), 'the new CA comes first');
  t.true(third.caBundle.includes(first.ca.certPem), 'the old CA stays trusted until it expires');
  t.true(new X509Certificate(third.serving.certPem).verify(new X509Certificate(third.ca.certPem).publicKey));
});

test('certificates: the signature is node:crypto\'s RSASSA-PKCS1-v1_5 over SHA-256 of the TBS part, and a CA key forge wrote (older Secrets) still signs', (t) => {
  const ca = createCertificateAuthority('test-ca');
  t.regex(ca.keyPem, /^-----BEGIN RSA PRIVATE KEY-----\n/, 'PKCS#1 PEM with LF, as forge wrote it');
  const serving = issueServingCertificate(ca, ['a.b.svc']);
  const parsed = forge.pki.certificateFromPem(serving.certPem);
  const tbs = Buffer.from(forge.asn1.toDer((forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(parsed)).getBytes(), 'binary');
  t.true(Buffer.from(parsed.signature as string, 'binary').equals(sign('sha256', tbs, createPrivateKey(ca.keyPem))));
  const caCert = new X509Certificate(ca.certPem);
  t.true(caCert.verify(caCert.publicKey), 'the CA verifies itself');
  t.true(new X509Certificate(serving.certPem).checkPrivateKey(createPrivateKey(serving.keyPem)));
  // A CA made by the forge code before: its key as forge.pki.privateKeyToPem wrote it (LF).
  const old = forge.pki.rsa.generateKeyPair({ bits: 1024 });
  const oldCert = forge.pki.createCertificate();
  oldCert.publicKey = old.publicKey;
  oldCert.serialNumber = '01';
  oldCert.validity.notBefore = new Date(Date.now() - 60_000);
  oldCert.validity.notAfter = new Date(Date.now() + DAY);
  oldCert.setSubject([{ name: 'commonName', value: 'old-ca' }]);
  oldCert.setIssuer([{ name: 'commonName', value: 'old-ca' }]);
  oldCert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }]);
  oldCert.sign(old.privateKey, forge.md.sha256.create());
  const oldCa = { certPem: forge.pki.certificateToPem(oldCert).replace(/\r\n/g, '\n'), keyPem: forge.pki.privateKeyToPem(old.privateKey).replace(/\r\n/g, '\n') };
  const renewed = issueServingCertificate(oldCa, ['a.b.svc']);
  t.true(new X509Certificate(renewed.certPem).verify(new X509Certificate(oldCa.certPem).publicKey));
});

/** A Lease in memory with resourceVersion checks, as the API server does them. */
function memoryLease(): LeaseStore & { record: () => LeaseRecord | undefined } {
  let stored: LeaseRecord | undefined;
  let version = 0;
  return {
    record: () => stored,
    get: async () => (stored ? { ...stored } : undefined),
    async create(record) {
      if (stored) throw new LeaseConflict('exists');
      stored = { ...record, resourceVersion: String(++version) };
    },
    async update(record) {
      if (!stored || record.resourceVersion !== stored.resourceVersion) throw new LeaseConflict('stale');
      stored = { ...record, resourceVersion: String(++version) };
    },
  };
}

test('leader election: one leader at a time, a successor after it stops, and the lease released on stop', async (t) => {
  const store = memoryLease();
  const leading = new Set<string>();
  const stops = new Map<string, AbortController>();
  const runs = ['a', 'b', 'c'].map((identity) => {
    const stop = new AbortController();
    stops.set(identity, stop);
    return runLeaderElection({
      store, identity, leaseDurationMs: 400, renewMs: 50, retryMs: 20, signal: stop.signal,
      onStartedLeading: (signal) => {
        leading.add(identity);
        signal.addEventListener('abort', () => leading.delete(identity));
      },
    });
  });
  t.true(await eventually(() => leading.size === 1), 'nobody leads');
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.is(leading.size, 1, 'two replicas led at once');
  }
  const [first] = [...leading];
  stops.get(first ?? '')?.abort();
  t.true(await eventually(() => leading.size === 1 && !leading.has(first ?? '')), 'no successor took over');
  t.not(store.record()?.holderIdentity, first);
  for (const stop of stops.values()) stop.abort();
  await Promise.all(runs);
  t.is(leading.size, 0);
  t.is(store.record()?.holderIdentity, '', 'the last leader released the lease');
});

test('leader election: a follower takes over a lease its holder stopped renewing', async (t) => {
  const store = memoryLease();
  const at = new Date();
  await store.create({ holderIdentity: 'crashed', leaseDurationSeconds: 1, acquireTime: at, renewTime: at, leaseTransitions: 0 });
  const stop = new AbortController();
  let started = 0;
  const run = runLeaderElection({ store, identity: 'b', retryMs: 50, renewMs: 100, signal: stop.signal, onStartedLeading: () => started++ });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(started, 0, 'took a live lease');
  t.true(await eventually(() => started === 1, 3000), 'never took the expired lease');
  t.is(store.record()?.leaseTransitions, 1);
  stop.abort();
  await run;
});

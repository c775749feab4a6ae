// Self-bootstrapped TLS: the leader keeps a CA and a serving certificate in a Secret, renews them
// before expiry and patches the CA into both webhook configurations' caBundle; every replica
// serves the certificate the Secret holds. During a CA renewal caBundle holds the new CA and the
// old one, so replicas still serving the old certificate stay trusted.
import { apiErrorText, corePath, httpCode, type KubeClient } from '../kube/client.ts';
import { createCertificateAuthority, issueServingCertificate, needsRenewal, serviceDnsNames, signedBy, validCertificates, type KeyPair } from './certificates.ts';

/** What the Secret holds (keys as cert-manager writes them, plus the CA's key). */
export interface TlsBundle {
  /** PEM bundle for caBundle: the current CA first, then a previous one still valid. */
  caBundle: string;
  ca: KeyPair;
  serving: KeyPair;
}

/** Settings of the self-bootstrapped TLS. */
export interface SelfSignedTlsOptions {
  kube: KubeClient;
  namespace: string;
  secretName: string;
  serviceName: string;
  configurations: { mutating: string; validating: string };
  now?: () => Date;
  /** Lifetimes; the defaults of certificates.ts. */
  caValidityMs?: number;
  servingValidityMs?: number;
}

/** The self-bootstrapped TLS of one replica. */
export interface SelfSignedTls {
  /** The leader's work: makes the Secret right (creating or renewing), then caBundle. Returns the bundle. */
  reconcile(): Promise<TlsBundle>;
  /** Any replica: the bundle the Secret holds now, or undefined before the leader wrote it. */
  load(): Promise<TlsBundle | undefined>;
  /** The DNS names the serving certificate carries. */
  dnsNames: readonly string[];
}

/** The fields of the Secret this module reads and writes. */
interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  type?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  data?: Record<string, string>;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const unb64 = (text: string | undefined): string => (text ? Buffer.from(text, 'base64').toString('utf8') : '');

function fromSecret(secret: Secret): TlsBundle | undefined {
  const data = secret.data ?? {};
  const bundle: TlsBundle = {
    caBundle: unb64(data['ca.crt']),
    ca: { certPem: unb64(data['ca-cert.pem']), keyPem: unb64(data['ca-key.pem']) },
    serving: { certPem: unb64(data['tls.crt']), keyPem: unb64(data['tls.key']) },
  };
  return bundle.ca.certPem && bundle.ca.keyPem && bundle.serving.certPem && bundle.serving.keyPem ? bundle : undefined;
}

function secretData(bundle: TlsBundle): Record<string, string> {
  return {
    'ca.crt': b64(bundle.caBundle),
    'ca-cert.pem': b64(bundle.ca.certPem),
    'ca-key.pem': b64(bundle.ca.keyPem),
    'tls.crt': b64(bundle.serving.certPem),
    'tls.key': b64(bundle.serving.keyPem),
  };
}

/** Builds the replica's TLS bootstrapper; nothing is read or written until called. */
export function selfSignedTls(options: SelfSignedTlsOptions): SelfSignedTls {
  const { kube, namespace, secretName } = options;
  const secretPath = corePath('secrets', namespace, secretName);
  const now = options.now ?? (() => new Date());
  const dnsNames = serviceDnsNames(options.serviceName, namespace);

  async function readSecret(): Promise<Secret | undefined> {
    try {
      return await kube.get<Secret>(secretPath);
    } catch (error) {
      if (httpCode(error) === 404) return undefined;
      throw new Error(`secret ${namespace}/${secretName} could not be read: ${apiErrorText(error)}`, { cause: error });
    }
  }

  /** The bundle as it should be at `at`, reusing what is still good in `current`. */
  function renewed(current: TlsBundle | undefined, at: Date): TlsBundle {
    let ca = current?.ca;
    let caBundle = current?.caBundle ?? '';
    if (!ca || needsRenewal(ca.certPem, at)) {
      const fresh = createCertificateAuthority(`agentgate-webhook-ca@${Math.floor(at.getTime() / 1000)}`, at, options.caValidityMs);
      // The old CA stays trusted until it expires: replicas may still serve what it signed.
      caBundle = [fresh.certPem, ...(ca ? validCertificates(ca.certPem, at) : [])].join('');
      ca = fresh;
    }
    let serving = current?.serving;
    if (!serving || needsRenewal(serving.certPem, at, dnsNames) || !signedBy(serving.certPem, ca.certPem)) {
      serving = issueServingCertificate(ca, dnsNames, at, options.servingValidityMs);
    }
    // Old CAs drop out of the bundle once expired.
    caBundle = validCertificates(caBundle, at).join('') || ca.certPem;
    return { caBundle, ca, serving };
  }

  async function writeSecret(existing: Secret | undefined, bundle: TlsBundle): Promise<void> {
    const body: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: secretName,
        namespace,
        labels: { 'app.kubernetes.io/managed-by': 'agentgate' },
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      data: secretData(bundle),
    };
    if (existing) await kube.replace(secretPath, body);
    else await kube.create(corePath('secrets', namespace), body);
  }

  async function patchCaBundles(caBundle: string): Promise<void> {
    const wanted = b64(caBundle);
    const patchOne = async <T extends { webhooks?: { clientConfig: { caBundle?: string } }[] }>(kind: string, name: string, read: () => Promise<T>, replace: (body: T) => Promise<unknown>): Promise<void> => {
      let config: T;
      try {
        config = await read();
      } catch (error) {
        // Not installed yet (the chart installs it after the Deployment): the next round patches it.
        if (httpCode(error) === 404) return;
        throw new Error(`${kind} ${name} could not be read: ${apiErrorText(error)}`, { cause: error });
      }
      const hooks = config.webhooks ?? [];
      if (hooks.every((hook) => hook.clientConfig.caBundle === wanted)) return;
      for (const hook of hooks) hook.clientConfig.caBundle = wanted;
      await replace(config);
    };
    const { mutating, validating } = options.configurations;
    const at = (plural: string, name: string): string => `/apis/admissionregistration.k8s.io/v1/${plural}/${encodeURIComponent(name)}`;
    type Configuration = { webhooks?: { clientConfig: { caBundle?: string } }[] };
    await patchOne('mutatingwebhookconfiguration', mutating, () => kube.get<Configuration>(at('mutatingwebhookconfigurations', mutating)), (body) => kube.replace(at('mutatingwebhookconfigurations', mutating), body));
    await patchOne('validatingwebhookconfiguration', validating, () => kube.get<Configuration>(at('validatingwebhookconfigurations', validating)), (body) => kube.replace(at('validatingwebhookconfigurations', validating), body));
  }

  return {
    dnsNames,
    async load() {
      const secret = await readSecret();
      return secret ? fromSecret(secret) : undefined;
    },
    async reconcile() {
      const existing = await readSecret();
      const current = existing ? fromSecret(existing) : undefined;
      const next = renewed(current, now());
      if (next !== current && (next.serving !== current?.serving || next.caBundle !== current?.caBundle)) {
        try {
          await writeSecret(existing, next);
        } catch (error) {
          // Another replica wrote it first (a leadership hand-over): use what it wrote.
          if (httpCode(error) !== 409) throw new Error(`secret ${namespace}/${secretName} could not be written: ${apiErrorText(error)}`, { cause: error });
          const winner = await readSecret();
          const theirs = winner ? fromSecret(winner) : undefined;
          if (!theirs) throw new Error(`secret ${namespace}/${secretName} changed while being written and holds no certificate`, { cause: error });
          await patchCaBundles(theirs.caBundle);
          return theirs;
        }
      }
      await patchCaBundles(next.caBundle);
      return next;
    },
  };
}

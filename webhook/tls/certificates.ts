// The self-bootstrapped certificates: a CA kept in a Secret and the serving certificate it signs
// for the webhook's Service (`<service>.<namespace>.svc`), made with node-forge (RSA 2048; forge
// hands key generation to node:crypto when it can, so a key costs milliseconds, not seconds).
import { randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

/** A certificate and its private key, PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

const DAY = 86_400_000;
/** Default lifetimes: the CA outlives several serving certificates, so rotation rarely touches caBundle. */
export const CA_VALIDITY_MS = 5 * 365 * DAY;
export const SERVING_VALIDITY_MS = 365 * DAY;

// forge writes CRLF line ends; LF keeps Secret data, caBundle and comparisons byte-stable.
function pemPair(cert: forge.pki.Certificate, key: forge.pki.PrivateKey): KeyPair {
  return { certPem: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), keyPem: forge.pki.privateKeyToPem(key).replace(/\r\n/g, '\n') };
}

function serial(): string {
  // A positive 128-bit serial: the top bit cleared so DER never reads it as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function newCertificate(publicKey: forge.pki.PublicKey, now: Date, validityMs: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  // Backdated a minute: a node whose clock runs behind must not see a certificate from the future.
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
  return cert;
}

/** A new CA named `commonName`, valid for `validityMs` from `now`. */
export function createCertificateAuthority(commonName: string, now = new Date(), validityMs = CA_VALIDITY_MS): KeyPair {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = newCertificate(keys.publicKey, now, validityMs);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return pemPair(cert, keys.privateKey);
}

/** A serving certificate for `dnsNames`, signed by `ca`. */
export function issueServingCertificate(ca: KeyPair, dnsNames: readonly string[], now = new Date(), validityMs = SERVING_VALIDITY_MS): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  // A serving certificate never outlives its CA.
  const until = Math.min(now.getTime() + validityMs, caCert.validity.notAfter.getTime());
  const cert = newCertificate(keys.publicKey, now, until - now.getTime());
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? 'agentgate-webhook' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return pemPair(cert, keys.privateKey);
}

/** The DNS names the webhook's Service answers to, most specific last (the API server dials `.svc`). */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, service, `${service}.${namespace}`, `${service}.${namespace}.svc.cluster.local`];
}

/**
 * True when a certificate should be replaced at `now`: it is unreadable, past two thirds of its
 * lifetime (the rule cert-manager uses by default), or does not name every one of `dnsNames`.
 */
export function needsRenewal(certPem: string | undefined, now: Date, dnsNames: readonly string[] = []): boolean {
  if (!certPem) return true;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return true;
  }
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!(now.getTime() < from + ((to - from) * 2) / 3)) return true;
  const names = (cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  return dnsNames.some((name) => !names.includes(name));
}

/** True when `certPem` was signed by `caPem`. */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    return new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey);
  } catch {
    return false;
  }
}

/** The certificates of a PEM bundle that are still valid at `now`. */
export function validCertificates(bundlePem: string, now: Date): string[] {
  const blocks = bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.filter((pem) => {
    try {
      return Date.parse(new X509Certificate(pem).validTo) > now.getTime();
    } catch {
      return false;
    }
  }).map((pem) => `${pem}\n`);
}

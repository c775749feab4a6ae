// The self-bootstrapped certificates: a CA kept in a Secret and the serving certificate it signs
// for the webhook's Service (`<service>.<namespace>.svc`). node-forge builds the X.509 structures;
// node:crypto makes the RSA 2048 keys and the signatures. forge's own RSA signature is JavaScript
// big-number arithmetic: about 80 ms per certificate with the JIT, 1.6 s under `--jitless` (the
// webhook's runtime, src/contracts/runtime.ts), the event loop blocked all that time.
import { constants, createPrivateKey, generateKeyPairSync, privateEncrypt, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
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
function pemPair(cert: forge.pki.Certificate, key: KeyObject): KeyPair {
  return { certPem: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), keyPem: key.export({ type: 'pkcs1', format: 'pem' }).toString() };
}

/** A new RSA 2048 key: node:crypto's, and its public half as forge reads it. */
function rsaKeys(): { privateKey: KeyObject; publicKey: forge.pki.PublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) };
}

// DER of DigestInfo's head for SHA-256 (RFC 8017, section 9.2, note 1): the digest's 32 bytes follow.
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * Signs `cert` with `key` (sha256WithRSAEncryption). forge computes the digest of the
 * to-be-signed part and hands it to the key's `sign`; this one is RSASSA-PKCS1-v1_5 by node:crypto.
 */
function signCertificate(cert: forge.pki.Certificate, key: KeyObject): void {
  const signer = {
    sign: (md: forge.md.MessageDigest): string => {
      const digestInfo = Buffer.concat([SHA256_DIGEST_INFO, Buffer.from(md.digest().getBytes(), 'binary')]);
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo).toString('binary');
    },
  };
  cert.sign(signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
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
  const keys = rsaKeys();
  const cert = newCertificate(keys.publicKey, now, validityMs);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signCertificate(cert, keys.privateKey);
  return pemPair(cert, keys.privateKey);
}

/** A serving certificate for `dnsNames`, signed by `ca`. */
export function issueServingCertificate(ca: KeyPair, dnsNames: readonly string[], now = new Date(), validityMs = SERVING_VALIDITY_MS): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = createPrivateKey(ca.keyPem);
  const keys = rsaKeys();
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
  signCertificate(cert, caKey);
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

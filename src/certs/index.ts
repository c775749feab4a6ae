// Per-pod TLS: a throwaway CA and one serving certificate for the sidecar's loopback endpoint.
// node-forge's ASN.1 builds the X.509 structures; node:crypto makes the ECDSA P-256 keys and
// signatures, because forge signs with RSA only and RSA key generation costs 50–500 ms. Only
// forge's ASN.1 and util modules are loaded (forge-parts.d.ts): its index would load all of forge.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type forge from 'node-forge';
import asn1 from 'node-forge/lib/asn1.js';
import util from 'node-forge/lib/util.js';

type Asn1 = forge.asn1.Asn1;

/** The serving material of one sidecar instance. The CA's private key is discarded once it has signed. */
export interface PodCertificates {
  /** PEM of the CA the agent trusts (written as `ca.crt`). */
  caPem: string;
  /** PEM of the serving certificate. */
  certPem: string;
  /** PEM (PKCS#8) of the serving key. */
  keyPem: string;
}

/** What the serving certificate names. */
export interface PodCertificateOptions {
  /** DNS subjectAltNames; default `localhost` and `kubernetes.default.svc`. */
  dnsNames?: readonly string[];
  /** IP subjectAltNames; default `127.0.0.1`. */
  ipAddresses?: readonly string[];
  /** Lifetime of both certificates; default one year (the pod's, in practice). */
  validityMs?: number;
  /** The issuing time; default now. */
  now?: Date;
}

/** The names a sidecar serves: what in-cluster clients dial when pointed at 127.0.0.1. */
export const DEFAULT_DNS_NAMES: readonly string[] = ['localhost', 'kubernetes.default.svc', 'kubernetes.default', 'kubernetes'];
/** Loopback only: the API listener never binds anything else. */
export const DEFAULT_IP_ADDRESSES: readonly string[] = ['127.0.0.1'];

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;
const bin = (buffer: Buffer): string => buffer.toString('binary');
const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
const oid = (id: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
const octets = (bytes: string): Asn1 => asn1.create(U, T.OCTETSTRING, false, bytes);
const der = (node: Asn1): string => asn1.toDer(node).getBytes();

function name(commonName: string): Asn1 {
  const rdn = (type: string, value: string) => asn1.create(U, T.SET, true, [seq([oid(type), asn1.create(U, T.UTF8, false, util.encodeUtf8(value))])]);
  return seq([rdn(OID.organization, 'agentgate'), rdn(OID.commonName, commonName)]);
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(asn1.create(U, T.BOOLEAN, false, '\xff'));
  parts.push(octets(der(value)));
  return seq(parts);
}

/** A BIT STRING of key usages, trailing zero bits dropped as DER requires. */
function keyUsage(byte: number): Asn1 {
  let unused = 0;
  while (unused < 7 && ((byte >> unused) & 1) === 0) unused++;
  return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused, byte));
}

function ipBytes(ip: string): string {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new TypeError(`createPodCertificates: only IPv4 addresses are supported, got ${ip}`);
  return String.fromCharCode(...parts);
}

function time(date: Date): Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function serial(): Asn1 {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40; // positive and minimally encoded
  return asn1.create(U, T.INTEGER, false, bin(bytes));
}

interface KeyPair {
  privateKey: KeyObject;
  spki: Asn1;
  keyId: string;
}

function keyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const spki = asn1.fromDer(util.createBuffer(bin(spkiDer)));
  // RFC 5280 method 1: SHA-1 of the subjectPublicKey bits (the uncompressed point, 65 bytes at the end).
  const keyId = bin(createHash('sha1').update(spkiDer.subarray(spkiDer.length - 65)).digest());
  return { privateKey, spki, keyId };
}

function certificate(tbsFields: Asn1[], signer: KeyObject): string {
  const algorithm = seq([oid(OID.ecdsaWithSha256)]);
  const tbs = seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(U, T.INTEGER, false, '\x02')]), serial(), algorithm, ...tbsFields]);
  const tbsDer = der(tbs);
  const signature = sign('sha256', Buffer.from(tbsDer, 'binary'), signer);
  const cert = seq([tbs, algorithm, asn1.create(U, T.BITSTRING, false, `\x00${bin(signature)}`)]);
  const base64 = Buffer.from(der(cert), 'binary').toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${base64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

/**
 * Makes a fresh CA and a serving certificate signed by it. Both keys are ECDSA P-256 (kubectl,
 * client-go, Python and Java clients all accept it); the CA key lives only for this call, so the
 * CA can never sign anything else. Takes a few milliseconds.
 */
export function createPodCertificates(options: PodCertificateOptions = {}): PodCertificates {
  const now = options.now ?? new Date();
  // Back-dated a minute: a client whose clock is slightly behind must not see "not yet valid".
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + (options.validityMs ?? 365 * 24 * 3600 * 1000));
  const validity = seq([time(notBefore), time(notAfter)]);
  const ca = keyPair();
  const leaf = keyPair();
  const caName = name(`agentgate-sidecar-ca-${randomBytes(4).toString('hex')}`);

  const caPem = certificate([
    caName, validity, caName, ca.spki,
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq([
      extension(OID.basicConstraints, true, seq([asn1.create(U, T.BOOLEAN, false, '\xff'), asn1.create(U, T.INTEGER, false, '\x00')])),
      extension(OID.keyUsage, true, keyUsage(0x06)), // keyCertSign, cRLSign
      extension(OID.subjectKeyIdentifier, false, octets(ca.keyId)),
    ])]),
  ], ca.privateKey);

  const altNames = [
    ...(options.dnsNames ?? DEFAULT_DNS_NAMES).map((dns) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, dns)),
    ...(options.ipAddresses ?? DEFAULT_IP_ADDRESSES).map((ip) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, ipBytes(ip))),
  ];
  const certPem = certificate([
    caName, validity, name('agentgate-sidecar'), leaf.spki,
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq([
      extension(OID.basicConstraints, true, seq([])),
      extension(OID.keyUsage, true, keyUsage(0x80)), // digitalSignature: all ECDHE with an ECDSA key needs
      extension(OID.extKeyUsage, false, seq([oid(OID.serverAuth)])),
      extension(OID.subjectKeyIdentifier, false, octets(leaf.keyId)),
      extension(OID.authorityKeyIdentifier, false, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ca.keyId)])),
      extension(OID.subjectAltName, false, seq(altNames)),
    ])]),
  ], ca.privateKey);

  const keyPem = leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { caPem, certPem, keyPem };
}

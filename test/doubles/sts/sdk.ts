/**
 * Points the real AWS SDK at the STS double (its endpoint and test CA), so tests exercise the
 * SDK's own signing and XML parsing; plus presigned GETs signed by the SDK's SigV4 signer and a raw
 * HTTPS GET for pinning the wire format. Test code only.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { Agent, request } from 'node:https';
import { STSClient } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import type { StsServer } from './server.ts';

/** Credentials as the SDK takes them. */
export interface TestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * An STSClient for `sts` signing with `credentials`. `clockOffsetMs` shifts the SDK's signing
 * clock, for tests that move the double's clock forward. No retries: a refusal is the answer.
 */
export function stsClientFor(sts: StsServer, credentials: TestCredentials, region = 'eu-west-1', clockOffsetMs = 0): STSClient {
  return new STSClient({
    region,
    endpoint: sts.url,
    credentials,
    maxAttempts: 1,
    systemClockOffset: clockOffsetMs,
    requestHandler: { httpsAgent: new Agent({ ca: sts.caPem }) },
  });
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const toBuffer = (d: SourceData): Buffer => (typeof d === 'string' ? Buffer.from(d) : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d));

/** node:crypto SHA-256 / HMAC in the shape @smithy/signature-v4 wants. */
class Sha256 {
  readonly #h: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(d: SourceData): void {
    this.#h.update(toBuffer(d));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#h.digest());
  }
}

/**
 * A presigned GET of any STS action against the double, signed by the SDK's own SigV4 signer
 * (not the double's code), with `headers` signed too.
 */
export async function presignedUrl(sts: StsServer, credentials: TestCredentials, params: Record<string, string>, opts: { headers?: Record<string, string>; at?: Date; expiresIn?: number; region?: string } = {}): Promise<string> {
  const signer = new SignatureV4({ credentials, region: opts.region ?? 'eu-west-1', service: 'sts', sha256: Sha256 });
  const [hostname = '', port = ''] = sts.host.split(':');
  const signed = await signer.presign(
    { method: 'GET', protocol: 'https:', hostname, port: Number(port), path: '/', query: { Version: '2011-06-15', ...params }, headers: { host: sts.host, ...opts.headers } },
    { expiresIn: opts.expiresIn ?? 60, signingDate: opts.at ?? new Date() },
  );
  const query = Object.entries(signed.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
  return `${sts.url}/?${query}`;
}

/** A raw HTTPS GET against the double: status, content type and body as sent. */
export function rawGet(sts: StsServer, url: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, ca: sts.caPem }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * One call to an admission webhook over HTTPS, as the apiserver's webhook client makes it: the
 * URL with `?timeout=`, caBundle trust, AdmissionReview v1 (or v1beta1) out, the response checked,
 * and Go's error texts for what goes wrong on the way. Test code only.
 */
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import type { WebhookSpec } from './admission-match.ts';

/** How the double reaches webhooks, bound once by createAdmission. */
export interface WebhookClientOptions {
  /** Caps how long the double waits for a webhook (tests); the URL still carries the configured timeout. */
  webhookTimeoutCapSeconds?: number;
  /** The client certificate the apiserver presents to webhooks, PEM. */
  clientCert?: { cert: string; key: string };
  /** Maps `clientConfig.service` to the URL to dial; the double has no cluster networking. */
  serviceResolver?: (namespace: string, name: string, port: number, path: string) => string;
}

/** webhookutil.ErrCallingWebhook: the call failed; failurePolicy decides what it means. */
export class CallingWebhookError extends Error {
  constructor(webhookName: string, reason: string) {
    super(`failed calling webhook "${webhookName}": ${reason}`);
  }
}

/** The checked `response` of an AdmissionReview. */
export interface WebhookResponse {
  allowed: boolean;
  result: Record<string, unknown> | undefined;
  patch: Buffer | undefined;
  warnings: string[];
}

interface Target {
  /** The URL as Go's client prints it in errors, with `?timeout=`. */
  display: string;
  host: string;
  port: number;
  path: string;
  servername: string | undefined;
  hostHeader: string;
}

const REVIEW_VERSIONS = ['v1', 'v1beta1'];

function target(webhook: WebhookSpec, timeoutSeconds: number, opts: WebhookClientOptions): Target | string {
  const query = `?timeout=${timeoutSeconds}s`;
  const { url, service } = webhook.clientConfig;
  if (url) {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : 443;
    const host = u.hostname.replace(/^\[|\]$/g, '');
    return { display: `${u.protocol}//${u.host}${u.pathname === '/' && !url.endsWith('/') ? '' : u.pathname}${query}`, host, port, path: `${u.pathname}${query}`, servername: undefined, hostHeader: u.host };
  }
  if (!service) return 'webhook has no clientConfig';
  const port = service.port ?? 443;
  const serverName = `${service.name}.${service.namespace}.svc`;
  const path = service.path ?? '';
  const display = `https://${serverName}:${port}${path}${query}`;
  if (!opts.serviceResolver) return `Post "${display}": dial tcp: lookup ${serverName}: no such host`;
  let target: string;
  try {
    target = opts.serviceResolver(service.namespace, service.name, port, path);
  } catch (error) {
    // The real server's service resolver fails before dialling: `service "x" not found`.
    return `Post "${display}": ${(error as Error).message}`;
  }
  const resolved = new URL(target);
  return {
    display,
    host: resolved.hostname.replace(/^\[|\]$/g, ''),
    port: resolved.port ? Number(resolved.port) : 443,
    path: `${path || '/'}${query}`,
    // Go verifies the service's DNS name, not the address it dials.
    servername: serverName,
    hostHeader: `${serverName}:${port}`,
  };
}

function hostPort(address: string, port: number | string): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

const UNKNOWN_AUTHORITY = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE']);

/** Go's net/http and crypto/x509 wording for a transport failure. */
function transportText(err: NodeJS.ErrnoException & { address?: string; port?: number; cert?: { subjectaltname?: string } }, tgt: Target): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return `dial tcp ${hostPort(err.address ?? tgt.host, err.port ?? tgt.port)}: connect: connection refused`;
  if (UNKNOWN_AUTHORITY.has(code)) return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const wanted = tgt.servername ?? tgt.host;
    const sans = (err.cert?.subjectaltname ?? '').split(', ');
    const isIp = /^[\d.]+$|:/.test(wanted);
    const valid = sans.filter((s) => s.startsWith(isIp ? 'IP Address:' : 'DNS:')).map((s) => s.slice(s.indexOf(':') + 1));
    if (isIp && valid.length === 0) return `tls: failed to verify certificate: x509: cannot validate certificate for ${wanted} because it doesn't contain any IP SANs`;
    return `tls: failed to verify certificate: x509: certificate is valid for ${valid.join(', ')}, not ${wanted}`;
  }
  if (code === 'ECONNRESET') return `read tcp ${hostPort(tgt.host, tgt.port)}: read: connection reset by peer`;
  if (code === 'ENOTFOUND') return `dial tcp: lookup ${tgt.host}: no such host`;
  return err.message;
}

/** rest.Result's text for a non-2xx answer without a Status body (NewGenericServerResponse). */
function httpStatusText(code: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { kind?: string; message?: string };
    if (parsed.kind === 'Status' && parsed.message) return parsed.message;
  } catch {
    // not a Status: fall through to the generic texts
  }
  const server = body.trim() || 'unknown';
  switch (code) {
    case 400: return 'the server rejected our request for an unknown reason';
    case 401: return 'the server has asked for the client to provide credentials';
    case 403: return `forbidden: ${server}`;
    case 404: return 'the server could not find the requested resource';
    case 405: return 'the server does not allow this method on the requested resource';
    case 503: return 'the server is currently unable to handle the request';
    case 504: return 'the server was unable to return a response in the time allotted, but may still be processing the request';
    default:
      return code >= 500 ? `an error on the server (${JSON.stringify(server)}) has prevented the request from succeeding` : `the server responded with the status code ${code} but did not return more information`;
  }
}

function post(tgt: Target, caBundle: string | undefined, body: string, waitMs: number, opts: WebhookClientOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: tgt.host,
      port: tgt.port,
      path: tgt.path,
      method: 'POST',
      agent: false,
      ...(caBundle ? { ca: Buffer.from(caBundle, 'base64').toString('utf8') } : {}),
      ...(tgt.servername ? { servername: tgt.servername } : {}),
      ...(opts.clientCert ? { cert: opts.clientCert.cert, key: opts.clientCert.key } : {}),
      headers: { 'content-type': 'application/json', accept: 'application/json, */*', 'content-length': Buffer.byteLength(body), host: tgt.hostHeader },
      signal: AbortSignal.timeout(waitMs),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function verify(review: unknown, version: string, uid: string): WebhookResponse {
  const r = (review ?? {}) as { apiVersion?: string; kind?: string; response?: Record<string, unknown> };
  if (!r.response || typeof r.response !== 'object') throw new Error('webhook response was absent');
  const resp = r.response;
  const patchB64 = typeof resp.patch === 'string' ? resp.patch : undefined;
  const patchType = typeof resp.patchType === 'string' ? resp.patchType : '';
  if (version === 'v1') {
    const gvk = `${r.apiVersion ?? ''}`.includes('/') ? `${r.apiVersion}, Kind=${r.kind ?? ''}` : `/${r.apiVersion ?? ''}, Kind=${r.kind ?? ''}`;
    if (r.apiVersion !== 'admission.k8s.io/v1' || r.kind !== 'AdmissionReview') throw new Error(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${gvk}`);
    if (resp.uid !== uid) throw new Error(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(String(resp.uid ?? ''))}`);
    if (patchType && patchType !== 'JSONPatch') throw new Error(`webhook returned invalid response.patchType of ${JSON.stringify(patchType)}`);
    if (patchB64 && !patchType) throw new Error('webhook returned response.patch but not response.patchType');
    if (patchType && !patchB64) throw new Error('webhook returned response.patchType but not response.patch');
  }
  // v1beta1 answers were never checked for GVK, uid or patchType; a patch is taken as JSONPatch.
  const warnings = Array.isArray(resp.warnings) ? resp.warnings.filter((w): w is string => typeof w === 'string') : [];
  return {
    allowed: resp.allowed === true,
    result: resp.status && typeof resp.status === 'object' ? (resp.status as Record<string, unknown>) : undefined,
    patch: patchB64 ? Buffer.from(patchB64, 'base64') : undefined,
    warnings,
  };
}

/**
 * Sends `request` (an AdmissionRequest without uid) to the webhook; returns its checked response or
 * throws CallingWebhookError with the apiserver's text.
 */
export async function callWebhook(webhook: WebhookSpec, request: Record<string, unknown>, opts: WebhookClientOptions): Promise<WebhookResponse> {
  const version = (webhook.admissionReviewVersions ?? ['v1']).find((v) => REVIEW_VERSIONS.includes(v));
  if (!version) throw new CallingWebhookError(webhook.name, 'webhook does not accept known AdmissionReview versions');
  const timeoutSeconds = Math.min(webhook.timeoutSeconds ?? 10, 30);
  const tgt = target(webhook, timeoutSeconds, opts);
  if (typeof tgt === 'string') throw new CallingWebhookError(webhook.name, `failed to call webhook: ${tgt}`);
  const uid = randomUUID();
  const body = JSON.stringify({ kind: 'AdmissionReview', apiVersion: `admission.k8s.io/${version}`, request: { uid, ...request } });
  const waitSeconds = Math.min(timeoutSeconds, opts.webhookTimeoutCapSeconds ?? Infinity);
  let res: { status: number; body: string };
  try {
    res = await post(tgt, webhook.clientConfig.caBundle, body, waitSeconds * 1000, opts);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const text = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'context deadline exceeded' : transportText(e, tgt);
    throw new CallingWebhookError(webhook.name, `failed to call webhook: Post "${tgt.display}": ${text}`);
  }
  if (res.status < 200 || res.status > 299) throw new CallingWebhookError(webhook.name, `failed to call webhook: ${httpStatusText(res.status, res.body)}`);
  let review: unknown;
  try {
    review = JSON.parse(res.body);
  } catch (err) {
    throw new CallingWebhookError(webhook.name, `failed to call webhook: couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
  try {
    return verify(review, version, uid);
  } catch (err) {
    throw new CallingWebhookError(webhook.name, `received invalid webhook response: ${(err as Error).message}`);
  }
}

/**
 * A double of AWS STS speaking the Query API over HTTPS on 127.0.0.1, for the broker's EKS
 * credentials and the EKS token verifier. Test code only.
 *
 * Covers: `Action=AssumeRole` and `Action=GetCallerIdentity` (`Version=2011-06-15`), as a
 * form-encoded POST signed in the `Authorization` header (what the AWS SDKs and CLI send) or as a
 * presigned GET (what an EKS token carries); SigV4 checked for real (canonical request, string to
 * sign, derived key, 5-minute clock skew for header signatures); presigned requests honoured for
 * 15 minutes after X-Amz-Date whatever X-Amz-Expires says (STS does this for GetCallerIdentity,
 * and EKS tokens rely on it); AssumeRole's limits (RoleSessionName and SourceIdentity 2–64 of
 * `[\w+=,.@-]`, DurationSeconds 900–43200 and the role's MaxSessionDuration, one hour when role
 * chaining, at most 50 tags), a trust table that also gates `sts:SetSourceIdentity` and
 * `sts:TagSession`; session credentials that sign until they expire (then `ExpiredToken`); XML
 * responses, or JSON with `Accept: application/json`.
 *
 * Not covered: the other STS actions, session policies (`Policy`, `PolicyArns`, which are
 * accepted and ignored), ExternalId and MFA conditions, transitive tags and source identity
 * inheritance across role chains, regional endpoint or partition rules (any region in the
 * credential scope is accepted unless `region` is set), throttling, SigV4a.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { assumeRole, checkRoles, getCallerIdentity } from './actions.ts';
import type { Params } from './actions.ts';
import { CredentialTable } from './identities.ts';
import type { IssuedSession, StsPrincipal, StsRole } from './identities.ts';
import { checkSignature, readClaim } from './sigv4.ts';
import type { SignedRequest } from './sigv4.ts';
import { errorResponse, resultResponse, StsError } from './wire.ts';
import type { WireResponse } from './wire.ts';

export type { IssuedSession, StsAction, StsPrincipal, StsRole } from './identities.ts';

const TLS_DIR = fileURLToPath(new URL('../../fixtures/tls/', import.meta.url));
const VERSION = '2011-06-15';
const MAX_BODY = 64 * 1024;

/** Options of {@link createStsServer}. */
export interface StsServerOptions {
  /** Base credentials that may sign requests. */
  principals: StsPrincipal[];
  /** Roles and who may assume them. */
  roles: StsRole[];
  /** Clock in milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
  /** When set, signatures must be scoped to this region. */
  region?: string;
  /** How long after X-Amz-Date a presigned request is honoured. Default 900 (STS's 15 minutes). */
  presignWindowSeconds?: number;
}

/** One request the double answered, for tests that check who called it and how it went. */
export interface StsCall {
  action: string;
  presigned: boolean;
  accessKeyId: string | undefined;
  status: number;
  code: string | undefined;
}

/** A running STS double. */
export interface StsServer {
  /** `https://127.0.0.1:PORT`: the endpoint to give SDKs and the CLI. */
  url: string;
  /** `127.0.0.1:PORT`: the Host of presigned URLs. */
  host: string;
  /** PEM of the CA that signed the double's certificate. */
  caPem: string;
  caFile: string;
  /** Sessions AssumeRole issued, oldest first. */
  readonly sessions: readonly IssuedSession[];
  /** Every request answered, oldest first. */
  readonly calls: readonly StsCall[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new StsError('MalformedQueryString', 'Request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts the double on a free port of 127.0.0.1; resolves once it listens. */
export async function createStsServer(opts: StsServerOptions): Promise<StsServer> {
  checkRoles(opts.roles);
  const table = new CredentialTable(opts.principals);
  const now = opts.now ?? Date.now;
  const presignWindowMs = (opts.presignWindowSeconds ?? 900) * 1000;
  const calls: StsCall[] = [];
  const [key = '', cert = '', caPem = ''] = await Promise.all(['server.key', 'server.crt', 'ca.crt'].map((f) => readFile(`${TLS_DIR}${f}`, 'utf8')));

  async function answer(req: IncomingMessage, call: StsCall, requestId: string): Promise<WireResponse> {
    const json = (req.headers.accept ?? '').includes('application/json');
    try {
      const url = new URL(req.url ?? '/', 'https://sts.invalid');
      const body = await readBody(req);
      const query = [...url.searchParams.entries()];
      const params: Params = new Map(query);
      if (req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.set(k, v);
      } else if (req.method !== 'GET' && req.method !== 'POST') {
        throw new StsError('InvalidAction', `Could not find operation for HTTP method ${req.method ?? ''}`);
      }
      call.action = params.get('Action') ?? '';
      const signed: SignedRequest = { method: req.method ?? 'GET', path: url.pathname, query, headers: req.headers, body };
      const claim = readClaim(signed);
      if ('code' in claim) throw new StsError(claim.code, claim.message);
      call.presigned = claim.presigned;
      call.accessKeyId = claim.accessKeyId;
      if (opts.region !== undefined && claim.region !== opts.region) throw new StsError('SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${claim.region}'. `);
      const record = table.resolve(claim.accessKeyId, claim.sessionToken);
      const fault = checkSignature(signed, claim, record.secretAccessKey, now(), presignWindowMs);
      if (fault) throw new StsError(fault.code, fault.message);
      if (record.expiresAt !== undefined && now() >= record.expiresAt) throw new StsError('ExpiredToken', 'The security token included in the request is expired');
      const version = params.get('Version');
      if (version !== VERSION) throw new StsError('InvalidAction', `Could not find operation ${call.action} for version ${version ?? 'NO_VERSION_SPECIFIED'}`);
      if (call.action === 'AssumeRole') return resultResponse('AssumeRole', assumeRole(params, record.caller, opts.roles, table, now()), requestId, json);
      if (call.action === 'GetCallerIdentity') return resultResponse('GetCallerIdentity', getCallerIdentity(record.caller), requestId, json);
      throw new StsError('InvalidAction', `Could not find operation ${call.action} for version ${VERSION}`);
    } catch (err) {
      if (err instanceof StsError) {
        call.code = err.code;
        return errorResponse(err, requestId, json);
      }
      throw err;
    }
  }

  const server = createHttpsServer({ key, cert }, (req: IncomingMessage, res: ServerResponse) => {
    const call: StsCall = { action: '', presigned: false, accessKeyId: undefined, status: 0, code: undefined };
    const requestId = randomUUID();
    answer(req, call, requestId).then(
      (out) => {
        call.status = out.status;
        calls.push(call);
        res.writeHead(out.status, { 'content-type': out.contentType, 'x-amzn-requestid': requestId });
        res.end(out.body);
      },
      () => {
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    caPem,
    caFile: `${TLS_DIR}ca.crt`,
    sessions: table.sessions,
    calls,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

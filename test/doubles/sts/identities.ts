/**
 * Who may call the STS double: long-term base credentials (an IAM user, or a role session such as
 * the broker's IRSA), the roles they may assume (the trust table), and the sessions AssumeRole
 * has issued, looked up by access key id when a request is signed. Test code only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { StsError } from './wire.ts';

/** The trust-policy actions the double understands. */
export type StsAction = 'sts:AssumeRole' | 'sts:SetSourceIdentity' | 'sts:TagSession';

/** Base credentials the double accepts. */
export interface StsPrincipal {
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * The principal as a trust policy names it: `arn:aws:iam::ACCOUNT:user/NAME`, or a role ARN
   * (`arn:aws:iam::ACCOUNT:role/NAME`) for credentials that are themselves a role session (IRSA,
   * Pod Identity); those need `sessionToken` and `sessionName`.
   */
  arn: string;
  sessionToken?: string;
  sessionName?: string;
}

/** A role that can be assumed, with its trust table. */
export interface StsRole {
  arn: string;
  /** IAM's MaxSessionDuration: 3600–43200 seconds. Default 3600. */
  maxSessionDuration?: number;
  /** principal ARN (user or role) → the actions its trust policy allows that principal. */
  trust: Record<string, StsAction[]>;
}

/** A session AssumeRole issued. */
export interface IssuedSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  roleArn: string;
  sessionName: string;
  sourceIdentity: string | undefined;
  tags: Record<string, string>;
  /** DurationSeconds as asked (or the 3600 default). */
  durationSeconds: number;
  issuedAt: number;
  expiresAt: number;
}

/** Who signed a request, as GetCallerIdentity and trust checks see it. */
export interface Caller {
  accessKeyId: string;
  /** The caller's ARN as GetCallerIdentity reports it. */
  arn: string;
  userId: string;
  account: string;
  /** The ARN trust policies match: the user, or the role behind a session. */
  principalArn: string;
  /** True for role sessions, whose AssumeRole calls are role chaining (at most one hour). */
  roleSession: boolean;
}

const ARN = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(user|role|assumed-role)\/(.+)$/;

/** The account of an IAM ARN, or a fault when it is not one. */
export function accountOf(arn: string): string {
  const m = ARN.exec(arn);
  if (!m) throw new TypeError(`not an IAM ARN: ${arn}`);
  return m[3] ?? '';
}

/** The last path segment of a role ARN (`role/path/name` → `name`), as assumed-role ARNs use it. */
export function roleNameOf(roleArn: string): string {
  return roleArn.slice(roleArn.lastIndexOf('/') + 1);
}

/** A stable unique id with IAM's prefix (`AIDA` users, `AROA` roles) derived from the ARN. */
export function uniqueIdOf(prefix: 'AIDA' | 'AROA', arn: string): string {
  const digest = createHash('sha256').update(arn).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return prefix + Array.from(digest.subarray(0, 17), (b) => alphabet[b % 32]).join('');
}

function assumedRoleArn(roleArn: string, sessionName: string): string {
  const partition = ARN.exec(roleArn)?.[1] ?? 'aws';
  return `arn:${partition}:sts::${accountOf(roleArn)}:assumed-role/${roleNameOf(roleArn)}/${sessionName}`;
}

/** The caller identity of a role session. */
export function roleSessionCaller(accessKeyId: string, roleArn: string, sessionName: string): Caller {
  return {
    accessKeyId, arn: assumedRoleArn(roleArn, sessionName), userId: `${uniqueIdOf('AROA', roleArn)}:${sessionName}`,
    account: accountOf(roleArn), principalArn: roleArn, roleSession: true,
  };
}

/** A fresh session access key id (`ASIA` + 16 base32 characters, as STS issues). */
export function newSessionKeys(): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = Array.from(randomBytes(16), (b) => alphabet[b % 32]).join('');
  return {
    accessKeyId: `ASIA${id}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(240).toString('base64')}`,
  };
}

/** What a signed request's access key resolves to. */
export interface KeyRecord {
  secretAccessKey: string;
  sessionToken: string | undefined;
  caller: Caller;
  expiresAt: number | undefined;
}

/** The double's credential table: base principals plus the sessions it issued. */
export class CredentialTable {
  readonly #keys = new Map<string, KeyRecord>();
  readonly sessions: IssuedSession[] = [];

  constructor(principals: StsPrincipal[]) {
    for (const p of principals) {
      const m = ARN.exec(p.arn);
      if (!m || m[4] === 'assumed-role') throw new TypeError(`createStsServer: principal arn must be an IAM user or role ARN, got ${p.arn}`);
      const isRole = m[4] === 'role';
      if (isRole && (!p.sessionToken || !p.sessionName)) throw new TypeError(`createStsServer: role principal ${p.arn} needs sessionToken and sessionName`);
      const caller: Caller = isRole
        ? roleSessionCaller(p.accessKeyId, p.arn, p.sessionName ?? '')
        : { accessKeyId: p.accessKeyId, arn: p.arn, userId: uniqueIdOf('AIDA', p.arn), account: m[3] ?? '', principalArn: p.arn, roleSession: false };
      this.#keys.set(p.accessKeyId, { secretAccessKey: p.secretAccessKey, sessionToken: p.sessionToken, caller, expiresAt: undefined });
    }
  }

  /** Records a session AssumeRole issued, so its keys can sign later requests. */
  add(session: IssuedSession): void {
    this.sessions.push(session);
    this.#keys.set(session.accessKeyId, {
      secretAccessKey: session.secretAccessKey, sessionToken: session.sessionToken, expiresAt: session.expiresAt,
      caller: roleSessionCaller(session.accessKeyId, session.roleArn, session.sessionName),
    });
  }

  /**
   * The record of `accessKeyId` presented with `sessionToken`: unknown keys and wrong or missing
   * tokens are InvalidClientTokenId, as STS answers. Expiry is checked by the caller (after the
   * signature, so a forged request learns nothing about a key's state).
   */
  resolve(accessKeyId: string, sessionToken: string | undefined): KeyRecord {
    const record = this.#keys.get(accessKeyId);
    if (!record || record.sessionToken !== sessionToken) throw new StsError('InvalidClientTokenId', 'The security token included in the request is invalid.');
    return record;
  }
}

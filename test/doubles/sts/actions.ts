/**
 * The STS double's two actions: AssumeRole with the API's documented limits and a trust table,
 * and GetCallerIdentity. Validation texts follow STS's `N validation error(s) detected: ...`
 * form. Test code only.
 */
import { accountOf, newSessionKeys, roleNameOf, roleSessionCaller, uniqueIdOf } from './identities.ts';
import type { Caller, CredentialTable, StsAction, StsRole } from './identities.ts';
import { StsError } from './wire.ts';
import type { Elements } from './wire.ts';

const NAME_PATTERN = /^[\w+=,.@-]*$/;
const TAG_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const MAX_TAGS = 50;
/** Role chaining caps a session at one hour whatever the role allows. */
const CHAINED_MAX_SECONDS = 3600;

/** The parameters of one request, by name (the Query API's flattened `Tags.member.N.Key` form). */
export type Params = Map<string, string>;

function quoted(value: string | undefined): string {
  return value === undefined ? 'null' : `'${value}'`;
}

/** Collects Coral-style constraint violations in the order STS reports them. */
class Violations {
  readonly list: string[] = [];
  add(value: string | undefined, field: string, constraint: string): void {
    this.list.push(`Value ${quoted(value)} at '${field}' failed to satisfy constraint: Member ${constraint}`);
  }
  length(value: string | undefined, field: string, min: number, max: number, required: boolean): void {
    if (value === undefined) {
      if (required) this.add(value, field, 'must not be null');
      return;
    }
    const n = [...value].length;
    if (n < min) this.add(value, field, `must have length greater than or equal to ${min}`);
    if (n > max) this.add(value, field, `must have length less than or equal to ${max}`);
  }
  pattern(value: string | undefined, field: string, re: RegExp, shown: string): void {
    if (value !== undefined && !re.test(value)) this.add(value, field, `must satisfy regular expression pattern: ${shown}`);
  }
  throwIfAny(): void {
    const n = this.list.length;
    if (n > 0) throw new StsError('ValidationError', `${n} validation error${n === 1 ? '' : 's'} detected: ${this.list.join('; ')}`);
  }
}

/** Reads `Tags.member.N.Key/Value` in member order. */
function readTags(params: Params): Array<{ key: string | undefined; value: string | undefined }> {
  const indexes = new Set<number>();
  for (const name of params.keys()) {
    const m = /^Tags\.member\.(\d+)\.(Key|Value)$/.exec(name);
    if (m) indexes.add(Number(m[1]));
  }
  return [...indexes].sort((a, b) => a - b).map((i) => ({ key: params.get(`Tags.member.${i}.Key`), value: params.get(`Tags.member.${i}.Value`) }));
}

function requirePermission(roles: StsRole[], roleArn: string, caller: Caller, action: StsAction): StsRole {
  const role = roles.find((r) => r.arn === roleArn);
  // A role that does not exist and one that does not trust the caller look the same from outside.
  if (!role || !(role.trust[caller.principalArn] ?? []).includes(action)) {
    throw new StsError('AccessDenied', `User: ${caller.arn} is not authorized to perform: ${action} on resource: ${roleArn}`);
  }
  return role;
}

/** AssumeRole: validates, checks the trust table, issues a session and returns the result elements. */
export function assumeRole(params: Params, caller: Caller, roles: StsRole[], table: CredentialTable, now: number): Elements {
  const roleArn = params.get('RoleArn');
  const sessionName = params.get('RoleSessionName');
  const sourceIdentity = params.get('SourceIdentity');
  const durationText = params.get('DurationSeconds');
  const tags = readTags(params);

  const v = new Violations();
  v.length(roleArn, 'roleArn', 20, 2048, true);
  v.length(sessionName, 'roleSessionName', 2, 64, true);
  v.pattern(sessionName, 'roleSessionName', NAME_PATTERN, '[\\w+=,.@-]*');
  let duration = 3600;
  if (durationText !== undefined) {
    duration = /^-?\d+$/.test(durationText) ? Number(durationText) : NaN;
    if (Number.isNaN(duration)) throw new StsError('ValidationError', `Value '${durationText}' for parameter DurationSeconds is invalid. Must be an integer.`);
    if (duration < 900) v.add(durationText, 'durationSeconds', 'must have value greater than or equal to 900');
    if (duration > 43200) v.add(durationText, 'durationSeconds', 'must have value less than or equal to 43200');
  }
  v.length(sourceIdentity, 'sourceIdentity', 2, 64, false);
  v.pattern(sourceIdentity, 'sourceIdentity', NAME_PATTERN, '[\\w+=,.@-]*');
  if (tags.length > MAX_TAGS) v.add(`[${tags.map((t) => `Tag(Key=${t.key ?? ''}, Value=${t.value ?? ''})`).join(', ')}]`, 'tags', `must have length less than or equal to ${MAX_TAGS}`);
  tags.forEach((tag, i) => {
    v.length(tag.key, `tags.${i + 1}.member.key`, 1, 128, true);
    v.pattern(tag.key, `tags.${i + 1}.member.key`, TAG_PATTERN, '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+');
    v.length(tag.value, `tags.${i + 1}.member.value`, 0, 256, true);
    v.pattern(tag.value, `tags.${i + 1}.member.value`, TAG_PATTERN, '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*');
  });
  v.throwIfAny();
  if (roleArn === undefined || sessionName === undefined) throw new StsError('ValidationError', 'unreachable: required parameters checked above');

  const role = requirePermission(roles, roleArn, caller, 'sts:AssumeRole');
  if (sourceIdentity !== undefined) requirePermission(roles, roleArn, caller, 'sts:SetSourceIdentity');
  if (tags.length > 0) requirePermission(roles, roleArn, caller, 'sts:TagSession');
  const lowered = new Set<string>();
  for (const tag of tags) {
    const key = (tag.key ?? '').toLowerCase();
    if (lowered.has(key)) throw new StsError('ValidationError', 'Duplicate tag keys found. Please note that Tag keys are case insensitive.');
    lowered.add(key);
  }
  if (caller.roleSession && duration > CHAINED_MAX_SECONDS) {
    throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  }
  if (duration > (role.maxSessionDuration ?? 3600)) {
    throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  }

  const keys = newSessionKeys();
  const expiresAt = Math.floor(now / 1000) * 1000 + duration * 1000;
  const tagMap = Object.fromEntries(tags.map((t) => [t.key ?? '', t.value ?? '']));
  table.add({ ...keys, roleArn, sessionName, sourceIdentity, tags: tagMap, durationSeconds: duration, issuedAt: now, expiresAt });
  const assumed = roleSessionCaller(keys.accessKeyId, roleArn, sessionName);
  // STS reports how much of the packed policy/tag budget the session used, as a percentage.
  const packed = tags.length > 0 ? String(Math.max(1, Math.ceil((JSON.stringify(tagMap).length * 100) / 2048))) : undefined;
  return {
    SourceIdentity: sourceIdentity,
    AssumedRoleUser: { Arn: assumed.arn, AssumedRoleId: `${uniqueIdOf('AROA', roleArn)}:${sessionName}` },
    Credentials: {
      AccessKeyId: keys.accessKeyId,
      SecretAccessKey: keys.secretAccessKey,
      SessionToken: keys.sessionToken,
      Expiration: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
    PackedPolicySize: packed,
  };
}

/** GetCallerIdentity: the signer's ARN, unique id and account. */
export function getCallerIdentity(caller: Caller): Elements {
  return { Arn: caller.arn, UserId: caller.userId, Account: caller.account };
}

/** Checks a role table given to the double, so a test's typo fails loudly at start. */
export function checkRoles(roles: StsRole[]): void {
  for (const role of roles) {
    accountOf(role.arn);
    if (!/:role\//.test(role.arn) || roleNameOf(role.arn) === '') throw new TypeError(`createStsServer: ${role.arn} is not a role ARN`);
    const max = role.maxSessionDuration ?? 3600;
    if (!Number.isInteger(max) || max < 3600 || max > 43200) throw new TypeError(`createStsServer: maxSessionDuration of ${role.arn} must be 3600–43200, got ${max}`);
  }
}

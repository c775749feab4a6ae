// GrantStore: grants in Redis with their expiry as the key's TTL (the TTL is the truth), indexed
// per identity and globally by sorted sets that readers prune, plus the freeze flag.
import { randomBytes } from 'node:crypto';
import { MAX_ACCESS_SECONDS, RoleRefSchema } from '../contracts/access-request.ts';
import { IdentityKeySchema, type IdentityKey } from '../contracts/identity.ts';
import type { PolicyRule } from '../contracts/rbac.ts';
import { parseWith } from '../contracts/result.ts';
import * as z from 'zod';
import { CredentialSchema, GrantSchema, type Credential, type Grant } from '../contracts/stream.ts';
import { guarded, type AgentgateRedis, type RedisKeys } from '../redis/client.ts';
import { GrantConflictError, GrantInvalidError } from './errors.ts';
import { grantScripts, type GrantScripts } from './scripts.ts';

/** A reference to an existing Role or ClusterRole (the contract's RoleRefSchema). */
export type RoleRef = z.infer<typeof RoleRefSchema>;

/** What a new grant is made of; the store chooses its id and times. */
export interface NewGrant {
  identity: IdentityKey;
  rules: PolicyRule[];
  namespaces: string[];
  reason: string;
  /** How long it lasts from now. Fixed at creation: no call changes a grant's end. */
  ttlMs: number;
  approvedBy?: string;
  accessRequestId?: string;
  /** The role the rules were resolved from, kept for the audit. */
  roleRef?: RoleRef;
}

/** A stored grant with what the contract's Grant does not carry. */
export interface GrantRecord {
  grant: Grant;
  roleRef?: RoleRef;
}

/** Selects grants for listing and revocation; an empty filter selects all. */
export interface GrantFilter {
  connection?: string;
  namespace?: string;
  agent?: string;
}

/** Why a grant ended early or on time, as the stream's revocation event says it. */
export type RevocationReason = 'revoked' | 'expired' | 'frozen';

/** Options of {@link GrantStore}. */
export interface GrantStoreOptions {
  redis: AgentgateRedis;
  /** The clock (ms since the epoch); injectable for tests. */
  now?: () => number;
  /** Grant ids; injectable to prove that an existing id is never overwritten. */
  newId?: () => string;
  /** Longest grant (default 8 h, the access request maximum). */
  maxTtlMs?: number;
  /** Events kept per identity for resumption (approximate, Redis `MAXLEN ~`). Default 1000. */
  eventsMaxLen?: number;
}

/** A fresh grant id: `g-` and 24 hex digits (96 random bits), a DNS label far below 40 characters. */
export function newGrantId(): string {
  return `g-${randomBytes(12).toString('hex')}`;
}

const RecordSchema = z.object({ v: z.literal(1), grant: GrantSchema, roleRef: RoleRefSchema.optional() });
const MIN_TTL_MS = 1000;

/** Splits a global index member `<connection>/<namespace>/<agent>/<id>`. */
function parseMember(member: string): { identity: IdentityKey; id: string } | undefined {
  const [connection, namespace, agent, id, extra] = member.split('/');
  if (connection === undefined || namespace === undefined || agent === undefined || id === undefined || extra !== undefined) return undefined;
  return { identity: { connection, namespace, agent }, id };
}

function matches(identity: IdentityKey, filter: GrantFilter): boolean {
  return (filter.connection === undefined || filter.connection === identity.connection)
    && (filter.namespace === undefined || filter.namespace === identity.namespace)
    && (filter.agent === undefined || filter.agent === identity.agent);
}

/**
 * The grants of every agent. Every method fails with RedisUnavailableError when Redis cannot
 * answer: callers fail closed on it. There is deliberately no method that changes a grant: a
 * longer or wider grant is a new one, decided by policy again.
 */
export class GrantStore {
  readonly #redis: AgentgateRedis;
  readonly #keys: RedisKeys;
  readonly #scripts: GrantScripts;
  readonly #now: () => number;
  readonly #newId: () => string;
  readonly #maxTtlMs: number;
  readonly #maxLen: number;

  constructor(options: GrantStoreOptions) {
    this.#redis = options.redis;
    this.#keys = options.redis.keys;
    this.#scripts = grantScripts(options.redis.client);
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? newGrantId;
    this.#maxTtlMs = options.maxTtlMs ?? MAX_ACCESS_SECONDS * 1000;
    this.#maxLen = options.eventsMaxLen ?? 1000;
  }

  /** The key table (the event reader and the relay share it). */
  get keys(): RedisKeys {
    return this.#keys;
  }

  /** Creates a grant under a new id and announces it on the identity's stream. */
  async create(input: NewGrant): Promise<Grant> {
    if (!Number.isInteger(input.ttlMs) || input.ttlMs < MIN_TTL_MS || input.ttlMs > this.#maxTtlMs) {
      throw new GrantInvalidError([{ path: '$.ttlMs', message: `must be a whole number of milliseconds between ${MIN_TTL_MS} and ${this.#maxTtlMs}` }]);
    }
    const now = this.#now();
    const grant: Grant = {
      id: this.#newId(),
      identity: { connection: input.identity.connection, namespace: input.identity.namespace, agent: input.identity.agent },
      rules: input.rules,
      namespaces: input.namespaces,
      reason: input.reason,
      ...(input.approvedBy !== undefined ? { approvedBy: input.approvedBy } : {}),
      ...(input.accessRequestId !== undefined ? { accessRequestId: input.accessRequestId } : {}),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + input.ttlMs).toISOString(),
    };
    const parsed = parseWith(RecordSchema, { v: 1, grant, ...(input.roleRef ? { roleRef: input.roleRef } : {}) });
    if (!parsed.ok) throw new GrantInvalidError(parsed.errors);
    const expiresAtMs = Date.parse(grant.expiresAt);
    const k = this.#keys;
    const path = k.identityPath(grant.identity);
    const c = this.#redis.client;
    // The global entries go first: if the grant write then fails, readers drop them as dangling;
    // the other order could leave a live grant that `revoke --all` does not see.
    const created = await guarded('create grant', async () => {
      // Both global entries in one round trip; ZADD NX, so a taken id (the SET answers null) never
      // moves the entry of the grant that holds it.
      const [owner] = await Promise.all([c.set(k.grantOwner(grant.id), path, 'PXAT', expiresAtMs, 'NX'), c.zadd(k.allGrants, 'NX', expiresAtMs, `${path}/${grant.id}`)]);
      if (owner === null) return false;
      const seq = await this.#scripts.create(
        [k.grant(grant.identity, grant.id), k.identityGrants(grant.identity), k.identityEvents(grant.identity), k.identitySeq(grant.identity)],
        [JSON.stringify(parsed.value), expiresAtMs, grant.id, now, k.eventsChannel, path, this.#maxLen, JSON.stringify(grant)],
      );
      return seq !== 0;
    });
    if (!created) throw new GrantConflictError(grant.id);
    return grant;
  }

  /** The live grant with this id, or undefined (never granted, revoked or expired). */
  async get(id: string): Promise<GrantRecord | undefined> {
    return guarded('get grant', async () => {
      const path = await this.#redis.client.get(this.#keys.grantOwner(id));
      const owner = path === null ? undefined : parseMember(`${path}/${id}`);
      if (!owner) return undefined;
      const raw = await this.#redis.client.get(this.#keys.grant(owner.identity, id));
      return raw === null ? undefined : this.#parse(raw);
    });
  }

  /** The live grants of one identity (what the sidecars of that agent may use). */
  async listFor(identity: IdentityKey): Promise<GrantRecord[]> {
    const key = IdentityKeySchema.parse(identity);
    const raws = await guarded('list grants', () => this.#scripts.list([this.#keys.identityGrants(key)], [this.#now(), this.#keys.grant(key, '')]));
    return raws.map((raw) => this.#parse(raw)).filter((r) => r !== undefined);
  }

  /** Every live grant matching the filter, soonest expiry first. */
  async list(filter: GrantFilter = {}): Promise<GrantRecord[]> {
    const members = await guarded('list grants', async () => {
      await this.#redis.client.zremrangebyscore(this.#keys.allGrants, '-inf', String(this.#now()));
      return this.#redis.client.zrange(this.#keys.allGrants, '0', '-1');
    });
    const identities = new Map<string, IdentityKey>();
    const wanted = new Set<string>();
    for (const member of members) {
      const parsed = parseMember(member);
      if (!parsed || !matches(parsed.identity, filter)) continue;
      identities.set(this.#keys.identityPath(parsed.identity), parsed.identity);
      wanted.add(member);
    }
    const lists = await Promise.all([...identities.values()].map((identity) => this.listFor(identity)));
    const found = lists.flat().filter((r) => wanted.has(`${this.#keys.identityPath(r.grant.identity)}/${r.grant.id}`));
    const live = new Set(found.map((r) => `${this.#keys.identityPath(r.grant.identity)}/${r.grant.id}`));
    const dangling = [...wanted].filter((m) => !live.has(m));
    if (dangling.length > 0) await guarded('prune grants', () => this.#redis.client.zrem(this.#keys.allGrants, ...dangling));
    return found.sort((a, b) => Date.parse(a.grant.expiresAt) - Date.parse(b.grant.expiresAt));
  }

  /** Ends a grant now and announces it; undefined when it was not live. */
  async revoke(id: string, reason: RevocationReason = 'revoked'): Promise<GrantRecord | undefined> {
    const path = await guarded('revoke grant', () => this.#redis.client.get(this.#keys.grantOwner(id)));
    const owner = path === null ? undefined : parseMember(`${path}/${id}`);
    if (!owner) return undefined;
    return this.#end(owner.identity, id, reason, false);
  }

  /** Ends every live grant the filter selects (all of them for an empty filter); returns them. */
  async revokeWhere(filter: GrantFilter, reason: RevocationReason = 'revoked'): Promise<GrantRecord[]> {
    const live = await this.list(filter);
    const ended = await Promise.all(live.map((r) => this.#end(r.grant.identity, r.grant.id, reason, false)));
    return ended.filter((r) => r !== undefined);
  }

  /**
   * Announces that a grant reached its end (the TTL already removed it) and prunes what pointed at
   * it. Called by the expiry job; harmless when repeated.
   */
  async expire(identity: IdentityKey, id: string): Promise<void> {
    await this.#end(identity, id, 'expired', true);
  }

  /** Stores the grant's current credential (it ends with the grant); false when the grant is gone. */
  async setCredential(grant: Pick<Grant, 'id' | 'identity'>, credential: Credential): Promise<boolean> {
    const k = this.#keys;
    const seq = await guarded('store credential', () => this.#scripts.setCredential(
      [k.grant(grant.identity, grant.id), k.credential(grant.identity, grant.id), k.identityEvents(grant.identity), k.identitySeq(grant.identity)],
      [JSON.stringify(credential), grant.id, k.eventsChannel, k.identityPath(grant.identity), this.#maxLen],
    ));
    return seq > 0;
  }

  /** The grant's current credential, or undefined once the grant is gone. */
  async getCredential(grant: Pick<Grant, 'id' | 'identity'>): Promise<Credential | undefined> {
    const raw = await guarded('get credential', () => this.#redis.client.get(this.#keys.credential(grant.identity, grant.id)));
    if (raw === null) return undefined;
    const parsed = CredentialSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Freezes agentgate: while the flag is set every decision is deny. Live grants are not deleted
   * (unfreezing resumes them) but every identity holding one is told to stop using them now.
   */
  async freeze(by: string): Promise<void> {
    await guarded('freeze', () => this.#redis.client.set(this.#keys.freeze, JSON.stringify({ by, at: new Date(this.#now()).toISOString() })));
    const identities = new Map<string, IdentityKey>();
    for (const r of await this.list()) identities.set(this.#keys.identityPath(r.grant.identity), r.grant.identity);
    await Promise.all([...identities.values()].map((identity) => this.#append(identity, ['type', 'revocation', 'grantId', 'all', 'reason', 'frozen'])));
    await guarded('freeze', () => this.#redis.client.publish(this.#keys.eventsChannel, JSON.stringify({ freeze: true })));
  }

  /** Lifts a freeze. */
  async unfreeze(): Promise<void> {
    await guarded('unfreeze', async () => {
      await this.#redis.client.del(this.#keys.freeze);
      await this.#redis.client.publish(this.#keys.eventsChannel, JSON.stringify({ freeze: false }));
    });
  }

  /** Who froze agentgate and when, or undefined when it is not frozen. */
  async frozen(): Promise<{ by: string; at: string } | undefined> {
    const raw = await guarded('read freeze', () => this.#redis.client.get(this.#keys.freeze));
    if (raw === null) return undefined;
    const parsed = z.object({ by: z.string(), at: z.string() }).safeParse(JSON.parse(raw));
    // A flag we cannot read still freezes: failing closed is the point of a kill switch.
    return parsed.success ? parsed.data : { by: 'unknown', at: new Date(0).toISOString() };
  }

  async #end(identity: IdentityKey, id: string, reason: RevocationReason, always: boolean): Promise<GrantRecord | undefined> {
    const k = this.#keys;
    const path = k.identityPath(identity);
    const [raw] = await guarded('revoke grant', async () => {
      const result = await this.#scripts.revoke(
        [k.grant(identity, id), k.credential(identity, id), k.identityGrants(identity), k.identityEvents(identity), k.identitySeq(identity)],
        [id, reason, k.eventsChannel, path, this.#maxLen, always ? '1' : '0'],
      );
      await this.#redis.client.zrem(k.allGrants, `${path}/${id}`);
      await this.#redis.client.del(k.grantOwner(id));
      return result;
    });
    return raw === null ? undefined : this.#parse(raw);
  }

  async #append(identity: IdentityKey, fields: string[]): Promise<number> {
    const k = this.#keys;
    return guarded('append event', () => this.#scripts.append([k.identityEvents(identity), k.identitySeq(identity)], [k.eventsChannel, k.identityPath(identity), this.#maxLen, ...fields]));
  }

  #parse(raw: string): GrantRecord | undefined {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return undefined;
    }
    const parsed = RecordSchema.safeParse(json);
    if (!parsed.success) return undefined;
    return parsed.data.roleRef ? { grant: parsed.data.grant, roleRef: parsed.data.roleRef } : { grant: parsed.data.grant };
  }
}

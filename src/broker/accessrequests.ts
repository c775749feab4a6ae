// Access requests in Redis: what an agent (or an operator on its behalf, or policy's `approve`)
// asks for, pending until a human decides or its time runs out. A pending request's end is read
// from its record (`pendingUntil`), so expiry needs neither keyspace notifications nor a timer.
import { randomBytes, createHash } from 'node:crypto';
import * as z from 'zod';
import { AccessRequestSchema, type AccessRequest, type AccessRequestSpec, type AccessRequestStatus } from '../contracts/access-request.ts';
import { BROKER_API_VERSION } from '../contracts/broker-v1.ts';
import type { IdentityKey } from '../contracts/identity.ts';
import { guarded, type AgentgateRedis } from '../redis/client.ts';

/** Options of {@link AccessRequestStore}. */
export interface AccessRequestStoreOptions {
  redis: AgentgateRedis;
  /** How long a request waits for a human (configuration `broker.approvalTimeout`). */
  pendingMs: number;
  /** How long a request is kept after it was made, so its end stays readable (default 24 h). */
  keepMs?: number;
  now?: () => number;
  /**
   * The approval queue's hook: called once for each new pending request. The approvals issue
   * plugs the BullMQ queue (Slack) in here; failures are the hook's to log.
   */
  onPending?: (request: AccessRequest) => void;
}

/** What a new request is made of. */
export interface NewAccessRequest {
  identity: IdentityKey;
  spec: AccessRequestSpec;
  /** The caller's idempotency key (the sidecar's requestId): the same key answers the same request. */
  requestId?: string;
  /** Who asked, when it was not the agent itself (an operator's username), for the approver. */
  requestedBy?: string;
  /** Reuse a pending request of the same identity with the same scope instead of making another. */
  dedupe?: boolean;
}

const RecordSchema = z.object({ v: z.literal(1), request: AccessRequestSchema, pendingUntil: z.number(), requestedBy: z.string().optional() });
type StoredRequest = z.infer<typeof RecordSchema>;

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `1h30m`, `30m`, `90s` → the same form Kubernetes writes a metav1.Duration in. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 || total === 0 ? `${s}s` : ''}`;
}

/** A fresh request id: a DNS label, as it names the virtual AccessRequest object. */
export function newAccessRequestId(): string {
  return `ar-${randomBytes(8).toString('hex')}`;
}

/** The access requests of every agent. Methods fail with RedisUnavailableError when Redis cannot answer. */
export class AccessRequestStore {
  readonly #o: AccessRequestStoreOptions;
  readonly #now: () => number;
  readonly #keepMs: number;
  readonly #prefix: string;

  constructor(options: AccessRequestStoreOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#keepMs = options.keepMs ?? 24 * 3600_000;
    this.#prefix = options.redis.keys.prefix;
  }

  #key(id: string): string {
    return `${this.#prefix}accessrequest:${id}`;
  }

  #tagged(identity: IdentityKey, what: string): string {
    return `${this.#prefix}{${this.#o.redis.keys.identityPath(identity)}}:${what}`;
  }

  /** Creates a pending request (or returns the one the idempotency key or the dedupe names). */
  async create(input: NewAccessRequest): Promise<AccessRequest> {
    const c = this.#o.redis.client;
    const idemKey = input.requestId === undefined ? undefined : this.#tagged(input.identity, `accessrequest-id:${input.requestId}`);
    if (idemKey !== undefined) {
      const known = await guarded('read access request', () => c.get(idemKey));
      const existing = known === null ? undefined : await this.get(known);
      if (existing !== undefined) return existing;
    }
    const id = newAccessRequestId();
    if (input.dedupe === true) {
      const digest = createHash('sha256').update(JSON.stringify([input.spec.rules, input.spec.roleRef, input.spec.namespaces, input.spec.duration])).digest('hex').slice(0, 32);
      const openKey = this.#tagged(input.identity, `accessrequest-open:${digest}`);
      const claimed = await guarded('create access request', () => c.set(openKey, id, 'PX', this.#o.pendingMs, 'NX'));
      if (claimed === null) {
        const other = await guarded('read access request', () => c.get(openKey));
        const existing = other === null ? undefined : await this.get(other);
        if (existing?.status.phase === 'Pending') return existing;
        await guarded('create access request', () => c.set(openKey, id, 'PX', this.#o.pendingMs));
      }
    }
    const now = this.#now();
    const request: AccessRequest = { apiVersion: BROKER_API_VERSION, id, identity: { ...input.identity }, spec: input.spec, status: { phase: 'Pending' }, createdAt: iso(now) };
    const record: StoredRequest = { v: 1, request, pendingUntil: now + this.#o.pendingMs, ...(input.requestedBy !== undefined ? { requestedBy: input.requestedBy } : {}) };
    const parsed = RecordSchema.parse(record);
    await guarded('create access request', async () => {
      await c.set(this.#key(id), JSON.stringify(parsed), 'PX', this.#keepMs);
      if (idemKey !== undefined) await c.set(idemKey, id, 'PX', this.#keepMs);
    });
    this.#o.onPending?.(request);
    return request;
  }

  /** The request as it stands now (a pending one past its time reads as Expired), or undefined. */
  async get(id: string): Promise<AccessRequest | undefined> {
    return (await this.#record(id))?.request;
  }

  /** Who asked for it, when an operator did. */
  async requestedBy(id: string): Promise<string | undefined> {
    return (await this.#record(id))?.requestedBy;
  }

  async #record(id: string): Promise<StoredRequest | undefined> {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(id) || id.length > 63) return undefined;
    const raw = await guarded('read access request', () => this.#o.redis.client.get(this.#key(id)));
    if (raw === null) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return undefined;
    }
    const parsed = RecordSchema.safeParse(json);
    if (!parsed.success) return undefined;
    const record = parsed.data;
    if (record.request.status.phase === 'Pending' && this.#now() >= record.pendingUntil) {
      record.request.status = { phase: 'Expired', decidedAt: iso(record.pendingUntil), message: 'Nobody decided in time.' };
    }
    return record;
  }

  /**
   * Moves a request on from Pending (or Approved): to Approved, Denied or Granted. Returns the
   * updated request, or undefined when it does not exist or already reached another end.
   */
  async settle(id: string, status: AccessRequestStatus): Promise<AccessRequest | undefined> {
    const record = await this.#record(id);
    if (record === undefined) return undefined;
    const phase = record.request.status.phase;
    if (phase !== 'Pending' && !(phase === 'Approved' && status.phase === 'Granted')) return undefined;
    record.request.status = { ...status, decidedAt: status.decidedAt ?? iso(this.#now()) };
    const parsed = RecordSchema.parse(record);
    const c = this.#o.redis.client;
    await guarded('update access request', async () => {
      const ttl = await c.pttl(this.#key(id));
      await c.set(this.#key(id), JSON.stringify(parsed), 'PX', ttl > 0 ? ttl : this.#keepMs);
    });
    return parsed.request;
  }
}

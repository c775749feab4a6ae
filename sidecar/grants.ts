// What the sidecar knows of its agent's grants: live grants, their credentials, cached decisions
// and the long-lived responses served under each, so a grant's end (expiry or revocation) drops
// its cache and credential and cuts its responses at once.
import type { Credential, Decision } from '../src/contracts/index.ts';
import type { RequestAttributes } from '../src/request/index.ts';
import type { GrantScope } from './scope.ts';

/** A grant as the sidecar enforces it. */
export interface LiveGrant extends GrantScope {
  id: string;
  expiresAt: number;
}

/** Why a grant ended. */
export type GrantEnd = 'expired' | 'revoked' | 'frozen' | 'broker-stream-lost';

interface CachedDecision {
  decision: Decision;
  grantId: string;
  until: number;
}

/** Limits of the decision cache. */
export interface GrantStateOptions {
  /** Reuse of a decision without cacheUntil; 0 disables the cache. */
  cacheTtlMs: number;
  maxEntries: number;
  now?: () => number;
}

/** setTimeout's limit; grants last hours at most, this only guards the arithmetic. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The cache key of a decision: the attributes the broker decided on. */
export function decisionKey(a: RequestAttributes): string {
  return a.isResourceRequest ? `${a.verb}\u0000${a.apiGroup}\u0000${a.resource}\u0000${a.subresource}\u0000${a.namespace}\u0000${a.name}` : `${a.verb}\u0000${a.path}`;
}

/** The sidecar's grant state. */
export class GrantState {
  readonly #grants = new Map<string, LiveGrant>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #credentials = new Map<string, Credential>();
  readonly #cache = new Map<string, CachedDecision>();
  readonly #cutters = new Map<string, Set<(end: GrantEnd) => void>>();
  readonly #credentialWaiters = new Set<() => void>();
  readonly #options: GrantStateOptions;
  readonly #now: () => number;
  /** False while the broker stream is down: revocations could be missed, so nothing is served from cache. */
  streamConnected = false;
  /** Counters for /metrics and the bench. */
  readonly stats = { cacheHits: 0, cacheMisses: 0 };

  constructor(options: GrantStateOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Records a grant (from a decision or the stream); a grant already past its expiry ends at once. */
  putGrant(grant: { id: string; rules: LiveGrant['rules']; namespaces: LiveGrant['namespaces']; expiresAt: string }): void {
    const expiresAt = Date.parse(grant.expiresAt);
    this.#grants.set(grant.id, { id: grant.id, rules: grant.rules, namespaces: grant.namespaces, expiresAt });
    clearTimeout(this.#timers.get(grant.id));
    const delay = expiresAt - this.#now();
    if (delay <= 0) {
      this.end(grant.id, 'expired');
      return;
    }
    const timer = setTimeout(() => this.end(grant.id, 'expired'), Math.min(delay, MAX_TIMER_MS));
    timer.unref();
    this.#timers.set(grant.id, timer);
  }

  /** The live grant with this id, if it has not ended. */
  grant(id: string): LiveGrant | undefined {
    const grant = this.#grants.get(id);
    return grant !== undefined && grant.expiresAt > this.#now() ? grant : undefined;
  }

  /** Records a grant's credential (a newer one replaces the older). */
  putCredential(credential: Credential): void {
    this.#credentials.set(credential.grantId, credential);
    for (const wake of [...this.#credentialWaiters]) wake();
  }

  /** The credential of a live grant. */
  credential(grantId: string): Credential | undefined {
    return this.grant(grantId) === undefined ? undefined : this.#credentials.get(grantId);
  }

  /** Forgets a credential the API server refused, so only a fresh one is used. */
  dropCredential(grantId: string, token: string): void {
    if (this.#credentials.get(grantId)?.token === token) this.#credentials.delete(grantId);
  }

  /** Waits up to `timeoutMs` for a credential of the grant other than `except` (the refused one). */
  waitForCredential(grantId: string, timeoutMs: number, except?: string): Promise<Credential | undefined> {
    const ready = (): Credential | undefined => {
      const c = this.credential(grantId);
      return c !== undefined && c.token !== except ? c : undefined;
    };
    const now = ready();
    if (now !== undefined || this.grant(grantId) === undefined) return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = (value: Credential | undefined): void => {
        clearTimeout(timer);
        this.#credentialWaiters.delete(check);
        resolve(value);
      };
      const check = (): void => {
        const c = ready();
        if (c !== undefined) done(c);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.#credentialWaiters.add(check);
    });
  }

  /** A cached allow for these attributes, if its grant is live and the stream is up. */
  cached(key: string): Decision | undefined {
    const entry = this.#cache.get(key);
    if (entry === undefined || !this.streamConnected) {
      this.stats.cacheMisses++;
      return undefined;
    }
    if (entry.until <= this.#now() || this.grant(entry.grantId) === undefined) {
      this.#cache.delete(key);
      this.stats.cacheMisses++;
      return undefined;
    }
    this.stats.cacheHits++;
    return entry.decision;
  }

  /** Caches an allow until its cacheUntil (or the configured TTL), never past its grant's end. */
  remember(key: string, decision: Decision): void {
    const grant = decision.grant;
    if (decision.outcome !== 'allow' || grant === undefined || this.#options.maxEntries === 0) return;
    const until = Math.min(decision.cacheUntil !== undefined ? Date.parse(decision.cacheUntil) : this.#now() + this.#options.cacheTtlMs, Date.parse(grant.expiresAt));
    if (!(until > this.#now()) || (decision.cacheUntil === undefined && this.#options.cacheTtlMs === 0)) return;
    if (this.#cache.size >= this.#options.maxEntries && !this.#cache.has(key)) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { decision, grantId: grant.id, until });
  }

  /** Drops every cached decision (the stream was lost or restarted without resuming). */
  clearCache(): void {
    this.#cache.clear();
  }

  /**
   * Registers a long-lived response under a grant; `cut` runs when the grant ends. Returns the
   * unregistration, to call when the response ends by itself.
   */
  onEnd(grantId: string, cut: (end: GrantEnd) => void): () => void {
    let set = this.#cutters.get(grantId);
    if (set === undefined) this.#cutters.set(grantId, (set = new Set()));
    set.add(cut);
    return () => {
      set.delete(cut);
      if (set.size === 0 && this.#cutters.get(grantId) === set) this.#cutters.delete(grantId);
    };
  }

  /**
   * Cuts every open long-lived response without ending its grant: while the broker stream is
   * lost, a revocation could not arrive, so nothing stays open on trust. Returns how many were cut.
   */
  cutOpenResponses(why: GrantEnd): number {
    const cutters = [...this.#cutters.values()].flatMap((set) => [...set]);
    for (const cut of cutters) cut(why);
    return cutters.length;
  }

  /** How many responses are open under grants right now. */
  openResponses(): number {
    let n = 0;
    for (const set of this.#cutters.values()) n += set.size;
    return n;
  }

  /** Ends a grant (or every grant: `all`): its cache entries, credential and open responses go. */
  end(grantId: string, why: GrantEnd): void {
    const ids = grantId === 'all' ? new Set([...this.#grants.keys(), ...this.#cutters.keys(), ...this.#credentials.keys()]) : new Set([grantId]);
    for (const id of ids) {
      this.#grants.delete(id);
      this.#credentials.delete(id);
      clearTimeout(this.#timers.get(id));
      this.#timers.delete(id);
      const cutters = this.#cutters.get(id);
      this.#cutters.delete(id);
      for (const cut of cutters ?? []) cut(why);
    }
    for (const [key, entry] of this.#cache) if (ids.has(entry.grantId)) this.#cache.delete(key);
  }

  /** Stops the expiry timers (shutdown). */
  close(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

// A grant's life in one place: created in Redis first (so the start-up sweep never removes a live
// grant's objects), then its expiry job (so every object made in the cluster has a job that removes
// it), then its credential; revoked in Redis first (access ends for the sidecars at once), then in
// the cluster.
import type { Credential, Grant } from '../contracts/stream.ts';
import { GrantEndedError } from './errors.ts';
import type { ExpiryJob, GrantExpiry } from './expiry.ts';
import type { GrantFilter, GrantRecord, GrantStore, NewGrant } from './store.ts';

/** What issues a grant's credential in one connection's mode (TokenRequest or EKS). */
export interface GrantCredentials {
  issue(grant: Grant): Promise<Credential>;
  /** Removes what `issue` created; repeated calls succeed. */
  revoke(ref: { id: string; namespaces?: readonly string[] }): Promise<void>;
}

/** Options of {@link GrantLifecycle}. */
export interface GrantLifecycleOptions {
  store: GrantStore;
  expiry: GrantExpiry;
  /** The credentials of the connection a grant is for. */
  credentialsFor(connection: string): GrantCredentials;
}

/** A new grant with its first credential. */
export interface IssuedGrant {
  grant: Grant;
  credential: Credential;
}

/** Issues, revokes and expires grants across Redis, the cluster and the expiry queue. */
export class GrantLifecycle {
  readonly #o: GrantLifecycleOptions;

  constructor(options: GrantLifecycleOptions) {
    this.#o = options;
  }

  /**
   * Creates a grant and its credential. If the credential cannot be issued the grant is revoked
   * again (fail closed) and the error is thrown.
   */
  async issue(input: NewGrant): Promise<IssuedGrant> {
    const grant = await this.#o.store.create(input);
    const credentials = this.#o.credentialsFor(grant.identity.connection);
    try {
      await this.#o.expiry.schedule(grant);
      const credential = await credentials.issue(grant);
      if (!(await this.#o.store.setCredential(grant, credential))) throw new GrantEndedError(grant.id);
      return { grant, credential };
    } catch (error) {
      await this.#o.store.revoke(grant.id).catch(() => undefined);
      await credentials.revoke(grant).catch(() => undefined);
      throw error;
    }
  }

  /** Ends one grant now; undefined when it was not live. */
  async revoke(id: string): Promise<Grant | undefined> {
    const record = await this.#o.store.revoke(id);
    if (!record) return undefined;
    await this.#cleanUp(record);
    return record.grant;
  }

  /** Ends every grant the filter selects (all for an empty one); returns them. */
  async revokeWhere(filter: GrantFilter): Promise<Grant[]> {
    const records = await this.#o.store.revokeWhere(filter);
    await Promise.all(records.map((r) => this.#cleanUp(r)));
    return records.map((r) => r.grant);
  }

  /** The expiry job's work: remove the cluster objects, then announce the end. */
  async expire(job: ExpiryJob): Promise<void> {
    await this.#o.credentialsFor(job.identity.connection).revoke({ id: job.grantId, namespaces: job.namespaces });
    await this.#o.store.expire(job.identity, job.grantId);
  }

  async #cleanUp(record: GrantRecord): Promise<void> {
    // If the cluster cannot be reached now, the expiry job stays scheduled and retries at the end.
    await this.#o.credentialsFor(record.grant.identity.connection).revoke(record.grant);
    await this.#o.expiry.cancel(record.grant.id);
  }
}

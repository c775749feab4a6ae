// GET /v1/stream: relays each identity's grant events (src/grants/events.ts) to the sidecars of
// that identity. One pub/sub subscription wakes the relay; the events themselves are read from the
// identity's Redis Stream from each sidecar's last seq, so a lost wake-up only delays, never loses.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { formatStreamLine, type StreamEvent } from '../contracts/stream.ts';
import type { IdentityKey } from '../contracts/identity.ts';
import { parseEventNotice, readEvents, type GrantEvent, type GrantStore } from '../grants/index.ts';
import type { AgentgateRedis } from '../redis/client.ts';

/** Options of {@link StreamRelay}. */
export interface StreamRelayOptions {
  redis: AgentgateRedis;
  store: GrantStore;
  brokerVersion: string;
  log: Pick<Logger, 'warn' | 'debug'>;
  /** Heartbeat period (default 15 s); each beat also re-reads every stream, in case a wake-up was lost. */
  heartbeatSeconds?: number;
}

interface Connection {
  identity: IdentityKey;
  res: ServerResponse;
  last: number;
  ready: boolean;
  pumping: boolean;
  again: boolean;
  closed: boolean;
}

const PAGE = 500;
/** A sidecar that stops reading is cut rather than buffered without bound. */
const MAX_BUFFERED = 4 * 1024 * 1024;
const iso = (ms: number): string => new Date(ms).toISOString();

/** The relay of every open stream of this broker replica. */
export class StreamRelay {
  readonly #o: StreamRelayOptions;
  readonly #byIdentity = new Map<string, Set<Connection>>();
  readonly #heartbeatSeconds: number;
  #subscriber: Redis | undefined;
  #beat: NodeJS.Timeout | undefined;

  constructor(options: StreamRelayOptions) {
    this.#o = options;
    this.#heartbeatSeconds = options.heartbeatSeconds ?? 15;
  }

  /** Subscribes to the wake-ups and starts the heartbeat. */
  async start(): Promise<void> {
    // Its own connection (a subscribed client can do nothing else), queueing while Redis is away
    // so that ioredis subscribes again by itself after a reconnect.
    const subscriber = this.#o.redis.client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    this.#subscriber = subscriber;
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, message: string) => this.#notice(message));
    // Wake-ups sent while the subscription was down are lost: read every stream again.
    subscriber.on('ready', () => this.#pumpAll());
    void subscriber.subscribe(this.#o.redis.keys.eventsChannel).catch(() => {});
    this.#beat = setInterval(() => this.#heartbeat(), this.#heartbeatSeconds * 1000);
    this.#beat.unref();
  }

  /** How many streams are open. */
  count(): number {
    let n = 0;
    for (const set of this.#byIdentity.values()) n += set.size;
    return n;
  }

  /**
   * Serves one sidecar's stream until it goes away. Rejects (before anything was written) when
   * Redis cannot answer, so the server can answer 503 instead of a stream.
   */
  async serve(identity: IdentityKey, since: number | undefined, res: ServerResponse): Promise<void> {
    const path = this.#o.redis.keys.identityPath(identity);
    const conn: Connection = { identity, res, last: since ?? 0, ready: false, pumping: false, again: false, closed: false };
    // Registered before the first read, so no wake-up falls between the read and the registration.
    let set = this.#byIdentity.get(path);
    if (set === undefined) this.#byIdentity.set(path, (set = new Set()));
    set.add(conn);
    const forget = (): void => {
      conn.closed = true;
      set.delete(conn);
      if (set.size === 0 && this.#byIdentity.get(path) === set) this.#byIdentity.delete(path);
    };
    try {
      const page = await readEvents(this.#o.redis, identity, since ?? 0, 1);
      const resumed = since !== undefined && page.resumed;
      const state = resumed ? [] : await this.#state(identity, page.latest);
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
      this.#write(conn, { type: 'hello', seq: page.latest, brokerVersion: this.#o.brokerVersion, contract: 'v1', heartbeatSeconds: this.#heartbeatSeconds, resumed });
      for (const event of state) this.#write(conn, event);
      if (!resumed) conn.last = page.latest;
    } catch (error) {
      forget();
      throw error;
    }
    res.on('close', forget);
    conn.ready = true;
    this.#pump(conn);
  }

  /** Ends every stream and the subscription. */
  async close(): Promise<void> {
    clearInterval(this.#beat);
    for (const set of this.#byIdentity.values()) for (const conn of set) conn.res.destroy();
    this.#byIdentity.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  /** Every live grant and its credential; while frozen, only the word to stop. */
  async #state(identity: IdentityKey, seq: number): Promise<StreamEvent[]> {
    if ((await this.#o.store.frozen()) !== undefined) return [{ type: 'revocation', seq, grantId: 'all', reason: 'frozen' }];
    const events: StreamEvent[] = [];
    for (const { grant } of await this.#o.store.listFor(identity)) {
      events.push({ type: 'grant', seq, grant });
      const credential = await this.#o.store.getCredential(grant);
      if (credential) events.push({ type: 'credential', seq, credential });
    }
    return events;
  }

  #write(conn: Connection, event: StreamEvent): void {
    if (conn.closed) return;
    conn.res.write(formatStreamLine(event));
    if (conn.res.writableLength > MAX_BUFFERED) conn.res.destroy();
  }

  #notice(message: string): void {
    const notice = parseEventNotice(message);
    if (notice === undefined) return;
    if ('freeze' in notice) {
      // The kill switch goes to every stream at once, without a Redis read on the way.
      for (const set of this.#byIdentity.values()) {
        for (const conn of set) {
          if (!conn.ready) continue;
          if (notice.freeze) this.#write(conn, { type: 'revocation', seq: conn.last, grantId: 'all', reason: 'frozen' });
          else void this.#resync(conn);
        }
      }
      return;
    }
    for (const conn of this.#byIdentity.get(notice.identity) ?? []) this.#pump(conn);
  }

  /** After a freeze is lifted the sidecars hold nothing: send the live grants again. */
  async #resync(conn: Connection): Promise<void> {
    try {
      for (const event of await this.#state(conn.identity, conn.last)) this.#write(conn, event);
    } catch {
      conn.res.destroy();
    }
  }

  #pumpAll(): void {
    for (const set of this.#byIdentity.values()) for (const conn of set) this.#pump(conn);
  }

  #heartbeat(): void {
    const time = iso(Date.now());
    for (const set of this.#byIdentity.values()) {
      for (const conn of set) {
        if (!conn.ready) continue;
        this.#write(conn, { type: 'heartbeat', seq: conn.last, time });
        this.#pump(conn);
      }
    }
  }

  #pump(conn: Connection): void {
    if (!conn.ready || conn.closed) return;
    if (conn.pumping) {
      conn.again = true;
      return;
    }
    conn.pumping = true;
    void (async () => {
      try {
        do {
          conn.again = false;
          const page = await readEvents(this.#o.redis, conn.identity, conn.last, PAGE);
          if (!page.resumed) {
            // Events this sidecar had not seen were trimmed: send the whole state instead.
            for (const event of await this.#state(conn.identity, page.latest)) this.#write(conn, event);
            conn.last = page.latest;
            continue;
          }
          for (const event of page.events) {
            const out = await this.#toStreamEvent(conn.identity, event);
            if (out) this.#write(conn, out);
            conn.last = Math.max(conn.last, event.seq);
          }
          if (page.events.length === PAGE) conn.again = true;
        } while (conn.again && !conn.closed);
      } catch (error) {
        // Redis is away: end the stream, so the sidecar stops trusting its cache and reconnects.
        this.#o.log.warn({ err: error }, 'broker stream ended: events could not be read');
        conn.res.destroy();
      } finally {
        conn.pumping = false;
      }
    })();
  }

  async #toStreamEvent(identity: IdentityKey, event: GrantEvent): Promise<StreamEvent | undefined> {
    switch (event.type) {
      case 'grant':
        return { type: 'grant', seq: event.seq, grant: event.grant };
      case 'revocation':
        return { type: 'revocation', seq: event.seq, grantId: event.grantId, reason: event.reason };
      case 'credential': {
        // The token is read from its own key: it never sits in the stream's history.
        const credential = await this.#o.store.getCredential({ id: event.grantId, identity });
        return credential ? { type: 'credential', seq: event.seq, credential } : undefined;
      }
    }
  }
}

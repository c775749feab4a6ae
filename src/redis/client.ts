// The broker's Redis connection (standalone, `redis://` or TLS `rediss://`, AUTH/ACL from the URL)
// tuned to fail fast, and the one table of agentgate's Redis keys.
//
// Key layout (P = the configured prefix, `agentgate:` by default; T = `{<connection>/<namespace>/<agent>}`,
// a Redis Cluster hash tag, so every key of one identity lives in one slot and the scripts that
// touch several of them stay single-slot):
//   P T:grant:<id>      string  the grant record (JSON), SET … PXAT its expiry: the TTL is the truth
//   P T:cred:<id>       string  the grant's current credential (JSON, a secret), same expiry
//   P T:grants          zset    the identity's grant ids scored by expiry (ms); readers drop expired members
//   P T:events          stream  grant / credential / revocation events, entry id `0-<seq>`, capped
//   P T:seq             string  the identity's event counter (never expires, so seq only grows)
//   P grant-owner:<id>  string  `<connection>/<namespace>/<agent>` of a grant, to find it by id alone
//   P {all}:grants      zset    every grant as `<connection>/<namespace>/<agent>/<id>`, scored by expiry
//   P freeze            string  present while an operator has frozen agentgate (JSON: who, when)
//   P events            channel pub/sub wake-up `{identity, seq}` after each event (no payload secrets)
//   P {bullmq}:…        BullMQ queues (one hash tag for all of them, as BullMQ needs on a cluster)
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { IdentityKey } from '../contracts/identity.ts';

/** TLS material for `rediss://`; files are read once, when the client is created. */
export interface RedisTlsOptions {
  /** CA bundle that signed the server's certificate; the system roots when absent. */
  caFile?: string;
  /** Client certificate and key, for servers that require them (`tls-auth-clients yes`). */
  certFile?: string;
  keyFile?: string;
  /** The name the server's certificate must carry, when it differs from the URL's host. */
  serverName?: string;
}

/** Options of {@link createRedis}. */
export interface CreateRedisOptions {
  keyPrefix: string;
  tls?: RedisTlsOptions;
  /** Milliseconds to establish the connection (default 2000). */
  connectTimeoutMs?: number;
  /** Milliseconds a command may wait for its answer before it fails (default 1000). */
  commandTimeoutMs?: number;
  /** `CLIENT SETNAME`, to find the broker in `CLIENT LIST`. */
  connectionName?: string;
}

/** A connected client with the key table of its prefix. */
export interface AgentgateRedis {
  client: Redis;
  keys: RedisKeys;
  /**
   * Connection options for BullMQ (queues and workers open their own connections; workers need
   * `maxRetriesPerRequest: null` for their blocking reads, which `blocking` sets).
   */
  bullConnection(blocking: boolean): BullRedisOptions;
  /** Resolves once the server answered (AUTH and the ready check done); rejects with RedisUnavailableError. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Redis could not answer (down, unreachable, too slow, refused our credentials). The broker fails
 * closed on it: no grant is created or found, and the sidecar gets `redis-unavailable`.
 */
export class RedisUnavailableError extends Error {
  readonly code = 'redis-unavailable';
  constructor(operation: string, cause: unknown) {
    super(`Redis is unavailable (${operation}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RedisUnavailableError';
  }
}

/**
 * Runs one Redis operation and turns any failure into RedisUnavailableError, except errors Redis
 * itself answered about the data (`ReplyError`, e.g. WRONGTYPE), which are bugs and stay as they are.
 */
export async function guarded<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof Error && error.name === 'ReplyError' && !/^(NOAUTH|WRONGPASS|NOPERM|LOADING|MASTERDOWN|READONLY)/.test(error.message)) throw error;
    throw new RedisUnavailableError(operation, error);
  }
}

const PREFIX = /^[A-Za-z0-9:_.-]{1,64}$/;

/** The key table of a prefix (see the module header for the layout). */
export interface RedisKeys {
  prefix: string;
  /** `<connection>/<namespace>/<agent>`: none of the three may hold `/`, so it splits back exactly. */
  identityPath(identity: IdentityKey): string;
  grant(identity: IdentityKey, id: string): string;
  credential(identity: IdentityKey, id: string): string;
  identityGrants(identity: IdentityKey): string;
  identityEvents(identity: IdentityKey): string;
  identitySeq(identity: IdentityKey): string;
  grantOwner(id: string): string;
  allGrants: string;
  freeze: string;
  eventsChannel: string;
  bullPrefix: string;
}

/** Builds the key table; the prefix may not hold `{` or `}`, which would move the hash tag. */
export function keys(prefix: string): RedisKeys {
  if (!PREFIX.test(prefix)) throw new TypeError(`Redis key prefix must be 1 to 64 letters, digits, ':', '_', '.' or '-', got ${JSON.stringify(prefix)}`);
  const path = (k: IdentityKey): string => `${k.connection}/${k.namespace}/${k.agent}`;
  const tagged = (k: IdentityKey): string => `${prefix}{${path(k)}}`;
  return {
    prefix,
    identityPath: path,
    grant: (k, id) => `${tagged(k)}:grant:${id}`,
    credential: (k, id) => `${tagged(k)}:cred:${id}`,
    identityGrants: (k) => `${tagged(k)}:grants`,
    identityEvents: (k) => `${tagged(k)}:events`,
    identitySeq: (k) => `${tagged(k)}:seq`,
    grantOwner: (id) => `${prefix}grant-owner:${id}`,
    allGrants: `${prefix}{all}:grants`,
    freeze: `${prefix}freeze`,
    eventsChannel: `${prefix}events`,
    bullPrefix: `${prefix}{bullmq}`,
  };
}

/** Where and how to connect: what the URL and the TLS files say. */
type Endpoint = Pick<RedisOptions, 'host' | 'port' | 'db' | 'username' | 'password' | 'tls'>;

/** Reads the URL into ioredis options; the password never appears in an error message. */
function connectionOptions(url: string, tls: RedisTlsOptions | undefined): Endpoint {
  if (!URL.canParse(url)) throw new TypeError('Redis URL is not a URL (expected redis://[user:password@]host:port[/db])');
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new TypeError(`Redis URL must start with redis:// or rediss://, got ${u.protocol}//`);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,2}$/.test(db)) throw new TypeError(`Redis URL path must be a database number, got /${db}`);
  const options: Endpoint = { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 6379 : Number(u.port), db: db === '' ? 0 : Number(db) };
  if (u.username !== '') options.username = decodeURIComponent(u.username);
  if (u.password !== '') options.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') {
    const t: TlsConnectionOptions = {};
    if (tls?.caFile) t.ca = readFileSync(tls.caFile);
    if (tls?.certFile) t.cert = readFileSync(tls.certFile);
    if (tls?.keyFile) t.key = readFileSync(tls.keyFile);
    t.servername = tls?.serverName ?? options.host;
    options.tls = t;
  } else if (tls && (tls.caFile || tls.certFile || tls.keyFile)) {
    throw new TypeError('Redis TLS files are set but the URL is redis://; use rediss:// to connect with TLS');
  }
  return options;
}

/**
 * Creates the broker's Redis client. It fails fast rather than waiting: commands issued while the
 * connection is down are refused at once (no offline queue), a command without an answer fails
 * after `commandTimeoutMs`, and reconnection keeps trying in the background with a short backoff,
 * so the broker recovers as soon as Redis is back. Callers wrap calls in {@link guarded}.
 */
export function createRedis(url: string, options: CreateRedisOptions): AgentgateRedis {
  const base = connectionOptions(url, options.tls);
  const table = keys(options.keyPrefix);
  const connectTimeout = options.connectTimeoutMs ?? 2000;
  const client = new Redis({
    ...base,
    lazyConnect: true,
    connectTimeout,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
  });
  // Without a listener ioredis prints every reconnection failure; callers see them as errors.
  let lastError: unknown = new Error('not connected');
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  return {
    client,
    keys: table,
    bullConnection: (blocking) => ({ ...base, connectTimeout, maxRetriesPerRequest: blocking ? null : 1, enableOfflineQueue: blocking, ...(options.connectionName ? { connectionName: `${options.connectionName}-bullmq` } : {}) }),
    ready: async () => {
      if (client.status === 'ready') return;
      // The first connect starts ioredis's own reconnection loop; later calls only wait for it.
      if (client.status === 'wait') client.connect().catch(() => {});
      await new Promise<void>((resolve, reject) => {
        const done = (error?: unknown): void => {
          clearTimeout(timer);
          client.off('ready', onReady);
          client.off('end', onEnd);
          if (error === undefined) resolve();
          else reject(new RedisUnavailableError('connect', error));
        };
        const onReady = (): void => done();
        const onEnd = (): void => done(new Error('connection closed'));
        const timer = setTimeout(() => done(lastError), connectTimeout);
        client.on('ready', onReady);
        client.on('end', onEnd);
        if (client.status === 'ready') done();
      });
    },
    close: async () => {
      if (client.status === 'end') return;
      await client.quit().catch(() => client.disconnect());
    },
  };
}

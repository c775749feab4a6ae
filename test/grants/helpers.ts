// Shared pieces of the grant tests: a connected store on a real redis-server, grant inputs, and
// polling with a deadline instead of fixed sleeps.
import type { ExecutionContext } from 'ava';
import { createRedis, type AgentgateRedis } from '../../src/redis/client.ts';
import { GrantStore, type GrantStoreOptions, type NewGrant } from '../../src/grants/index.ts';
import type { RedisServer } from '../helpers/redis.ts';

/** A client with a per-test prefix, closed at the end of the test. */
export async function connect(t: ExecutionContext, server: RedisServer, prefix = `t${Math.random().toString(36).slice(2, 8)}:`): Promise<AgentgateRedis> {
  const redis = createRedis(server.url, { keyPrefix: prefix, commandTimeoutMs: 500, connectTimeoutMs: 1000 });
  t.teardown(() => redis.close());
  await redis.ready();
  return redis;
}

/** A store on a fresh client. */
export async function storeOn(t: ExecutionContext, server: RedisServer, options: Partial<GrantStoreOptions> = {}): Promise<{ store: GrantStore; redis: AgentgateRedis }> {
  const redis = await connect(t, server);
  return { store: new GrantStore({ redis, ...options }), redis };
}

/** A read-only grant of pods for an agent. */
export function podsGrant(overrides: Partial<NewGrant> = {}): NewGrant {
  return {
    identity: { connection: 'prod', namespace: 'payments', agent: 'triage-bot' },
    rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }],
    namespaces: ['payments'],
    reason: 'look at crashing pods',
    ttlMs: 60_000,
    ...overrides,
  };
}

/** Resolves once `check` returns a value other than undefined/false, or fails at the deadline. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// The Redis side of the audit store: its keys, the two Lua scripts that move the chain head
// atomically (append, trim), and the calls around them with a deadline and typed failures.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { GENESIS_HASH } from './chain.ts';
import { AuditStoreUnavailableError } from './errors.ts';

/** The client the audit store uses: an ioredis `Redis` (a `Cluster` works too: every key shares one hash tag). */
export type AuditRedis = Pick<Redis, 'status' | 'evalsha' | 'eval' | 'xrange' | 'xrevrange' | 'hgetall' | 'xlen'>;

/**
 * The audit store's keys. All carry the hash tag `{audit}`, so on Redis Cluster they live in one
 * slot and one script may touch them all: the stream, the chain head and the id index.
 */
export interface AuditKeys {
  /** The Redis Stream of chained entries. */
  stream: string;
  /** Hash {seq, hash, id} of the newest entry: where the next append links to. */
  head: string;
  /** Sorted set of stored event ids (score: ms of their stream id), for idempotent appends. */
  ids: string;
}

/** The keys under one prefix. */
export function auditKeys(keyPrefix: string): AuditKeys {
  return { stream: `${keyPrefix}{audit}:stream`, head: `${keyPrefix}{audit}:head`, ids: `${keyPrefix}{audit}:ids` };
}

// The current head: the head hash, or, should that key be lost, the newest stream entry, or
// the genesis. Reading it inside the script is what makes check-and-append one atomic step.
const headLua = `
local function fieldOf(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
local function head()
  local h = redis.call('HMGET', KEYS[2], 'seq', 'hash')
  if h[1] and h[2] then return h[1], h[2] end
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local seq = fieldOf(last[1][2], 'seq')
    local hash = fieldOf(last[1][2], 'hash')
    if seq and hash then return seq, hash end
  end
  return '-1', '${GENESIS_HASH}'
end
`;

// ARGV: expected head seq and hash, entry count, then per entry seq, type, eid, data, prev, hash.
// The hashes are computed by the caller (Lua in Redis has no SHA-256); the script appends only
// if the head is still the one they were computed from and no event id is already stored,
// otherwise it answers the real head and the stored ids so the caller can recompute and retry.
const appendLua = `${headLua}
local seq, hash = head()
local n = tonumber(ARGV[3])
local stored = {}
for i = 0, n - 1 do
  local eid = ARGV[4 + i * 6 + 2]
  if eid ~= '' and redis.call('ZSCORE', KEYS[3], eid) then stored[#stored + 1] = eid end
end
if seq ~= ARGV[1] or hash ~= ARGV[2] or #stored > 0 then
  return {'conflict', seq, hash, stored}
end
local ids = {}
local lastId = ''
for i = 0, n - 1 do
  local b = 4 + i * 6
  local s, t, e, d, p, h = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local id
  if e ~= '' then
    id = redis.call('XADD', KEYS[1], '*', 'seq', s, 'type', t, 'eid', e, 'data', d, 'prev', p, 'hash', h)
    redis.call('ZADD', KEYS[3], tonumber(string.match(id, '^(%d+)')), e)
  else
    id = redis.call('XADD', KEYS[1], '*', 'seq', s, 'type', t, 'data', d, 'prev', p, 'hash', h)
  end
  ids[#ids + 1] = id
  lastId = id
  seq = s
  hash = h
end
redis.call('HSET', KEYS[2], 'seq', seq, 'hash', hash, 'id', lastId)
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
return {'ok', ids, redis.call('XLEN', KEYS[1]), first[1][1]}
`;

// ARGV: expected head seq and hash, expected first stream id, MINID, ms below which ids leave
// the index, then the marker's seq, data, prev and hash. Nothing is removed unless the head and
// the first entry are the ones the caller read, so the marker describes exactly what went.
const trimLua = `${headLua}
local seq, hash = head()
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local firstId = ''
if #first > 0 then firstId = first[1][1] end
if seq ~= ARGV[1] or hash ~= ARGV[2] or firstId ~= ARGV[3] then
  return {'conflict', seq, hash}
end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
local id = redis.call('XADD', KEYS[1], '*', 'seq', ARGV[6], 'type', 'trim', 'data', ARGV[7], 'prev', ARGV[8], 'hash', ARGV[9])
redis.call('HSET', KEYS[2], 'seq', ARGV[6], 'hash', ARGV[9], 'id', id)
return {'ok', removed, id}
`;

interface Script {
  lua: string;
  sha: string;
}

const script = (lua: string): Script => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
const appendScript = script(appendLua);
const trimScript = script(trimLua);

/** The chain head as Redis holds it. */
export interface ChainHead {
  seq: number;
  hash: string;
  /** Stream id of the head entry ('' when unknown). */
  id: string;
}

/** The genesis head: before the first entry. */
export const GENESIS_HEAD: ChainHead = { seq: -1, hash: GENESIS_HASH, id: '' };

/** A reply error from Redis itself (a script error, NOSCRIPT), as opposed to a connection failure. */
function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

/** Access to the audit keys with a deadline on every call; connection failures become AuditStoreUnavailableError. */
export interface AuditRedisAccess {
  readonly keys: AuditKeys;
  /** Runs `operation` against Redis, failing fast when the client is not connected. */
  call<T>(operation: (redis: AuditRedis) => Promise<T>): Promise<T>;
  /** The append script (see appendLua for the arguments). */
  append(args: readonly string[]): Promise<unknown>;
  /** The trim script (see trimLua for the arguments). */
  trim(args: readonly string[]): Promise<unknown>;
}

/** Binds a client, a key prefix and a deadline. */
export function auditRedisAccess(redis: AuditRedis, keyPrefix: string, timeoutMs: number): AuditRedisAccess {
  const keys = auditKeys(keyPrefix);
  const call = async <T>(operation: (client: AuditRedis) => Promise<T>): Promise<T> => {
    // ioredis queues commands while it reconnects; a caller holding a batch must learn at once
    // that Redis is away (and spool), not after the reconnect loop gives up.
    if (redis.status !== 'ready') throw new AuditStoreUnavailableError(`Redis is not connected (${redis.status})`);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AuditStoreUnavailableError(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([operation(redis), deadline]);
    } catch (error) {
      if (error instanceof AuditStoreUnavailableError || isReplyError(error)) throw error;
      throw new AuditStoreUnavailableError(`Redis failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  };
  const run = (chosen: Script, args: readonly string[]) =>
    call(async (client) => {
      const keyList = [keys.stream, keys.head, keys.ids];
      try {
        return await client.evalsha(chosen.sha, keyList.length, ...keyList, ...args);
      } catch (error) {
        // NOSCRIPT is Redis's code for an empty script cache (a restart, a failover): send the body.
        if (isReplyError(error) && error.message.startsWith('NOSCRIPT')) return client.eval(chosen.lua, keyList.length, ...keyList, ...args);
        throw error;
      }
    });
  return { keys, call, append: (args) => run(appendScript, args), trim: (args) => run(trimScript, args) };
}

/** Reads the head hash; undefined when there is none (an empty store, or a lost key). */
export async function readHead(access: AuditRedisAccess): Promise<ChainHead | undefined> {
  const fields = await access.call((redis) => redis.hgetall(access.keys.head));
  const seq = Number(fields.seq);
  if (fields.hash === undefined || fields.seq === undefined || !Number.isSafeInteger(seq)) return undefined;
  return { seq, hash: fields.hash, id: fields.id ?? '' };
}

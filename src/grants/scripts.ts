// The Lua scripts of the grant store. Each touches the keys of one identity only (one hash tag,
// one Cluster slot), so a state change and its stream event are written atomically or not at all.
import type { Redis } from 'ioredis';

// Every event takes the next value of the identity's counter as its seq and is stored with the
// stream entry id `0-<seq>`, so `XRANGE (0-<since> +` resumes exactly after what a sidecar saw.
// The PUBLISH only wakes relays up; they read the event from the stream.
const EMIT = `
local function emit(events, seqKey, channel, path, maxlen, fields)
  local seq = redis.call('INCR', seqKey)
  local args = {'XADD', events, 'MAXLEN', '~', maxlen, '0-' .. seq}
  for _, f in ipairs(fields) do table.insert(args, f) end
  redis.call(unpack(args))
  redis.call('PUBLISH', channel, cjson.encode({identity = path, seq = seq}))
  return seq
end
`;

/** KEYS grant, index, events, seq; ARGV record, expiresAtMs, id, nowMs, channel, path, maxlen, grantJson. Returns seq, or 0 when the id exists. */
const CREATE = `${EMIT}
if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX') then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
return emit(KEYS[3], KEYS[4], ARGV[5], ARGV[6], ARGV[7], {'type', 'grant', 'grantId', ARGV[3], 'grant', ARGV[8]})
`;

/**
 * KEYS grant, cred, index, events, seq; ARGV id, reason, channel, path, maxlen, always.
 * Returns {record or false, seq}: no event when the grant was already gone, unless `always` is 1
 * (an expiry is announced even though the TTL already removed the record).
 */
const REVOKE = `${EMIT}
local record = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
if not record and ARGV[6] ~= '1' then return {false, 0} end
local seq = emit(KEYS[4], KEYS[5], ARGV[3], ARGV[4], ARGV[5], {'type', 'revocation', 'grantId', ARGV[1], 'reason', ARGV[2]})
return {record, seq}
`;

/** KEYS grant, cred, events, seq; ARGV credential, id, channel, path, maxlen. The credential ends with its grant; 0 when the grant is gone. */
const SET_CREDENTIAL = `${EMIT}
local at = redis.call('PEXPIRETIME', KEYS[1])
if at < 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PXAT', at)
return emit(KEYS[3], KEYS[4], ARGV[3], ARGV[4], ARGV[5], {'type', 'credential', 'grantId', ARGV[2]})
`;

/** KEYS events, seq; ARGV channel, path, maxlen, then field/value pairs. Returns seq. */
const APPEND = `${EMIT}
local fields = {}
for i = 4, #ARGV do table.insert(fields, ARGV[i]) end
return emit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], fields)
`;

/**
 * KEYS index; ARGV nowMs, grant key prefix. Drops expired and vanished members and returns the
 * live records. The grant keys it reads are not in KEYS but share the index's hash tag, so the
 * script stays in one slot on a Cluster.
 */
const LIST = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[2] .. id)
  if v then table.insert(out, v) else redis.call('ZREM', KEYS[1], id) end
end
return out
`;

type Arg = string | number;

/** The scripts, bound to one client (EVALSHA with a fallback to EVAL, as ioredis's defineCommand does). */
export interface GrantScripts {
  create(keys: [string, string, string, string], args: Arg[]): Promise<number>;
  revoke(keys: [string, string, string, string, string], args: Arg[]): Promise<[string | null, number]>;
  setCredential(keys: [string, string, string, string], args: Arg[]): Promise<number>;
  append(keys: [string, string], args: Arg[]): Promise<number>;
  list(keys: [string], args: Arg[]): Promise<string[]>;
}

const DEFINITIONS = { create: [CREATE, 4], revoke: [REVOKE, 5], setCredential: [SET_CREDENTIAL, 4], append: [APPEND, 2], list: [LIST, 1] } as const;

/** Registers the scripts on `client` and returns typed callers. */
export function grantScripts(client: Redis): GrantScripts {
  const callers: Record<string, (...args: Arg[]) => Promise<unknown>> = {};
  for (const [name, [lua, numberOfKeys]] of Object.entries(DEFINITIONS)) {
    const command = `agentgate_grants_${name}`;
    client.defineCommand(command, { lua, numberOfKeys });
    const bound = (client as unknown as Record<string, (...args: Arg[]) => Promise<unknown>>)[command];
    if (!bound) throw new Error(`ioredis did not define ${command}`);
    callers[name] = bound.bind(client);
  }
  const call = async <T>(name: keyof typeof DEFINITIONS, keys: string[], args: Arg[]): Promise<T> => {
    const fn = callers[name];
    if (!fn) throw new Error(`no script ${name}`);
    return (await fn(...keys, ...args)) as T;
  };
  return {
    create: (k, a) => call('create', k, a),
    revoke: async (k, a) => {
      const [record, seq] = await call<[string | null | false, number]>('revoke', k, a);
      return [typeof record === 'string' ? record : null, seq];
    },
    setCredential: (k, a) => call('setCredential', k, a),
    append: (k, a) => call('append', k, a),
    list: (k, a) => call('list', k, a),
  };
}

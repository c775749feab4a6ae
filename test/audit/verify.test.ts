// `audit verify` against tampering done with raw Redis commands on a real redis-server: an edited
// entry, a deleted one (gap) at the start, middle and end, a moved one, and retention trims
// with their markers, which are accepted; plus the CLI's exit codes.
import test from 'ava';
import type { Redis } from 'ioredis';
import { auditVerifyCommand, createAuditStore, entryHash, verifyAudit, type AuditStore } from '../../src/audit/index.ts';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.ts';
import { auditEvents, brokerRedis, prefix, untilReady } from './fixtures.ts';

let server: RedisServer;
let redis: Redis;
test.before(async () => {
  server = await startRedis();
  redis = brokerRedis(server.url);
  await untilReady(redis);
});
test.after.always(async () => {
  redis?.disconnect();
  await server?.close();
});

type Fields = Record<string, string>;
type Entry = [id: string, fields: Fields];

async function entries(store: AuditStore): Promise<Entry[]> {
  const raw = await redis.xrange(store.keys.stream, '-', '+');
  return raw.map(([id, list]) => [id, Object.fromEntries(list.flatMap((_, i) => (i % 2 === 0 ? [[list[i] ?? '', list[i + 1] ?? '']] : [])))]);
}

/** Rewrites the stream with raw commands: DEL, then XADD every entry again under its own id. */
async function rewrite(store: AuditStore, change: (list: Entry[]) => Entry[]): Promise<void> {
  const list = change(await entries(store));
  await redis.del(store.keys.stream);
  for (const [id, fields] of list) await redis.xadd(store.keys.stream, id, ...Object.entries(fields).flat());
}

const editData = (fields: Fields): Fields => ({ ...fields, data: String(fields.data).replace('"verb":"list"', '"verb":"delete"') });

interface Row {
  name: string;
  events: number;
  /** The tampering; returns the stream id the break must be reported at (undefined: intact). */
  tamper: (store: AuditStore, list: Entry[]) => Promise<string | undefined>;
  kind?: 'edited' | 'gap' | 'reordered';
  detail?: RegExp;
}

const at = (list: Entry[], index: number): string => list.at(index)?.[0] ?? 'missing';

const rows: Row[] = [
  // Untouched.
  { name: 'an untouched chain is intact', events: 6, tamper: async () => undefined },
  { name: 'an empty store is intact', events: 0, tamper: async () => undefined },
  // Edits.
  {
    name: 'an event edited in place (DEL and XADD under the same ids) is found as edited at that entry',
    events: 6,
    tamper: async (store, list) => { await rewrite(store, (all) => all.map(([id, f], i) => [id, i === 2 ? editData(f) : f])); return at(list, 2); },
    kind: 'edited',
    detail: /does not match its hash/,
  },
  {
    name: 'an edited event whose own hash was recomputed is found as edited: the next entry links elsewhere',
    events: 6,
    tamper: async (store, list) => {
      await rewrite(store, (all) => all.map(([id, f], i) => {
        if (i !== 3) return [id, f];
        const edited = editData(f);
        return [id, { ...edited, hash: entryHash({ seq: 3, type: 'event', data: String(edited.data), prev: String(f.prev) }) }];
      }));
      return at(list, 3);
    },
    kind: 'edited',
    detail: /rewritten/,
  },
  {
    name: 'the newest entry edited with its hash recomputed is found against the recorded head',
    events: 4,
    tamper: async (store, list) => {
      await rewrite(store, (all) => all.map(([id, f], i) => {
        if (i !== 3) return [id, f];
        const edited = editData(f);
        return [id, { ...edited, hash: entryHash({ seq: 3, type: 'event', data: String(edited.data), prev: String(f.prev) }) }];
      }));
      return at(list, 3);
    },
    kind: 'edited',
    detail: /recorded as the head/,
  },
  {
    name: 'an event relabelled as a trim marker is found as edited',
    events: 4,
    tamper: async (store, list) => { await rewrite(store, (all) => all.map(([id, f], i) => [id, i === 1 ? { ...f, type: 'trim' } : f])); return at(list, 1); },
    kind: 'edited',
  },
  {
    name: 'an entry missing its fields is found as edited',
    events: 4,
    tamper: async (store, list) => { await rewrite(store, (all) => all.map(([id, f], i) => [id, i === 1 ? { note: 'gone' } : f])); return at(list, 1); },
    kind: 'edited',
    detail: /not an audit entry/,
  },
  // Deletions.
  {
    name: 'an entry deleted in the middle (XDEL) is found as a gap at the entry after it',
    events: 6,
    tamper: async (store, list) => { await redis.xdel(store.keys.stream, at(list, 2)); return at(list, 3); },
    kind: 'gap',
    detail: /seq 2 to 2 are missing/,
  },
  {
    name: 'the first entries deleted without a trim marker are found as a gap at the new first entry',
    events: 6,
    tamper: async (store, list) => { await redis.xdel(store.keys.stream, at(list, 0), at(list, 1)); return at(list, 2); },
    kind: 'gap',
    detail: /seq 0 to 1 before the first entry/,
  },
  {
    name: 'the newest entries deleted are found as a gap against the recorded head',
    events: 6,
    tamper: async (store, list) => { await redis.xdel(store.keys.stream, at(list, 4), at(list, 5)); return at(list, 5); },
    kind: 'gap',
    detail: /seq 4 to 5 at the end/,
  },
  {
    name: 'the chain head record deleted is reported',
    events: 3,
    tamper: async (store, list) => { await redis.del(store.keys.head); return at(list, 2); },
    kind: 'edited',
    detail: /head record is missing/,
  },
  // Moves.
  {
    name: 'an entry deleted and added again at the end is found as reordered',
    events: 6,
    tamper: async (store, list) => {
      const [id, fields] = list[2] ?? ['', {}];
      await redis.xdel(store.keys.stream, id);
      return redis.xadd(store.keys.stream, '*', ...Object.entries(fields).flat()).then((moved) => moved ?? '');
    },
    kind: 'reordered',
  },
  // Retention.
  {
    name: 'a trim by length leaves a marker and the chain is intact',
    events: 10,
    tamper: async (store) => { await createAuditStore({ redis, keyPrefix: keyPrefixOf(store), stdout: null, retention: { maxLen: 4 } }).trim(); return undefined; },
  },
  {
    name: 'two trims, the older marker trimmed by the newer, are intact',
    events: 10,
    tamper: async (store) => {
      await createAuditStore({ redis, keyPrefix: keyPrefixOf(store), stdout: null, retention: { maxLen: 6 } }).trim();
      await store.append(auditEvents(4));
      await createAuditStore({ redis, keyPrefix: keyPrefixOf(store), stdout: null, retention: { maxLen: 3 } }).trim();
      return undefined;
    },
  },
  {
    name: 'a trim by age removes every entry older than maxAge and is intact',
    events: 5,
    tamper: async (store) => {
      const later = Date.now() + 3_600_000;
      const result = await createAuditStore({ redis, keyPrefix: keyPrefixOf(store), stdout: null, retention: { maxAgeMs: 60_000 }, now: () => later }).trim();
      if (result.removed !== 5) throw new Error(`expected 5 removed, got ${result.removed}`);
      return undefined;
    },
  },
  {
    name: 'an entry deleted after a trim, at the new start, is a gap: the marker names another entry',
    events: 10,
    tamper: async (store) => {
      await createAuditStore({ redis, keyPrefix: keyPrefixOf(store), stdout: null, retention: { maxLen: 6 } }).trim();
      const after = await entries(store);
      await redis.xdel(store.keys.stream, at(after, 0));
      return at(after, 1);
    },
    kind: 'gap',
  },
  {
    name: 'a trim never launders a deletion: it stops before the gap, which verify still finds',
    events: 10,
    tamper: async (store, list) => {
      await redis.xdel(store.keys.stream, at(list, 3));
      const result = await createAuditStore({ redis, keyPrefix: keyPrefixOf(store), stdout: null, retention: { maxLen: 2 } }).trim();
      if (result.stoppedAt !== at(list, 4) || result.removed !== 3) throw new Error(`trim did not stop at the gap: ${JSON.stringify(result)}`);
      return at(list, 4);
    },
    kind: 'gap',
  },
];

function keyPrefixOf(store: AuditStore): string {
  return store.keys.stream.replace('{audit}:stream', '');
}

for (const row of rows) {
  test(row.name, async (t) => {
    const store = createAuditStore({ redis, keyPrefix: prefix(), stdout: null });
    if (row.events > 0) await store.append(auditEvents(row.events));
    const expectedAt = await row.tamper(store, await entries(store));
    const result = await verifyAudit(store);
    if (row.kind === undefined) {
      t.true(result.ok, JSON.stringify(result.firstBreak));
      t.is(result.firstBreak, undefined);
      return;
    }
    t.false(result.ok);
    t.is(result.firstBreak?.kind, row.kind, result.firstBreak?.detail);
    t.is(result.firstBreak?.id, expectedAt, result.firstBreak?.detail);
    if (row.detail) t.regex(result.firstBreak?.detail ?? '', row.detail);
  });
}

test('trim markers are listed with the range they removed', async (t) => {
  const keyPrefix = prefix();
  const store = createAuditStore({ redis, keyPrefix, stdout: null });
  await store.append(auditEvents(10));
  const trim = await createAuditStore({ redis, keyPrefix, stdout: null, retention: { maxLen: 4 } }).trim();
  t.is(trim.removed, 7);
  t.is(await redis.xlen(store.keys.stream), 4);
  const result = await verifyAudit(store);
  t.true(result.ok);
  t.is(result.checked, 4);
  t.is(result.trimmed.length, 1);
  t.like(result.trimmed[0], { markerId: trim.marker?.streamId, firstSeq: 0, lastSeq: 6, removed: 7 });
  t.deepEqual(result.head, { seq: 10, hash: trim.marker?.hash });
  t.deepEqual(await createAuditStore({ redis, keyPrefix, stdout: null, retention: { maxLen: 4 } }).trim(), { removed: 0 }, 'nothing more is due');
});

test('audit verify exits 0 for an intact chain, 1 for a broken one, 1 when Redis cannot be reached', async (t) => {
  const keyPrefix = prefix();
  const store = createAuditStore({ redis, keyPrefix, stdout: null });
  await store.append(auditEvents(3));
  const intact = await auditVerifyCommand({ redisUrl: server.url, keyPrefix });
  t.is(intact.exitCode, 0);
  t.is(intact.stdout, 'audit chain intact: 3 entries checked, no retention trims\n');
  const list = await entries(store);
  await redis.xdel(store.keys.stream, at(list, 1));
  const broken = await auditVerifyCommand({ redisUrl: server.url, keyPrefix });
  t.is(broken.exitCode, 1);
  t.regex(broken.stdout, new RegExp(`^audit chain BROKEN: gap at entry ${at(list, 2)}: entries seq 1 to 1 are missing`));
  const json = await auditVerifyCommand({ redisUrl: server.url, keyPrefix, output: 'json' });
  t.like(JSON.parse(json.stdout), { ok: false, checked: 2, firstBreak: { kind: 'gap', id: at(list, 2) } });
  const nowhere = await auditVerifyCommand({ redisUrl: `redis://:hunter2@127.0.0.1:${await freePort()}`, keyPrefix, timeoutMs: 1000 });
  t.is(nowhere.exitCode, 1);
  t.regex(nowhere.stderr, /cannot read the audit store at redis:\/\/:\[REDACTED\]@127\.0\.0\.1/);
  t.notRegex(nowhere.stderr, /hunter2/);
});

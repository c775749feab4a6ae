// The disk spool behind "no audit event is lost": batches wait in fsynced files while the
// broker (sidecar side) or Redis (broker side) is away, and leave only once they were taken.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { AuditEventSchema, MAX_AUDIT_BATCH, type AuditEvent } from '../contracts/audit.ts';
import { AuditSpoolFullError } from './errors.ts';

/** Options of createAuditSpool. */
export interface AuditSpoolOptions {
  /** The spool directory (created if missing); give each process its own. */
  dir: string;
  /** Most bytes of batches held. */
  maxBytes: number;
  /** Most batch files held. */
  maxFiles: number;
}

/** What a drain did. */
export interface DrainResult {
  /** Batches taken by `send` and removed from disk. */
  sent: number;
  /** Batches still on disk. */
  remaining: number;
  /** Files that did not hold a valid batch: moved to `corrupt/` (kept for people, never re-sent). */
  quarantined: number;
  /** Why the drain stopped early (the first failure of `send`). */
  error?: unknown;
}

/** Counters and level of a spool. */
export interface SpoolStats {
  files: number;
  bytes: number;
  /** Batches and events refused because the spool was full. */
  refusedBatches: number;
  refusedEvents: number;
}

/**
 * A bounded disk spool of audit batches. When full, `add` refuses the new batch with
 * AuditSpoolFullError and counts it; it never drops older batches to make room. Dropping the
 * oldest would let an agent erase the record of what it did by flooding the spool with cheap
 * requests, so the spool keeps the evidence and the caller decides: the sidecar fails closed
 * (it stops forwarding the agent's requests with `audit-spool-full` until a drain frees room),
 * because a request that cannot be audited must not happen.
 */
export interface AuditSpool {
  /** Writes one batch durably (file fsynced, then renamed into place, then the directory fsynced). */
  add(events: readonly AuditEvent[]): Promise<void>;
  /**
   * Sends batches oldest first; each file is removed only after `send` resolved for it. Stops at
   * the first failure, keeping that batch and the rest. Concurrent calls share one drain.
   * Safe to repeat after a crash: a batch sent but not yet removed is sent again, and the audit
   * store skips event ids it already holds.
   */
  drain(send: (events: AuditEvent[]) => Promise<unknown>): Promise<DrainResult>;
  stats(): SpoolStats;
}

const EventList = z.array(AuditEventSchema).max(MAX_AUDIT_BATCH);
const BATCH_FILE = /^(\d{16})-[0-9a-f-]{36}\.json$/;

/** Opens (or creates) a spool; batches left by an earlier process are picked up in order. */
export async function createAuditSpool(options: AuditSpoolOptions): Promise<AuditSpool> {
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, not ${options.maxBytes}`);
  if (!Number.isSafeInteger(options.maxFiles) || options.maxFiles < 1) throw new RangeError(`maxFiles must be a positive integer, not ${options.maxFiles}`);
  const { dir } = options;
  const corruptDir = join(dir, 'corrupt');
  await mkdir(dir, { recursive: true, mode: 0o700 });

  // Files in name order are batches in arrival order: a zero-padded counter leads each name.
  const files = new Map<string, number>();
  let counter = 0;
  for (const name of await readdir(dir)) {
    if (name.startsWith('.tmp-')) {
      // A batch whose write was cut short was never acknowledged to its sender: not ours to send.
      await unlink(join(dir, name)).catch(() => undefined);
      continue;
    }
    const match = BATCH_FILE.exec(name);
    if (!match) continue;
    files.set(name, (await stat(join(dir, name))).size);
    counter = Math.max(counter, Number(match[1]));
  }
  // Names whose file is complete on disk; a name reserved by an add in flight is not yet here.
  const ready = new Set(files.keys());
  let bytes = [...files.values()].reduce((sum, size) => sum + size, 0);
  let refusedBatches = 0;
  let refusedEvents = 0;
  let draining: Promise<DrainResult> | undefined;

  const syncDir = async () => {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  };

  const add = async (events: readonly AuditEvent[]) => {
    if (events.length < 1 || events.length > MAX_AUDIT_BATCH) throw new RangeError(`a spooled batch holds 1 to ${MAX_AUDIT_BATCH} events, not ${events.length}`);
    const body = Buffer.from(`${JSON.stringify(events)}\n`);
    if (files.size + 1 > options.maxFiles || bytes + body.length > options.maxBytes) {
      refusedBatches++;
      refusedEvents += events.length;
      throw new AuditSpoolFullError(`the audit spool is full (${files.size} of ${options.maxFiles} batches, ${bytes} + ${body.length} of ${options.maxBytes} bytes): batch of ${events.length} events refused`);
    }
    counter++;
    const name = `${String(counter).padStart(16, '0')}-${randomUUID()}.json`;
    // Reserve the room before the first await, so concurrent adds cannot overfill the spool.
    files.set(name, body.length);
    bytes += body.length;
    const temporary = join(dir, `.tmp-${name}`);
    try {
      const handle = await open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, join(dir, name));
      await syncDir();
      ready.add(name);
    } catch (error) {
      files.delete(name);
      bytes -= body.length;
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  };

  const forget = (name: string) => {
    bytes -= files.get(name) ?? 0;
    files.delete(name);
    ready.delete(name);
  };

  const drainOnce = async (send: (events: AuditEvent[]) => Promise<unknown>): Promise<DrainResult> => {
    let sent = 0;
    let quarantined = 0;
    for (const name of [...ready].sort()) {
      const path = join(dir, name);
      let events: AuditEvent[] | undefined;
      try {
        const parsed = EventList.safeParse(JSON.parse(await readFile(path, 'utf8')));
        if (parsed.success) events = parsed.data;
      } catch {
        events = undefined;
      }
      if (!events) {
        await mkdir(corruptDir, { recursive: true, mode: 0o700 });
        await rename(path, join(corruptDir, name));
        forget(name);
        quarantined++;
        continue;
      }
      try {
        await send(events);
      } catch (error) {
        return { sent, remaining: files.size, quarantined, error };
      }
      await unlink(path);
      forget(name);
      await syncDir();
      sent++;
    }
    return { sent, remaining: files.size, quarantined };
  };

  return {
    add,
    drain: (send) => {
      draining ??= drainOnce(send).finally(() => { draining = undefined; });
      return draining;
    },
    stats: () => ({ files: files.size, bytes, refusedBatches, refusedEvents }),
  };
}

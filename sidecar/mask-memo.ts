// A memo of the masking of single objects. An object read again while it has not changed (an
// agent polling a pod until it is ready, a Deployment until it rolled out) comes back from the API
// server byte for byte as before, and its masking is a function of those bytes, the rules and the
// request alone: the stored result is reused when the new answer has the same length and SHA-256,
// instead of a parse and a walk (the digest costs about 7 µs of a 4 KiB pod; parse and walk about
// 60, on the benchmark machine). A changed object differs in its resourceVersion at least, so it
// is never answered from the memo. The memo keeps no answer: only its length, its digest and its
// masked text (which holds no secret), so no Secret's value outlives the request that read it.
// Keyed by the request's URL and how its body is read; bounded in entries and in bytes, since the
// URLs are the agent's to choose.
import { createHash, hash } from 'node:crypto';

/** A body masked whole, as the memo keeps it: the masked text, or none when nothing was masked. */
export interface MemoResult {
  text: string | undefined;
  masked: number;
}

interface Entry {
  result: MemoResult;
  /** The upstream body's length and SHA-256. */
  size: number;
  digest: Buffer;
  /** What this entry counts against the byte bound. */
  cost: number;
}

/** Bounds of the memo. */
export interface MaskMemoOptions {
  /** Largest body remembered; default 64 KiB (an object, not a list). */
  maxEntryBytes?: number;
  /** Bytes remembered in all: masked texts, keys, and 128 an entry; default 1 MiB. */
  maxBytes?: number;
  /** Entries at most, however small (an empty answer costs a Map entry too); default 256. */
  maxEntries?: number;
}

/** Least recently used entries go first when a bound is reached. */
export class MaskMemo {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntryBytes: number;
  readonly #maxBytes: number;
  readonly #maxEntries: number;
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(options: MaskMemoOptions = {}) {
    this.#maxEntryBytes = options.maxEntryBytes ?? 64 * 1024;
    this.#maxBytes = options.maxBytes ?? 1024 * 1024;
    this.#maxEntries = options.maxEntries ?? 256;
  }

  /** Bytes held now (digests, keys and masked texts). */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The result stored for `key` when its body was these `size` bytes in `parts` (the same length
   * and digest), and the digest made on the way (none when no entry had that length), for `set`.
   */
  lookup(key: string, parts: readonly Buffer[], size: number): { hit: MemoResult | undefined; digest: Buffer | undefined } {
    const entry = this.#entries.get(key);
    const digest = entry?.size === size ? digestOf(parts) : undefined;
    if (entry === undefined || digest === undefined || !digest.equals(entry.digest)) {
      this.misses++;
      return { hit: undefined, digest };
    }
    this.hits++;
    // Most recently used last: the oldest is evicted first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return { hit: entry.result, digest };
  }

  /** The result stored for `key` when its body was these bytes (see `lookup`). */
  get(key: string, parts: readonly Buffer[], size: number): MemoResult | undefined {
    return this.lookup(key, parts, size).hit;
  }

  /**
   * Remembers the masking of this body for `key` (within the bounds, else not at all); `digest`,
   * when `lookup` made one of these pieces, saves making it again. `result.text` must be a string
   * of its own (JSON.stringify's), not slices of the upstream's text, or it would keep that alive.
   */
  set(key: string, parts: readonly Buffer[], size: number, result: MemoResult, digest?: Buffer): void {
    this.#drop(key);
    // A masked text is counted at two bytes a character, the most V8 keeps of one; an entry's own
    // objects at 128 bytes.
    const cost = 128 + 2 * (result.text?.length ?? 0) + key.length;
    if (size > this.#maxEntryBytes || cost > this.#maxBytes) return;
    while (this.#bytes + cost > this.#maxBytes || this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#drop(oldest.value);
    }
    this.#entries.set(key, { size, digest: digest ?? digestOf(parts), cost, result: { text: result.text, masked: result.masked } });
    this.#bytes += cost;
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.cost;
  }
}

/** SHA-256 of the pieces, one after the other. */
function digestOf(parts: readonly Buffer[]): Buffer {
  if (parts.length === 1) return hash('sha256', parts[0] as Buffer, 'buffer');
  const digest = createHash('sha256');
  for (const part of parts) digest.update(part);
  return digest.digest();
}

// A memo of the masking of single objects. An object read again while it has not changed (an
// agent polling a pod until it is ready, a Deployment until it rolled out) comes back from the API
// server byte for byte as before, and its masking is a function of those bytes, the rules and the
// request alone: the stored result is reused after a comparison of the bytes (memcmp), instead of
// a parse and a walk (about 60 µs for a 4 KiB pod on the benchmark machine). A changed object
// differs in its resourceVersion at least, so it is never answered from the memo.
// Keyed by the request's URL and how its body is read; bounded in entries and in bytes, since the
// URLs are the agent's to choose.

/** A body masked whole, as the memo keeps it: the masked text, or none when nothing was masked. */
export interface MemoResult {
  text: string | undefined;
  masked: number;
}

interface Entry {
  result: MemoResult;
  /** The upstream's body, copied (a held piece may share its memory with other answers). */
  bytes: Buffer;
  /** What this entry counts against the byte bound. */
  cost: number;
}

/** Bounds of the memo. */
export interface MaskMemoOptions {
  /** Largest body remembered; default 64 KiB (an object, not a list). */
  maxEntryBytes?: number;
  /** Bytes remembered in all, bodies and masked texts; default 1 MiB. */
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

  /** Bytes held now (bodies and masked texts). */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The result stored for `key` when its body was exactly these `size` bytes in `parts`. */
  get(key: string, parts: readonly Buffer[], size: number): MemoResult | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.bytes.length !== size || !same(entry.bytes, parts)) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Most recently used last: the oldest is evicted first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.result;
  }

  /** Remembers the masking of this body for `key` (within the bounds, else not at all). */
  set(key: string, parts: readonly Buffer[], size: number, result: MemoResult): void {
    this.#drop(key);
    // A masked text is counted at two bytes a character, the most V8 keeps of one.
    const cost = size + 2 * (result.text?.length ?? 0) + key.length;
    if (size > this.#maxEntryBytes || cost > this.#maxBytes) return;
    while (this.#bytes + cost > this.#maxBytes || this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#drop(oldest.value);
    }
    const bytes = Buffer.allocUnsafeSlow(size);
    let offset = 0;
    for (const part of parts) offset += part.copy(bytes, offset);
    this.#entries.set(key, { bytes, cost, result: { text: result.text, masked: result.masked } });
    this.#bytes += cost;
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.cost;
  }
}

/** True when `parts`, one after the other, hold exactly `bytes` (the lengths were compared). */
function same(bytes: Buffer, parts: readonly Buffer[]): boolean {
  if (parts.length === 1) return bytes.equals(parts[0] as Buffer);
  let offset = 0;
  for (const part of parts) {
    if (bytes.compare(part, 0, part.length, offset, offset + part.length) !== 0) return false;
    offset += part.length;
  }
  return true;
}

// One bound on the bytes of streamed answers (watch events, followed logs, proxied streams) that
// wait on agents reading slower than the API server writes. Each stream waits for its own reader
// (back-pressure pauses its upstream), but what it already holds stays: the event being written
// and the next one masked, each up to the 8 MiB an event may take. A hundred watches that are
// never read would hold hundreds of MiB and the sidecar would meet its memory limit (an OOM kill
// loses every request in flight and the audit not yet spooled). Past the bound, the stream that
// holds the most is cut, of equals the one longest without progress: its reader is the one not
// keeping up, and a watch client starts again. The bound must pass the largest event, or a reader
// that keeps up could be cut while one event of its own is on its way.

/** A stream's share of the budget. */
export interface StreamShare {
  /** What the stream holds now (written but not yet taken by the socket, and masked but not yet written). */
  report(bytes: number): void;
  /** The stream is done; idempotent. */
  close(): void;
}

interface Entry {
  bytes: number;
  /** When it last held less than before: its reader took something. */
  progressAt: number;
  cut: () => void;
}

/** The budget of one sidecar. */
export class StreamBudget {
  readonly limit: number;
  readonly #entries = new Set<Entry>();
  #total = 0;
  #cuts = 0;

  constructor(limit: number) {
    if (!(limit > 0)) throw new RangeError(`StreamBudget: the limit must be positive, got ${limit}`);
    this.limit = limit;
  }

  /** Bytes held by streams now. */
  get pending(): number {
    return this.#total;
  }

  /** Streams cut to keep within the limit. */
  get cuts(): number {
    return this.#cuts;
  }

  /** A share for a stream; `cut` ends it (at most once) when it holds the most past the limit. */
  open(cut: () => void): StreamShare {
    const entry: Entry = { bytes: 0, progressAt: performance.now(), cut };
    this.#entries.add(entry);
    const close = (): void => {
      if (!this.#entries.delete(entry)) return;
      this.#total -= entry.bytes;
      entry.bytes = 0;
    };
    return {
      report: (bytes) => {
        if (!this.#entries.has(entry)) return;
        this.#total += bytes - entry.bytes;
        if (bytes < entry.bytes || bytes === 0) entry.progressAt = performance.now();
        entry.bytes = bytes;
        this.#keepWithin();
      },
      close,
    };
  }

  #keepWithin(): void {
    while (this.#total > this.limit) {
      let largest: Entry | undefined;
      for (const entry of this.#entries) {
        if (largest === undefined || entry.bytes > largest.bytes || (entry.bytes === largest.bytes && entry.progressAt < largest.progressAt)) largest = entry;
      }
      if (largest === undefined || largest.bytes === 0) return;
      this.#entries.delete(largest);
      this.#total -= largest.bytes;
      largest.bytes = 0;
      this.#cuts++;
      largest.cut();
    }
  }
}

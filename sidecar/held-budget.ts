// One bound on the bytes of answers held whole (to be masked) across all the sidecar's requests.
// Each answer is bounded by itself (sidecar.masking.maxBodyBytes), but 32 agents' LISTs at once
// would each be held beside the others, and the sidecar would meet its memory limit (an OOM kill
// loses every request in flight and the audit not yet spooled). Past the bound an answer waits:
// its upstream connection is paused (TCP holds the rest) until older answers are done. The oldest
// answer held always goes on, so two answers can never wait on each other. Each answer's first
// 64 KiB never wait: a `kubectl get pod` must not queue behind other agents' large LISTs.

/** An answer's share of the budget: what it holds, and whether it may read on. */
export interface HeldShare {
  /** Counts `bytes` more held; false when the answer must pause until `onTurn` calls back. */
  add(bytes: number): boolean;
  /** Called once, when a paused answer may read on. */
  onTurn(resume: () => void): void;
  /** Gives the bytes back (the answer was sent, failed or abandoned); idempotent. */
  release(): void;
}

interface Entry {
  bytes: number;
  waiting: (() => void) | undefined;
  /** Told to pause and not yet given its turn: more bytes read meanwhile are the same wait. */
  paused: boolean;
  released: boolean;
}

/** Bytes every answer may hold without waiting, by default. */
export const FREE_BYTES_PER_ANSWER = 64 * 1024;

/** The budget of one sidecar. */
export class HeldBudget {
  readonly limit: number;
  /** Bytes each answer holds before the limit applies to it. */
  readonly freeBytes: number;
  #held = 0;
  #waits = 0;
  // In the order the answers began: the first one is the oldest and never waits.
  readonly #entries: Entry[] = [];

  constructor(limit: number, options: { freeBytes?: number } = {}) {
    if (!(limit > 0)) throw new RangeError(`HeldBudget: the limit must be positive, got ${limit}`);
    this.limit = limit;
    this.freeBytes = options.freeBytes ?? FREE_BYTES_PER_ANSWER;
  }

  /** Bytes held now, over every answer. */
  get held(): number {
    return this.#held;
  }

  /** How many times an answer had to wait for room. */
  get waits(): number {
    return this.#waits;
  }

  /** A share for an answer about to be held. */
  open(): HeldShare {
    const entry: Entry = { bytes: 0, waiting: undefined, paused: false, released: false };
    this.#entries.push(entry);
    return {
      add: (bytes) => {
        if (entry.released) return true;
        entry.bytes += bytes;
        this.#held += bytes;
        if (this.#mayRead(entry)) return true;
        // The rest of a socket read (several chunks of a chunked answer) reaches add() after the
        // pause: one wait, counted once.
        if (!entry.paused) this.#waits++;
        entry.paused = true;
        return false;
      },
      onTurn: (resume) => {
        if (entry.released || this.#mayRead(entry)) {
          entry.paused = false;
          entry.waiting = undefined;
          resume();
        } else {
          entry.waiting = resume;
        }
      },
      release: () => {
        if (entry.released) return;
        entry.released = true;
        this.#held -= entry.bytes;
        entry.bytes = 0;
        const at = this.#entries.indexOf(entry);
        if (at >= 0) this.#entries.splice(at, 1);
        this.#wake();
      },
    };
  }

  #mayRead(entry: Entry): boolean {
    return entry.bytes <= this.freeBytes || this.#held <= this.limit || this.#entries[0] === entry;
  }

  /** Resumes paused answers, oldest first, while there is room (the oldest always). */
  #wake(): void {
    for (const entry of this.#entries) {
      if (entry.waiting === undefined) continue;
      if (!this.#mayRead(entry)) break;
      const resume = entry.waiting;
      entry.waiting = undefined;
      entry.paused = false;
      resume();
    }
  }
}

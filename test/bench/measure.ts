/**
 * Measuring helpers for the benchmarks: operations per second of a synchronous function on one
 * core, after a warm-up, as the best of several timed rounds (the least disturbed by the rest of
 * the machine).
 */

/** One figure as `npm run bench` prints it. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  /** value / baseline: above 1 means agentgate is faster than the baseline for rates. */
  ratio: number;
  /** What the baseline is, in words. */
  baselineName: string;
}

/** A benchmark: a name and a function producing its figure. */
export interface Bench {
  name: string;
  run(): Promise<Figure>;
}

/** Operations per second of `op(i)` called in a tight loop; `sink` keeps results alive. */
export function opsPerSecond(op: (i: number) => unknown, { rounds = 5, roundMs = 300, warmupMs = 300 } = {}): number {
  let sink = 0;
  const loop = (ms: number): number => {
    const end = performance.now() + ms;
    let n = 0;
    let now = performance.now();
    while (now < end) {
      for (let k = 0; k < 1000; k++, n++) if (op(n)) sink++;
      now = performance.now();
    }
    return n;
  };
  loop(warmupMs);
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    const n = loop(roundMs);
    const rate = n / ((performance.now() - start) / 1000);
    if (rate > best) best = rate;
  }
  if (sink < 0) console.error(sink);
  return Math.round(best);
}

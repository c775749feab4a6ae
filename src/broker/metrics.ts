// The broker's /metrics in the Prometheus text format (0.0.4): decision counters by outcome and
// reason code, decision latency, and gauges read at scrape time (open streams, queued audit).

/** Latency buckets in seconds: a decision under a live grant is one Redis round trip, a new grant a few API calls. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const escape = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** The broker's metrics. */
export class BrokerMetrics {
  readonly #decisions = new Map<string, number>();
  readonly #errors = new Map<string, number>();
  readonly #buckets = new Array<number>(BUCKETS.length).fill(0);
  #latencyCount = 0;
  #latencySum = 0;
  readonly #gauges = new Map<string, { help: string; read: () => number }>();
  readonly #counters = new Map<string, { help: string; read: () => number }>();

  /** Counts one decision and its time. */
  decision(outcome: string, code: string, seconds: number): void {
    const key = `outcome="${escape(outcome)}",code="${escape(code)}"`;
    this.#decisions.set(key, (this.#decisions.get(key) ?? 0) + 1);
    this.#latencyCount++;
    this.#latencySum += seconds;
    BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.#buckets[i] = (this.#buckets[i] ?? 0) + 1;
    });
  }

  /** Counts an error answer by its BrokerError code and route. */
  error(route: string, code: string): void {
    const key = `route="${escape(route)}",code="${escape(code)}"`;
    this.#errors.set(key, (this.#errors.get(key) ?? 0) + 1);
  }

  /** A gauge read at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    this.#gauges.set(name, { help, read });
  }

  /** A counter kept elsewhere, read at scrape time. */
  counter(name: string, help: string, read: () => number): void {
    this.#counters.set(name, { help, read });
  }

  /** The exposition text. */
  render(): string {
    const lines: string[] = [];
    lines.push('# HELP agentgate_broker_decisions_total Decisions answered, by outcome and reason code.', '# TYPE agentgate_broker_decisions_total counter');
    for (const [labels, n] of this.#decisions) lines.push(`agentgate_broker_decisions_total{${labels}} ${n}`);
    lines.push('# HELP agentgate_broker_decision_seconds Time to decide, including a new grant when one was made.', '# TYPE agentgate_broker_decision_seconds histogram');
    BUCKETS.forEach((bound, i) => lines.push(`agentgate_broker_decision_seconds_bucket{le="${bound}"} ${this.#buckets[i] ?? 0}`));
    lines.push(`agentgate_broker_decision_seconds_bucket{le="+Inf"} ${this.#latencyCount}`, `agentgate_broker_decision_seconds_sum ${this.#latencySum}`, `agentgate_broker_decision_seconds_count ${this.#latencyCount}`);
    lines.push('# HELP agentgate_broker_errors_total Error answers, by route and BrokerError code.', '# TYPE agentgate_broker_errors_total counter');
    for (const [labels, n] of this.#errors) lines.push(`agentgate_broker_errors_total{${labels}} ${n}`);
    for (const [name, { help, read }] of this.#counters) lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${read()}`);
    for (const [name, { help, read }] of this.#gauges) lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${read()}`);
    return `${lines.join('\n')}\n`;
  }
}

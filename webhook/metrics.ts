// The webhook's Prometheus metrics, hand-written in the text exposition format 0.0.4: admissions
// by webhook, result and reason code, and a latency histogram. No client library: two families.

/** What one admission ended as, for the `result` label. */
export type AdmissionResult = 'allowed' | 'patched' | 'denied' | 'errored' | 'rejected';

/** The two webhooks, for the `webhook` label. */
export type WebhookName = 'mutate' | 'validate';

/** Latency buckets in seconds: admission is sub-millisecond normally, the API server waits 10 s at most. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** The media type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// Label values are reason codes and fixed words; escape anyway, as the format requires.
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** The webhook's metrics; one per process, observed by the server and read by GET /metrics. */
export interface WebhookMetrics {
  /** Records one answered review (a 4xx for an undecodable one has result `rejected`). */
  observe(webhook: WebhookName, result: AdmissionResult, reason: string, seconds: number): void;
  /** The exposition text. */
  render(): string;
}

/** Creates an empty metrics registry. */
export function createWebhookMetrics(): WebhookMetrics {
  const admissions = new Map<string, { labels: Record<string, string>; value: number }>();
  const latency = new Map<WebhookName, Histogram>();
  return {
    observe(webhook, result, reason, seconds) {
      const key = `${webhook}\u0000${result}\u0000${reason}`;
      const entry = admissions.get(key) ?? { labels: { webhook, result, reason }, value: 0 };
      entry.value++;
      admissions.set(key, entry);
      let histogram = latency.get(webhook);
      if (!histogram) {
        histogram = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
        latency.set(webhook, histogram);
      }
      // Cumulative buckets are built at render time; here each observation lands in its first bucket.
      const index = LATENCY_BUCKETS.findIndex((bound) => seconds <= bound);
      if (index >= 0) histogram.counts[index] = (histogram.counts[index] ?? 0) + 1;
      histogram.sum += seconds;
      histogram.count++;
    },
    render() {
      const lines = [
        '# HELP agentgate_webhook_admissions_total Admission reviews answered, by webhook, result and reason code.',
        '# TYPE agentgate_webhook_admissions_total counter',
      ];
      for (const entry of admissions.values()) lines.push(`agentgate_webhook_admissions_total${labels(entry.labels)} ${entry.value}`);
      lines.push(
        '# HELP agentgate_webhook_admission_duration_seconds Time from receiving a review to answering it.',
        '# TYPE agentgate_webhook_admission_duration_seconds histogram',
      );
      for (const [webhook, histogram] of latency) {
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((bound, i) => {
          cumulative += histogram.counts[i] ?? 0;
          lines.push(`agentgate_webhook_admission_duration_seconds_bucket${labels({ webhook, le: String(bound) })} ${cumulative}`);
        });
        lines.push(`agentgate_webhook_admission_duration_seconds_bucket${labels({ webhook, le: '+Inf' })} ${histogram.count}`);
        lines.push(`agentgate_webhook_admission_duration_seconds_sum${labels({ webhook })} ${histogram.sum}`);
        lines.push(`agentgate_webhook_admission_duration_seconds_count${labels({ webhook })} ${histogram.count}`);
      }
      return `${lines.join('\n')}\n`;
    },
  };
}

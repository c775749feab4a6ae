// The sidecar's Prometheus metrics on the health listener (text format 0.0.4, hand-written as the
// webhook's): requests by outcome, decision latency (cache hit or broker call), cache hits and
// misses, upstream errors, masked values, audit queue and spool depth, open long-lived responses,
// connections to the API server.
import type { AuditRecord, Auditor } from './audit.ts';
import type { Decider } from './decide.ts';

/** Decision buckets in seconds: a cache hit takes microseconds, a broker call milliseconds, the bound is 2 s. */
export const DECISION_BUCKETS: readonly number[] = Object.freeze([0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);

/** The media type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Refusal codes that mean the API server (not the agent, not the broker) failed the request. */
const UPSTREAM_FAILURES = new Set(['upstream-unavailable', 'upstream-redirect', 'upstream-encoding', 'credential-refused', 'mask-failed']);

/** Gauges read when /metrics is scraped, from the parts that own them. */
export interface MetricsSources {
  cache(): { hits: number; misses: number };
  auditQueue(): number;
  auditDropped(): number;
  spool?(): { files: number; bytes: number; closed: boolean };
  openResponses(): number;
  /** TLS connections to the API server open now (busy and idle). */
  upstreamConnections?(): number;
  /** Bytes of answers held whole for masking now, and how often one waited for room. */
  held?(): { bytes: number; waits: number };
  /** Bytes of streamed answers waiting on their agents now, and how many streams were cut to keep within the bound. */
  streams?(): { bytes: number; cuts: number };
  /** The memo of single objects' masking (mask-memo.ts): answers reused and masked anew, bytes held. */
  maskMemo?(): { hits: number; misses: number; bytes: number };
}

/** The sidecar's metrics. */
export interface SidecarMetrics {
  /** One decision took `seconds`; `cached` when it was answered without the broker. */
  decision(seconds: number, cached: boolean): void;
  /** One request ended (every request is audited, so the auditor reports them). */
  request(record: AuditRecord): void;
  /** The exposition text. */
  render(sources: MetricsSources): string;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Creates an empty registry. */
export function createSidecarMetrics(): SidecarMetrics {
  const requests = new Map<string, number>();
  const upstreamErrors = new Map<number, number>();
  let masked = 0;
  const histograms = { true: { counts: DECISION_BUCKETS.map(() => 0), sum: 0, count: 0 }, false: { counts: DECISION_BUCKETS.map(() => 0), sum: 0, count: 0 } };
  return {
    decision(seconds, cached) {
      const h = histograms[cached ? 'true' : 'false'];
      // Each observation lands in its first bucket; render makes them cumulative.
      const index = DECISION_BUCKETS.findIndex((bound) => seconds <= bound);
      if (index >= 0) h.counts[index] = (h.counts[index] ?? 0) + 1;
      h.sum += seconds;
      h.count++;
    },
    request(record) {
      const key = `${record.decision.outcome}\u0000${record.decision.code}`;
      // Codes are the broker's and the sidecar's own (a bounded set), never agent-chosen text.
      requests.set(key, (requests.get(key) ?? 0) + 1);
      masked += record.masked;
      const code = record.response.code;
      if (code >= 502 && (record.decision.outcome === 'allow' || UPSTREAM_FAILURES.has(record.decision.code))) upstreamErrors.set(code, (upstreamErrors.get(code) ?? 0) + 1);
    },
    render(sources) {
      const lines: string[] = [];
      const family = (name: string, type: string, help: string): void => void lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      family('agentgate_sidecar_requests_total', 'counter', 'Requests answered, by decision outcome and reason code.');
      for (const [key, value] of requests) {
        const [outcome = '', code = ''] = key.split('\u0000');
        lines.push(`agentgate_sidecar_requests_total{outcome="${escapeLabel(outcome)}",code="${escapeLabel(code)}"} ${value}`);
      }
      family('agentgate_sidecar_decision_duration_seconds', 'histogram', 'Time to a decision, from the cache (cached="true") or the broker.');
      for (const cached of ['true', 'false'] as const) {
        const h = histograms[cached];
        let cumulative = 0;
        DECISION_BUCKETS.forEach((bound, i) => {
          cumulative += h.counts[i] ?? 0;
          lines.push(`agentgate_sidecar_decision_duration_seconds_bucket{cached="${cached}",le="${bound}"} ${cumulative}`);
        });
        lines.push(`agentgate_sidecar_decision_duration_seconds_bucket{cached="${cached}",le="+Inf"} ${h.count}`);
        lines.push(`agentgate_sidecar_decision_duration_seconds_sum{cached="${cached}"} ${h.sum}`);
        lines.push(`agentgate_sidecar_decision_duration_seconds_count{cached="${cached}"} ${h.count}`);
      }
      const cache = sources.cache();
      family('agentgate_sidecar_decision_cache_hits_total', 'counter', 'Decisions reused from the cache.');
      lines.push(`agentgate_sidecar_decision_cache_hits_total ${cache.hits}`);
      family('agentgate_sidecar_decision_cache_misses_total', 'counter', 'Decisions the broker was asked for.');
      lines.push(`agentgate_sidecar_decision_cache_misses_total ${cache.misses}`);
      family('agentgate_sidecar_upstream_errors_total', 'counter', 'Requests the API server failed (unreachable, refused credential, unmaskable answer, 5xx), by HTTP code.');
      for (const [code, value] of upstreamErrors) lines.push(`agentgate_sidecar_upstream_errors_total{code="${code}"} ${value}`);
      family('agentgate_sidecar_masked_values_total', 'counter', 'Values replaced by the mask marker in responses.');
      lines.push(`agentgate_sidecar_masked_values_total ${masked}`);
      family('agentgate_sidecar_audit_queue_events', 'gauge', 'Audit events in memory, not yet sent to the broker.');
      lines.push(`agentgate_sidecar_audit_queue_events ${sources.auditQueue()}`);
      family('agentgate_sidecar_audit_dropped_events_total', 'counter', 'Audit events lost (no spool, or the spool and its overflow full).');
      lines.push(`agentgate_sidecar_audit_dropped_events_total ${sources.auditDropped()}`);
      const spool = sources.spool?.();
      if (spool !== undefined) {
        family('agentgate_sidecar_audit_spool_batches', 'gauge', 'Audit batches waiting in the disk spool.');
        lines.push(`agentgate_sidecar_audit_spool_batches ${spool.files}`);
        family('agentgate_sidecar_audit_spool_bytes', 'gauge', 'Bytes of audit batches in the disk spool.');
        lines.push(`agentgate_sidecar_audit_spool_bytes ${spool.bytes}`);
        family('agentgate_sidecar_audit_spool_full', 'gauge', '1 while requests are refused because the spool is full.');
        lines.push(`agentgate_sidecar_audit_spool_full ${spool.closed ? 1 : 0}`);
      }
      family('agentgate_sidecar_open_responses', 'gauge', 'Watches and followed logs being served.');
      lines.push(`agentgate_sidecar_open_responses ${sources.openResponses()}`);
      if (sources.upstreamConnections !== undefined) {
        family('agentgate_sidecar_upstream_connections', 'gauge', 'TLS connections to the API server open now, busy and idle.');
        lines.push(`agentgate_sidecar_upstream_connections ${sources.upstreamConnections()}`);
      }
      if (sources.held !== undefined) {
        const held = sources.held();
        family('agentgate_sidecar_held_bytes', 'gauge', 'Bytes of answers held whole to be masked, over all requests (bounded by sidecar.masking.maxHeldBytes).');
        lines.push(`agentgate_sidecar_held_bytes ${held.bytes}`);
        family('agentgate_sidecar_held_waits_total', 'counter', 'Times an answer waited for room under sidecar.masking.maxHeldBytes.');
        lines.push(`agentgate_sidecar_held_waits_total ${held.waits}`);
      }
      if (sources.streams !== undefined) {
        const streams = sources.streams();
        family('agentgate_sidecar_streamed_pending_bytes', 'gauge', 'Bytes of streamed answers (watches, followed logs) waiting on their agents, over all requests (bounded by sidecar.masking.maxStreamedBytes).');
        lines.push(`agentgate_sidecar_streamed_pending_bytes ${streams.bytes}`);
        family('agentgate_sidecar_streamed_cuts_total', 'counter', 'Streamed answers cut because they held the most past sidecar.masking.maxStreamedBytes.');
        lines.push(`agentgate_sidecar_streamed_cuts_total ${streams.cuts}`);
      }
      const memo = sources.maskMemo?.();
      if (memo !== undefined) {
        family('agentgate_sidecar_mask_memo_hits_total', 'counter', 'Single objects whose answer was byte for byte one already masked, so its masking was reused.');
        lines.push(`agentgate_sidecar_mask_memo_hits_total ${memo.hits}`);
        family('agentgate_sidecar_mask_memo_misses_total', 'counter', 'Single objects masked anew (not in the memo, or changed).');
        lines.push(`agentgate_sidecar_mask_memo_misses_total ${memo.misses}`);
        family('agentgate_sidecar_mask_memo_bytes', 'gauge', 'Bytes the memo counts against its bound: masked texts, keys, and 128 an entry for its length and digest (at most 1 MiB).');
        lines.push(`agentgate_sidecar_mask_memo_bytes ${memo.bytes}`);
      }
      return `${lines.join('\n')}\n`;
    },
  };
}

/** The decider, timed: a synchronous answer is a cache hit. */
export function timedDecider(inner: Decider, metrics: SidecarMetrics): Decider {
  return {
    decide(input) {
      const started = performance.now();
      const answer = inner.decide(input);
      if (!(answer instanceof Promise)) {
        metrics.decision((performance.now() - started) / 1000, true);
        return answer;
      }
      return answer.then((value) => {
        metrics.decision((performance.now() - started) / 1000, false);
        return value;
      });
    },
    refresh: (input, grantId, refusedToken) => inner.refresh(input, grantId, refusedToken),
  };
}

/** The auditor, counting every request into the metrics on its way to the audit. */
export function countingAuditor(inner: Auditor, metrics: SidecarMetrics): Auditor {
  return {
    record(record) {
      metrics.request(record);
      inner.record(record);
    },
    flush: () => inner.flush(),
    close: () => inner.close(),
    stats: inner.stats,
  };
}

// The /metrics exposition: every answered review counted by webhook, result and reason code
// (rejected 4xx reviews included), and a cumulative latency histogram per webhook.
import test from 'ava';
import { createWebhookMetrics, LATENCY_BUCKETS } from '../../webhook/metrics.ts';
import { outcomeOf } from '../../webhook/server.ts';
import { allowed, denied, errored, patched } from '../../webhook/admission.ts';

const outcomes = [
  { name: 'a plain allow', answer: allowed('u'), expected: { result: 'allowed', reason: 'none' } },
  { name: 'an injection patch', answer: patched('u', [{ op: 'add', path: '/metadata/labels', value: {} }]), expected: { result: 'patched', reason: 'none' } },
  { name: 'an empty patch is a plain allow', answer: patched('u', []), expected: { result: 'allowed', reason: 'none' } },
  { name: 'a refusal carries its reason code', answer: denied('u', 'host-path', 'no'), expected: { result: 'denied', reason: 'host-path' } },
  { name: 'a failed lookup is errored, by Status reason', answer: errored('u', 500, 'lookup failed'), expected: { result: 'errored', reason: 'InternalError' } },
  { name: 'an errored 503 keeps its reason', answer: errored('u', 503, 'later'), expected: { result: 'errored', reason: 'ServiceUnavailable' } },
];

for (const row of outcomes) {
  test(`outcome of ${row.name}`, (t) => {
    t.deepEqual(outcomeOf(row.answer), row.expected);
  });
}

test('the exposition counts by labels and keeps histogram buckets cumulative', (t) => {
  const metrics = createWebhookMetrics();
  metrics.observe('mutate', 'patched', 'none', 0.0004);
  metrics.observe('mutate', 'patched', 'none', 0.003);
  metrics.observe('mutate', 'denied', 'host-path', 20);
  metrics.observe('validate', 'rejected', 'BadRequest', 0.0001);
  const text = metrics.render();
  t.true(text.includes('agentgate_webhook_admissions_total{webhook="mutate",result="patched",reason="none"} 2\n'));
  t.true(text.includes('agentgate_webhook_admissions_total{webhook="mutate",result="denied",reason="host-path"} 1\n'));
  t.true(text.includes('agentgate_webhook_admissions_total{webhook="validate",result="rejected",reason="BadRequest"} 1\n'));
  t.true(text.includes('agentgate_webhook_admission_duration_seconds_bucket{webhook="mutate",le="0.0005"} 1\n'));
  t.true(text.includes('agentgate_webhook_admission_duration_seconds_bucket{webhook="mutate",le="0.005"} 2\n'));
  // 20 s is above every bucket: only +Inf and the count see it.
  t.true(text.includes(`agentgate_webhook_admission_duration_seconds_bucket{webhook="mutate",le="${LATENCY_BUCKETS.at(-1)}"} 2\n`));
  t.true(text.includes('agentgate_webhook_admission_duration_seconds_bucket{webhook="mutate",le="+Inf"} 3\n'));
  t.true(text.includes('agentgate_webhook_admission_duration_seconds_count{webhook="mutate"} 3\n'));
  t.regex(text, /# TYPE agentgate_webhook_admission_duration_seconds histogram\n/);
});

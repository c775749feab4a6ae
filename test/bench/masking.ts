/**
 * Masking throughput in MB/s of JSON (parse, mask, serialize) on a LIST of 100 Secrets and of 100
 * pods, against JSON.parse + JSON.stringify of the same bytes measured in the same run.
 */
import { createMasker, defaultMaskingRules } from '../../src/masking/mask.ts';
import { list, pod, secret } from '../masking/fixtures.ts';
import type { Bench, Figure } from './measure.ts';

const masker = createMasker(defaultMaskingRules);

/**
 * Best rate over rounds of `op` on `bytes`. measure.ts checks the clock every 1000 calls, made for
 * microsecond operations; one call here takes milliseconds, so the clock is read after each call.
 * Baseline and masking rounds alternate, so both see the same state of the machine.
 */
function rates(bytes: number, baseline: () => unknown, value: () => unknown, { rounds = 7, roundMs = 250 } = {}): [number, number] {
  const round = (op: () => unknown): number => {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < roundMs) {
      op();
      n++;
    }
    return (n * bytes) / 1e6 / ((performance.now() - start) / 1000);
  };
  round(baseline);
  round(value);
  let best: [number, number] = [0, 0];
  for (let r = 0; r < rounds; r++) best = [Math.max(best[0], round(baseline)), Math.max(best[1], round(value))];
  return best;
}

function throughput(name: string, body: string): Figure {
  const [baseline, value] = rates(Buffer.byteLength(body), () => JSON.stringify(JSON.parse(body)), () => masker.maskJson(body));
  return { name, value: Number(value.toFixed(1)), unit: 'MB/s', baseline: Number(baseline.toFixed(1)), ratio: Number((value / baseline).toFixed(2)), baselineName: 'JSON.parse + JSON.stringify' };
}

const secrets = JSON.stringify(list('SecretList', Array.from({ length: 100 }, (_, i) => secret(i))));
const pods = JSON.stringify(list('PodList', Array.from({ length: 100 }, (_, i) => pod(i))));

/** Masking a LIST of 100 Secrets (every value replaced, so the document is re-serialized). */
export const maskingSecretsBench: Bench = { name: 'masking-list-100-secrets', run: async () => throughput('masking-list-100-secrets', secrets) };

/** Masking a LIST of 100 pods with typical specs (every string scanned, nothing to mask: the bytes pass as they are). */
export const maskingPodsBench: Bench = { name: 'masking-list-100-pods', run: async () => throughput('masking-list-100-pods', pods) };

/** Both masking figures, for `benches.ts` to spread into its list. */
export const maskingBenches: Bench[] = [maskingSecretsBench, maskingPodsBench];

// Contracts against their golden files: valid examples parse, are canonical and round-trip;
// invalid ones fail with exactly the pinned issues; newer peers' extra fields are dropped.
import test from 'ava';
import {
  contracts,
  defaultPodLayout,
  isContractName,
  validate,
  type ContractName,
} from '../../src/contracts/index.ts';
import { expectGolden, listGolden, readGolden } from '../helpers/golden.ts';

interface GoldenExample {
  file: string;
  contract: ContractName;
  scenario: string;
}

const files = await listGolden('contracts');
const examples: GoldenExample[] = files
  .filter((file) => !file.endsWith('.errors.json'))
  .map((file) => {
    const [contract = '', scenario = ''] = file.replace(/\.json$/, '').split('.');
    if (!isContractName(contract)) throw new Error(`golden file ${file} names no contract (${contract})`);
    return { file, contract, scenario };
  });
const valid = examples.filter((e) => !e.scenario.startsWith('invalid-'));
const invalid = examples.filter((e) => e.scenario.startsWith('invalid-'));

test('every contract has at least one valid and one invalid golden example', (t) => {
  for (const name of Object.keys(contracts)) {
    t.true(valid.some((e) => e.contract === name), `no valid example for ${name}`);
    t.true(invalid.some((e) => e.contract === name), `no invalid example for ${name}`);
  }
});

test('every pinned error list belongs to an invalid example', (t) => {
  const orphans = files
    .filter((file) => file.endsWith('.errors.json'))
    .filter((file) => !invalid.some((e) => e.file === file.replace(/\.errors\.json$/, '.json')));
  t.deepEqual(orphans, []);
});

for (const { file, contract } of valid) {
  test(`valid ${file}: parses, is canonical and round-trips`, async (t) => {
    const input = await readGolden(`contracts/${file}`);
    const first = validate(contract, input);
    if (!first.ok) {
      t.fail(`${file} should be valid: ${JSON.stringify(first.errors, null, 2)}`);
      return;
    }
    // Canonical: a golden example holds no field the contract would drop or rewrite.
    t.deepEqual(first.value, input);
    const again = validate(contract, JSON.parse(JSON.stringify(first.value)));
    t.deepEqual(again, first);
  });
}

for (const { file, contract } of invalid) {
  test(`invalid ${file}: fails with exactly the pinned issues`, async (t) => {
    const result = validate(contract, await readGolden(`contracts/${file}`));
    t.false(result.ok, `${file} should be invalid`);
    if (!result.ok) await expectGolden(t, `contracts/${file.replace(/\.json$/, '.errors.json')}`, result.errors);
  });
}

/** Adds fields a newer peer might send to every object in `value`, at every depth. */
function withFutureFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withFutureFields);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) out[key] = withFutureFields(child);
    out.futureField = { nested: ['from', 'a', 'newer', 'peer'] };
    out.zzFutureFlag = true;
    return out;
  }
  return value;
}

// Forward compatibility, decided: unknown fields are accepted and dropped, so the parsed value
// of a message from a newer peer is exactly what this build understands of it.
for (const { file, contract } of valid) {
  test(`forward compatible ${file}: unknown fields at every depth are accepted and dropped`, async (t) => {
    const input = await readGolden(`contracts/${file}`);
    const result = validate(contract, withFutureFields(input));
    t.deepEqual(result, { ok: true, value: input });
  });
}

test('the default pod layout is pinned by its golden file', async (t) => {
  await expectGolden(t, 'contracts/pod-layout.default.json', defaultPodLayout);
});

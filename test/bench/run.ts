/**
 * `npm run bench`: agentgate's performance figures, one JSON line each:
 * {"name", "value", "unit", "baseline", "ratio"}, every baseline measured in the same run on the
 * same machine. Run with `--only NAME` to measure one figure, or the figures whose names start with NAME
 * (several NAMEs, comma-separated, measure the figures of each).
 */
import { benchGroups } from './benches.ts';

const only = process.argv.indexOf('--only');
const filters = only === -1 ? undefined : (process.argv[only + 1] ?? '').split(',').filter((name) => name !== '');
if (filters?.length === 0) throw new Error('--only needs one or more figure names (or name prefixes), comma-separated');
const wanted = (name: string): boolean => filters === undefined || filters.some((filter) => name.startsWith(filter));
for (const group of benchGroups) {
  if (filters !== undefined && !group.prefixes.some((prefix) => filters.some((filter) => filter.startsWith(prefix) || prefix.startsWith(filter)))) continue;
  for (const bench of await group.load()) {
    if (!wanted(bench.name)) continue;
    const figure = await bench.run();
    process.stdout.write(JSON.stringify(figure) + '\n');
  }
}

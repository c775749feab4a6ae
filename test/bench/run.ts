/**
 * `npm run bench`: agentgate's performance figures, one JSON line each:
 * {"name", "value", "unit", "baseline", "ratio"}, every baseline measured in the same run on the
 * same machine. Run with `--only NAME` to measure one figure, or the figures whose names start with NAME.
 */
import { benchGroups } from './benches.ts';

const only = process.argv.indexOf('--only');
const filter = only === -1 ? undefined : process.argv[only + 1];
for (const group of benchGroups) {
  if (filter && !group.prefixes.some((prefix) => filter.startsWith(prefix) || prefix.startsWith(filter))) continue;
  for (const bench of await group.load()) {
    if (filter && !bench.name.startsWith(filter)) continue;
    const figure = await bench.run();
    process.stdout.write(JSON.stringify(figure) + '\n');
  }
}

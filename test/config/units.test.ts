// Parsers of durations, byte sizes, CPU quantities and loopback addresses, including the forms
// they must refuse.
import test from 'ava';
import { formatDuration, isLoopbackAddress, parseByteSize, parseCpuMillis, parseDuration } from '../../src/config/units.ts';

const durations: { name: string; text: string; ms: number | undefined }[] = [
  // accepted
  { name: 'seconds', text: '90s', ms: 90_000 },
  { name: 'minutes', text: '30m', ms: 1_800_000 },
  { name: 'hours', text: '1h', ms: 3_600_000 },
  { name: 'days', text: '1d', ms: 86_400_000 },
  { name: 'milliseconds', text: '250ms', ms: 250 },
  { name: 'combined parts', text: '1h30m', ms: 5_400_000 },
  { name: 'zero', text: '0s', ms: 0 },
  // refused
  { name: 'bare number is ambiguous', text: '30', ms: undefined },
  { name: 'empty', text: '', ms: undefined },
  { name: 'unknown unit', text: '5w', ms: undefined },
  { name: 'upper-case unit', text: '5M', ms: undefined },
  { name: 'fraction', text: '1.5h', ms: undefined },
  { name: 'negative', text: '-5m', ms: undefined },
  { name: 'space inside', text: '1h 30m', ms: undefined },
  { name: 'ISO 8601 form', text: 'PT30M', ms: undefined },
];

for (const row of durations) {
  test(`parseDuration: ${row.name}`, (t) => {
    t.is(parseDuration(row.text), row.ms);
  });
}

test('formatDuration picks the largest exact unit', (t) => {
  t.deepEqual([formatDuration(1_800_000), formatDuration(90_000), formatDuration(86_400_000), formatDuration(1500), formatDuration(0)], ['30m', '90s', '1d', '1500ms', '0ms']);
});

const sizes: { name: string; value: number | string; bytes: number | undefined }[] = [
  { name: 'plain bytes as number', value: 4096, bytes: 4096 },
  { name: 'plain bytes as text', value: '4096', bytes: 4096 },
  { name: 'MiB', value: '3MiB', bytes: 3 * 1024 * 1024 },
  { name: 'Mi', value: '3Mi', bytes: 3 * 1024 * 1024 },
  { name: 'KiB', value: '512KiB', bytes: 512 * 1024 },
  { name: 'decimal M refused', value: '3M', bytes: undefined },
  { name: 'MB refused', value: '3MB', bytes: undefined },
  { name: 'negative number refused', value: -1, bytes: undefined },
  { name: 'fractional number refused', value: 1.5, bytes: undefined },
];

for (const row of sizes) {
  test(`parseByteSize: ${row.name}`, (t) => {
    t.is(parseByteSize(row.value), row.bytes);
  });
}

const cpus: { name: string; text: string; millis: number | undefined }[] = [
  { name: 'millicores', text: '100m', millis: 100 },
  { name: 'decimal cores', text: '0.5', millis: 500 },
  { name: 'whole cores', text: '2', millis: 2000 },
  { name: 'unit other than m', text: '100k', millis: undefined },
  { name: 'empty', text: '', millis: undefined },
];

for (const row of cpus) {
  test(`parseCpuMillis: ${row.name}`, (t) => {
    t.is(parseCpuMillis(row.text), row.millis);
  });
}

const hosts: { name: string; host: string; loopback: boolean }[] = [
  { name: 'IPv4 loopback', host: '127.0.0.1', loopback: true },
  { name: 'other 127/8 address', host: '127.1.2.3', loopback: true },
  { name: 'IPv6 loopback', host: '::1', loopback: true },
  { name: 'IPv6 loopback written out', host: '0:0:0:0:0:0:0:1', loopback: true },
  { name: 'IPv4-mapped loopback', host: '::ffff:127.0.0.1', loopback: true },
  { name: 'all IPv4 interfaces', host: '0.0.0.0', loopback: false },
  { name: 'all IPv6 interfaces', host: '::', loopback: false },
  { name: 'pod IP', host: '10.1.2.3', loopback: false },
  { name: 'name localhost (resolved at run time)', host: 'localhost', loopback: false },
  { name: 'look-alike 127 prefix in a name', host: '127.0.0.1.nip.io', loopback: false },
  { name: 'IPv4-mapped pod IP', host: '::ffff:10.0.0.1', loopback: false },
  { name: 'IPv6 address ending in 1', host: 'fe80::1', loopback: false },
];

for (const row of hosts) {
  test(`isLoopbackAddress: ${row.name}`, (t) => {
    t.is(isLoopbackAddress(row.host), row.loopback);
  });
}

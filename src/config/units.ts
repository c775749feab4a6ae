// Parsers for the human-written quantities in configuration: durations ("90s", "30m", "1h30m"),
// byte sizes ("3MiB", "512Ki"), Kubernetes CPU and memory quantities, and loopback addresses.
// Each returns undefined for anything it does not accept, so the schema owns the error text.

import { isIPv4, isIPv6 } from 'node:net';

const durationUnits: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration written as one or more `<integer><unit>` parts (units ms, s, m, h, d), such as
 * `90s`, `30m`, `1h` or `1h30m`, into milliseconds. A bare number is refused: `ttl: 30` could mean
 * seconds or minutes, and a grant that lasts 1000 times longer than meant is a security bug.
 */
export function parseDuration(text: string): number | undefined {
  if (!/^(?:\d+(?:ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const part of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    const unit = durationUnits[part[2] ?? ''];
    if (unit === undefined) return undefined;
    total += Number(part[1]) * unit;
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Formats milliseconds back into the shortest duration text, for help and error messages. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const byteUnits: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  Ki: 1024,
  KiB: 1024,
  Mi: 1024 ** 2,
  MiB: 1024 ** 2,
  Gi: 1024 ** 3,
  GiB: 1024 ** 3,
};

/**
 * Parses a byte size: a non-negative integer count of bytes, or an integer with a binary unit
 * (`Ki`/`KiB`, `Mi`/`MiB`, `Gi`/`GiB`). Decimal units (`M`, `MB`) are refused on purpose: they
 * mean 10^6 to Kubernetes and 2^20 to many people.
 */
export function parseByteSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^(\d+)(B|Ki|KiB|Mi|MiB|Gi|GiB)?$/.exec(value);
  if (!match) return undefined;
  const bytes = Number(match[1]) * (byteUnits[match[2] ?? ''] ?? Number.NaN);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Parses a Kubernetes CPU quantity (`100m`, `0.5`, `2`) into millicores. */
export function parseCpuMillis(text: string): number | undefined {
  const milli = /^(\d+)m$/.exec(text);
  if (milli) return Number(milli[1]);
  if (!/^\d+(?:\.\d{1,3})?$/.test(text)) return undefined;
  return Math.round(Number(text) * 1000);
}

/** True when text is a Kubernetes memory quantity this project accepts (`64Mi`, `1Gi`, `128M`, bytes). */
export function isMemoryQuantity(text: string): boolean {
  return /^\d+(?:Ki|Mi|Gi|Ti|k|M|G|T)?$/.test(text) && !/^0+[A-Za-z]*$/.test(text);
}

/**
 * True when host is a loopback IP literal (127.0.0.0/8, ::1, or ::ffff:127.x.x.x). Host names,
 * `localhost` included, are refused: a name is resolved at run time, and an API listener that
 * resolves to a pod IP would expose the agent's gate to the whole cluster network.
 */
export function isLoopbackAddress(host: string): boolean {
  if (isIPv4(host)) return host.startsWith('127.');
  if (!isIPv6(host)) return false;
  const lower = host.toLowerCase();
  if (/^(?:0{0,4}:){2,7}0{0,3}1$/.test(lower) || lower === '::1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped !== null && isIPv4(mapped[1] ?? '') && (mapped[1] ?? '').startsWith('127.');
}

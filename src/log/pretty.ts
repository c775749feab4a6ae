// A small human-readable rendering of pino's JSON lines for a developer's terminal (log.pretty);
// production keeps JSON. It reformats lines already sanitized, so it adds no leak.

import type { DestinationStream } from 'pino';

const levelNames: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const omitted = new Set(['level', 'time', 'pid', 'hostname', 'component', 'msg']);

/** One pretty line for one JSON log line; a line that is not JSON is passed through. */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const level = levelNames[Number(entry.level)] ?? String(entry.level);
  const fields = Object.entries(entry)
    .filter(([key]) => !omitted.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${[time, level.padEnd(5), `[${String(entry.component ?? '')}]`, String(entry.msg ?? ''), ...fields].join(' ').trimEnd()}\n`;
}

/** Wraps a destination so that it receives pretty lines. */
export function prettyStream(destination: DestinationStream): DestinationStream {
  return { write: (chunk: string) => destination.write(prettyLine(chunk.trimEnd())) };
}

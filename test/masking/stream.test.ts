// The streaming maskers: watch events and log lines split across chunks in every position, lines
// past the bound, lines that do not parse (an error, never the raw bytes), multi-line keys in logs.
import test from 'ava';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createMasker, defaultMaskingRules, MaskingError } from '../../src/masking/mask.ts';
import { LogMaskingStream, WatchMaskingStream } from '../../src/masking/stream.ts';
import { MASK_MARKER as M, MASK_MARKER_BASE64 as M64 } from '../../src/masking/marker.ts';
import { secret } from './fixtures.ts';

const masker = createMasker(defaultMaskingRules);
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const PASSWORD_B64 = Buffer.from('hunter2').toString('base64');

/** Runs `chunks` through `stream`; resolves with the output, or with the error and the output so far. */
async function run(stream: WatchMaskingStream | LogMaskingStream, chunks: Buffer[]): Promise<{ out: Buffer; error?: unknown }> {
  const parts: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (parts.push(chunk), done()) });
  try {
    await pipeline(Readable.from(chunks, { objectMode: false }), stream, sink);
    return { out: Buffer.concat(parts) };
  } catch (error) {
    return { out: Buffer.concat(parts), error };
  }
}

const events = [
  { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', resourceVersion: '1' }, type: 'Opaque', data: { password: PASSWORD_B64 } } },
  { type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'café-☕', resourceVersion: '2' }, data: { jwt: JWT } } },
  { type: 'BOOKMARK', object: { apiVersion: 'v1', kind: 'Secret', metadata: { resourceVersion: '3', annotations: { 'k8s.io/initial-events-end': 'true' } } } },
];
const watchBody = Buffer.from(events.map((e) => JSON.stringify(e) + '\n').join(''));
const watchExpected = [
  { ...events[0], object: { ...events[0]?.object, data: { password: M64 } } },
  { ...events[1], object: { ...events[1]?.object, data: { jwt: M } } },
  events[2],
];

test('watch: every split position of a three-event stream gives the same masked events', async (t) => {
  const wrong: string[] = [];
  const expected = watchExpected.map((e) => JSON.stringify(e) + '\n').join('');
  for (let at = 0; at <= watchBody.length; at++) {
    const stream = new WatchMaskingStream(masker);
    const { out, error } = await run(stream, [watchBody.subarray(0, at), watchBody.subarray(at)].filter((b) => b.length > 0));
    if (error !== undefined || out.toString('utf8') !== expected || stream.masked !== 2) wrong.push(`split at ${at}: ${String(error)} ${stream.masked} ${out.toString('utf8')}`);
  }
  t.deepEqual(wrong, []);
});

test('watch: one byte per chunk, and a last event without its newline', async (t) => {
  const bytes = [...watchBody.subarray(0, -1)].map((b) => Buffer.from([b]));
  const { out, error } = await run(new WatchMaskingStream(masker), bytes);
  t.is(error, undefined);
  t.deepEqual(out.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown), watchExpected);
});

test('watch: kind-less objects of a Secret watch are masked through the context', async (t) => {
  const body = Buffer.from(JSON.stringify({ type: 'ADDED', object: secret(0) }) + '\n');
  const { out } = await run(new WatchMaskingStream(masker, { context: { resource: 'secrets' } }), [body]);
  t.false(out.toString().includes(PASSWORD_B64));
  t.is((JSON.parse(out.toString()) as { object: { data: { username: string } } }).object.data.username, M64);
});

test('watch: a huge event within the bound is masked', async (t) => {
  const big = { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'big' }, data: { blob: Buffer.alloc(3 * 1024 * 1024, 7).toString('base64') } } };
  const body = Buffer.from(JSON.stringify(big) + '\n');
  const chunks = Array.from({ length: Math.ceil(body.length / 65536) }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
  const { out, error } = await run(new WatchMaskingStream(masker), chunks);
  t.is(error, undefined);
  t.is(out.toString(), JSON.stringify({ ...big, object: { ...big.object, data: { blob: M64 } } }) + '\n');
});

const watchFailures: Array<{ name: string; chunks: Buffer[]; code: MaskingError['code'] }> = [
  { name: 'a line past the bound, without its newline yet', chunks: [Buffer.from('{"type":"ADDED","object":{"kind":"Secret","data":{"p":"' + PASSWORD_B64.repeat(400))], code: 'line-too-long' },
  { name: 'a complete line past the bound', chunks: [Buffer.from('{"type":"ADDED","object":{"kind":"Secret","data":{"p":"' + PASSWORD_B64.repeat(400) + '"}}}\n')], code: 'line-too-long' },
  { name: 'a line that does not parse', chunks: [Buffer.from(`{"type":"ADDED","object":{"kind":"Secret","data":{"p":"${PASSWORD_B64}"}}\n`)], code: 'unparseable' },
  { name: 'two events on one line', chunks: [Buffer.from(`{"type":"ADDED","object":{}}{"type":"ADDED","object":{"kind":"Secret","data":{"p":"${PASSWORD_B64}"}}}\n`)], code: 'unparseable' },
  { name: 'an unfinished event at the end of the stream', chunks: [Buffer.from(`{"type":"ADDED","object":{"kind":"Secret","data":{"p":"${PASSWORD_B64}`)], code: 'unparseable' },
];
for (const row of watchFailures) {
  test(`watch fails closed: ${row.name}`, async (t) => {
    const { out, error } = await run(new WatchMaskingStream(masker, { maxEventBytes: 2048 }), [Buffer.from(watchBody.subarray(0, watchBody.indexOf(10) + 1)), ...row.chunks]);
    t.true(error instanceof MaskingError, String(error));
    t.is((error as MaskingError).code, row.code);
    t.false(out.toString().includes(PASSWORD_B64), 'the raw line never passes');
    t.true(out.toString().startsWith('{"type":"ADDED"'), 'events before it were passed, masked');
  });
}

const logText = [
  '2025-01-10T10:00:00Z starting with DATABASE_URL=postgres://app:hunter2@db:5432/app',
  `2025-01-10T10:00:01Z got token ${JWT}`,
  '2025-01-10T10:00:02Z café ☕ ready',
  '-----BEGIN RSA PRIVATE KEY-----',
  'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB',
  'aHVudGVyMmh1bnRlcjJodW50ZXIyaHVudGVyMmh1bnRlcjJodW50ZXIyaHVudGVy',
  '-----END RSA PRIVATE KEY-----',
  'done',
  '',
].join('\n');
const logExpected = [
  `2025-01-10T10:00:00Z starting with DATABASE_URL=postgres://app:${M}@db:5432/app`,
  `2025-01-10T10:00:01Z got token ${M}`,
  '2025-01-10T10:00:02Z café ☕ ready',
  '-----BEGIN RSA PRIVATE KEY-----',
  M,
  M,
  '-----END RSA PRIVATE KEY-----',
  'done',
  '',
].join('\n');

test('logs: every split position masks the same, multi-line keys included, UTF-8 intact', async (t) => {
  const body = Buffer.from(logText);
  const wrong: string[] = [];
  for (let at = 0; at <= body.length; at++) {
    const stream = new LogMaskingStream(masker);
    const { out, error } = await run(stream, [body.subarray(0, at), body.subarray(at)].filter((b) => b.length > 0));
    if (error !== undefined || out.toString('utf8') !== logExpected || stream.masked !== 4) wrong.push(`split at ${at}: ${String(error)} ${stream.masked} ${out.toString('utf8')}`);
  }
  t.deepEqual(wrong, []);
});

const logRows = [
  { name: 'bytes that are not UTF-8 pass unchanged', input: Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a, 0xc3]), output: Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a, 0xc3]) },
  { name: 'CRLF lines keep their carriage returns', input: Buffer.from('a password=x\r\n-----BEGIN PRIVATE KEY-----\r\nMIIE\r\n-----END PRIVATE KEY-----\r\n'), output: Buffer.from(`a password=${M}\r\n-----BEGIN PRIVATE KEY-----\r\n${M}\r\n-----END PRIVATE KEY-----\r\n`) },
  { name: 'an over-long line is cut at its last blank and both parts masked', input: Buffer.from(`${'word '.repeat(30)}token=${'a'.repeat(40)} ${'x'.repeat(50)}\nnext\n`), output: Buffer.from(`${'word '.repeat(30)}token=${M} ${'x'.repeat(50)}\nnext\n`) },
  { name: 'an over-long run without blanks becomes one marker', input: Buffer.from(`start ${'Z'.repeat(600)} end\nnext\n`), output: Buffer.from(`start ${M} end\nnext\n`) },
];
for (const row of logRows) {
  test(`logs: ${row.name}`, async (t) => {
    const chunks = Array.from({ length: Math.ceil(row.input.length / 64) }, (_, i) => row.input.subarray(i * 64, (i + 1) * 64));
    const { out, error } = await run(new LogMaskingStream(masker, { maxLineBytes: 128 }), chunks);
    t.is(error, undefined);
    t.is(out.toString('latin1'), row.output.toString('latin1'));
  });
}

// A log read with limitBytes (kubectl logs --limit-bytes) ends where the agent chose: a secret cut
// before its pattern's end (the closing quote, the `@`, its 36th character) would match nothing.
// Each line holds one secret; `secret` is the part that must not show, `at` where it starts.
const cutLines = [
  { name: 'a connection string cut before its @', line: 'connecting to postgres://app:S3cr3t-Pa55w0rd@db:5432/app', secret: 'S3cr3t-Pa55w0rd' },
  { name: 'a quoted password cut before its quote', line: '{"level":"info","password":"An0ther-S3cret with spaces","user":"app"}', secret: 'An0ther-S3cret with spaces' },
  { name: 'a GitHub token cut before its 36th character', line: `using ghp_${'A1b2C3d4E5'.repeat(3)}f6G7h8 for the clone`, secret: `${'A1b2C3d4E5'.repeat(3)}f6G7h8` },
  { name: 'an AWS secret key cut before its 40th character', line: `aws_secret_access_key = ${'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'} set`, secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  { name: 'an npm token cut short', line: `token npm_${'abcdefghij'.repeat(3)}klmnop ok`, secret: `${'abcdefghij'.repeat(3)}klmnop` },
  { name: 'a JWT cut in its first part', line: `Authorization header ${JWT} sent`, secret: JWT.slice(3) },
];

test('logs cut short (limitBytes): at every cut, no four characters of a secret show', async (t) => {
  const leaks: string[] = [];
  for (const row of cutLines) {
    const at = row.line.indexOf(row.secret);
    const body = `first line\n${row.line}\n`;
    const start = 'first line\n'.length + at;
    for (let cut = start + 4; cut <= body.length; cut++) {
      const visible = body.slice(start, cut).slice(0, row.secret.length);
      const { out, error } = await run(new LogMaskingStream(masker), [Buffer.from(body.slice(0, cut))]);
      if (error !== undefined) leaks.push(`${row.name}, cut at ${cut}: ${String(error)}`);
      // Four characters of the secret, anywhere it showed in the input.
      for (let i = 0; i + 4 <= visible.length; i++) {
        if (out.toString().includes(visible.slice(i, i + 4))) {
          leaks.push(`${row.name}, cut at ${cut}: "${visible.slice(i, i + 4)}" in ${out.toString()}`);
          break;
        }
      }
    }
  }
  t.deepEqual(leaks, []);
});

test('logs cut short: a last line without a trigger comes out whole, one with a trigger only up to it, and whole lines before it as they were', async (t) => {
  const plain = await run(new LogMaskingStream(masker), [Buffer.from('line one\nline two without its newl')]);
  t.is(plain.out.toString(), 'line one\nline two without its newl');
  const cut = await run(new LogMaskingStream(masker), [Buffer.from('user=app password=x\nconnecting to postgres://app:S3cr')]);
  t.is(cut.out.toString(), `user=app password=${M}\nconnecting to postgres${M}`);
});

test('logs: an over-long line cut at a blank inside a quoted secret withholds the rest of the line, at every chunking', async (t) => {
  const secretValue = 'correct horse battery staple';
  const line = `${'word '.repeat(20)}db_password: "${secretValue}" ${'tail '.repeat(30)}`;
  const body = Buffer.from(`${line}\nnext line\n`);
  const wrong: string[] = [];
  for (let size = 1; size <= 160; size += 7) {
    const chunks = Array.from({ length: Math.ceil(body.length / size) }, (_, i) => body.subarray(i * size, (i + 1) * size));
    const { out, error } = await run(new LogMaskingStream(masker, { maxLineBytes: 128 }), chunks);
    const text = out.toString();
    if (error !== undefined || ['correct', 'horse', 'battery', 'staple'].some((w) => text.includes(w)) || !text.endsWith('\nnext line\n')) wrong.push(`chunks of ${size}: ${String(error)} ${text}`);
  }
  t.deepEqual(wrong, []);
});

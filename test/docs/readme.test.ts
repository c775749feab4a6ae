// The README is the operator's reference: it must name the commands CI runs and every
// configuration field with its environment variable and default, as the schema defines them.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { configFields } from '../../src/config/index.ts';

const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');

test('the README lists every configuration field with its variable', (t) => {
  const missing = configFields.filter((field) => !readme.includes(`| \`${field.path}\` | \`${field.env}\` |`)).map((field) => field.path);
  t.deepEqual(missing, []);
});

test('the README gives the test command that .ci/run runs', async (t) => {
  const ci = await readFile(new URL('../../.ci/run', import.meta.url), 'utf8');
  t.true(readme.includes('npm test'));
  t.regex(ci, /npm test\b/);
});

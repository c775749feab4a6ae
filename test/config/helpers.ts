// Temporary configuration files for the configuration tests.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

/** Writes `text` to a file in a fresh temporary directory removed after the test. */
export async function configFile(t: ExecutionContext, text: string, name = 'agentgate.yaml'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

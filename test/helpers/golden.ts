// Golden files under test/golden/: read them, compare with what the code produces, and with
// UPDATE_GOLDEN=1 rewrite them from the code instead (then review the change as a git diff).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

/** The absolute path of test/golden/. */
export const goldenRoot = fileURLToPath(new URL('../golden/', import.meta.url));

/** True when this run rewrites golden files instead of checking them. */
export const updatingGolden = process.env.UPDATE_GOLDEN === '1';

/** The absolute path of a golden file, from its path under test/golden/. */
export function goldenPath(name: string): string {
  return join(goldenRoot, name);
}

/** Reads a golden file as text. */
export async function readGoldenText(name: string): Promise<string> {
  return readFile(goldenPath(name), 'utf8');
}

/** Reads a golden JSON file. */
export async function readGolden(name: string): Promise<unknown> {
  return JSON.parse(await readGoldenText(name)) as unknown;
}

/** The file names in a folder of test/golden/, sorted. */
export async function listGolden(folder: string): Promise<string[]> {
  return (await readdir(goldenPath(folder))).sort();
}

/** How JSON golden files are written: two-space indent and a final newline, so diffs stay small. */
export function formatGoldenJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Checks `actual` byte for byte against a golden text file; with UPDATE_GOLDEN=1 writes it
 * first. A missing file fails with the command that creates it.
 */
export async function expectGoldenText(t: ExecutionContext, name: string, actual: string): Promise<void> {
  if (updatingGolden) {
    await mkdir(dirname(goldenPath(name)), { recursive: true });
    await writeFile(goldenPath(name), actual);
  }
  let expected: string;
  try {
    expected = await readGoldenText(name);
  } catch {
    t.fail(`golden file test/golden/${name} is missing: run with UPDATE_GOLDEN=1 and review it`);
    return;
  }
  t.is(actual, expected, `differs from test/golden/${name} (UPDATE_GOLDEN=1 rewrites it)`);
}

/** Checks `actual` against a golden JSON file, pinned as its exact formatted text. */
export async function expectGolden(t: ExecutionContext, name: string, actual: unknown): Promise<void> {
  await expectGoldenText(t, name, formatGoldenJson(actual));
}

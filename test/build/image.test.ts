// What can be checked of the container image without a Docker engine: the production code
// imports only production dependencies, never test/; the Dockerfile copies every production
// folder and the Tiltfile builds from the same set; nothing in the image runs as root.
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const PRODUCTION = ['bin', 'src', 'webhook', 'sidecar'];

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try { entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true }); } catch { return out; }
  for (const entry of entries) {
    if (entry.isFile() && /\.(ts|js|mjs)$/.test(entry.name)) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const specifier = match[1] ?? match[2];
    if (specifier) specifiers.push(specifier);
  }
  return specifiers;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

test('production code imports only runtime dependencies and never test/', async (t) => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const builtins = new Set(builtinModules);
  const problems: string[] = [];
  let checked = 0;
  for (const dir of PRODUCTION) {
    for (const file of await filesUnder(dir)) {
      for (const specifier of importsOf(await readFile(file, 'utf8'))) {
        checked++;
        const where = relative(root, file);
        if (specifier.startsWith('.')) {
          if (/(^|\/)test\//.test(join(relative(root, join(file, '..')), specifier))) problems.push(`${where} imports ${specifier} from test/`);
          continue;
        }
        if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
        if (!(packageName(specifier) in pkg.dependencies)) problems.push(`${where} imports ${specifier}, which is not in dependencies (the image installs only those)`);
      }
    }
  }
  t.true(checked > 0, 'no imports found: the scan is broken');
  t.deepEqual(problems, []);
});

test('the Dockerfile copies every production folder, runs as a numeric non-root user, and the Tiltfile builds the same set', async (t) => {
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
  const copied = [...dockerfile.matchAll(/^COPY (?!--from)(\S+) /gm)].map((m) => m[1]);
  for (const dir of PRODUCTION) t.true(copied.includes(dir), `Dockerfile does not copy ${dir}`);
  t.regex(dockerfile, /^USER [1-9][0-9]*:[1-9][0-9]*$/m);
  t.regex(dockerfile, /npm ci --omit=dev --ignore-scripts/);
  const tiltfile = await readFile(join(root, 'Tiltfile'), 'utf8');
  const only = /only=\[([^\]]*)\]/.exec(tiltfile)?.[1] ?? '';
  const tiltSet = [...only.matchAll(/'([^']+)'/g)].map((m) => m[1]).sort();
  t.deepEqual(tiltSet, ['package-lock.json', 'package.json', ...PRODUCTION].sort());
  const ignore = (await readFile(join(root, '.dockerignore'), 'utf8')).split('\n');
  t.true(ignore.includes('test') && ignore.includes('node_modules'));
});

// What can be checked of the container image without a Docker engine: the production code
// imports only production dependencies, never test/; the Dockerfile copies every production
// folder and the Tiltfile builds from the same set; nothing in the image runs as root.
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const PRODUCTION = ['bin', 'src', 'webhook', 'sidecar'];
/** The folders the bundle is built from (bin/ is the launcher of the sources, for development). */
const BUNDLED = ['src', 'webhook', 'sidecar'];

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

test('the Dockerfile builds the bundle from every production folder, runs it as a numeric non-root user, and the Tiltfile builds the same set', async (t) => {
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const build = stages.find((s) => /^\S+ AS build$/m.test(s)) ?? '';
  const final = stages.at(-1) ?? '';
  const copied = [...build.matchAll(/^COPY (?!--from)(\S+) /gm)].map((m) => m[1]);
  for (const dir of [...BUNDLED, 'scripts']) t.true(copied.includes(dir), `the build stage does not copy ${dir}`);
  t.regex(build, /^RUN node scripts\/build\.ts$/m);
  t.regex(final, /^COPY --from=build \/app\/dist \.\/dist$/m, 'the image takes the bundle from the build stage');
  t.notRegex(final, /^COPY (src|webhook|sidecar) /m, 'the image holds the bundle, not the sources');
  t.regex(final, /^USER [1-9][0-9]*:[1-9][0-9]*$/m);
  t.regex(dockerfile, /npm ci --omit=dev --ignore-scripts/);
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(final)?.[1] ?? '[]') as string[];
  t.is(entrypoint[0], 'node');
  t.is(entrypoint.at(-1), 'dist/agentgate.js');
  const tiltfile = await readFile(join(root, 'Tiltfile'), 'utf8');
  const only = /only=\[([^\]]*)\]/.exec(tiltfile)?.[1] ?? '';
  const tiltSet = [...only.matchAll(/'([^']+)'/g)].map((m) => m[1]).sort();
  t.deepEqual(tiltSet, ['package-lock.json', 'package.json', 'scripts', ...BUNDLED].sort());
  const ignore = (await readFile(join(root, '.dockerignore'), 'utf8')).split('\n');
  t.true(ignore.includes('test') && ignore.includes('node_modules') && ignore.includes('dist'));
});

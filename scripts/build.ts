/**
 * `npm run build`: the production bundle in dist/ that the container image runs. One entry (the
 * CLI), split at its dynamic imports so that each role loads only its own code; the sidecar's and
 * webhook's small dependencies are bundled in, the broker's large ones stay in node_modules.
 * Why a bundle at all: measured here, Node's type stripping and the loading of ~50 source files
 * and ~220 package files cost the sidecar about 40 MiB of its idle RSS and half its start time.
 */
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Packages inlined: pure JavaScript, on the sidecar's or the webhook's path. */
export const BUNDLED_PACKAGES = ['pino', 'zod', 'yaml', 'node-forge'];

/** Builds into `outdir` (default dist/); resolves with the warnings esbuild printed. */
export async function buildBundle(outdir = `${root}dist`): Promise<string[]> {
  const pkg = (await import(`${root}package.json`, { with: { type: 'json' } })).default as { dependencies: Record<string, string> };
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { agentgate: 'src/cli/main.ts' },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    sourcemap: 'linked',
    // Every module's source stays in the heap as a string: without whitespace and with shorter
    // syntax the sidecar idles 2.3 MiB lower (80.5 → 78.2 MiB, measured). Names are kept, so stack
    // traces and profiles still read.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'linked',
    logLevel: 'silent',
    external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED_PACKAGES.includes(name)),
    // Bundled CommonJS packages call require() for Node's built-ins; ESM has none of its own.
    banner: { js: "import { createRequire as __agentgateRequire } from 'node:module'; const require = __agentgateRequire(import.meta.url);" },
  });
  return result.warnings.map((w) => `${w.location?.file ?? ''}:${w.location?.line ?? ''} ${w.text}`);
}

if (import.meta.main) {
  const warnings = await buildBundle(process.argv[2]);
  for (const warning of warnings) process.stderr.write(`build: ${warning}\n`);
  process.stdout.write(`build: dist/agentgate.js written${warnings.length > 0 ? ` (${warnings.length} warnings)` : ''}\n`);
}

#!/usr/bin/env node
// Launcher of the agentgate CLI: runs src/cli/main.ts with the Node that started it, which must
// be Node 24 (it strips TypeScript types itself). This works in the repository and in the
// container image, where the sources are plain files; it does not work from an installed npm
// package, because Node refuses to strip types of files under node_modules.
const [major] = process.versions.node.split('.').map(Number);
if (major === undefined || major < 24) {
  process.stderr.write(`agentgate: needs Node 24 or later (this is ${process.version}); run it with node_modules/.bin/node or the container image\n`);
  process.exit(69);
}
await import(new URL('../src/cli/main.ts', import.meta.url).href);

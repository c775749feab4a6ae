// Entry point of the agentgate CLI: wires the process (argv, environment, streams, signals) to
// runCli and sets the exit code. Run with Node 24: `node src/cli/main.ts` or bin/agentgate.js.

import { processInputs } from '../config/index.ts';
import { runCli } from './run.ts';

const { argv, env } = processInputs();
const stop = new AbortController();
let signals = 0;
const onSignal = (): void => {
  // The first signal asks services to stop gracefully; a second one ends the process now.
  if (++signals > 1) process.exit(130);
  stop.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

process.exitCode = await runCli(argv, { stdout: process.stdout, stderr: process.stderr, env, signal: stop.signal });
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);

// The one place that reads the process's environment and arguments, for the CLI's entry point;
// everything else receives them as parameters, so it is a pure function in tests.

/** The arguments after `node main.ts` and the environment of this process. */
export function processInputs(): { argv: string[]; env: Readonly<Record<string, string | undefined>> } {
  return { argv: process.argv.slice(2), env: process.env };
}

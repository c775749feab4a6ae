// `agentgate version`: the version from package.json.

import packageJson from '../../../package.json' with { type: 'json' };
import { defineCommand } from '../command.ts';

/** The version of this agentgate. */
export const VERSION: string = packageJson.version;

/** Prints `agentgate <version>`. */
export const versionCommand = defineCommand({
  name: 'version',
  summary: 'print the version',
  usage: '',
  group: 'other',
  flags: {},
  run({ stdout }) {
    stdout.write(`agentgate ${VERSION}\n`);
  },
});

// `agentgate freeze` / `agentgate freeze --undo`: the kill switch (the broker's operator API).

import { defineCommand } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { failed, operatorClient, operatorFlags } from './operator-flags.ts';

/** Freezes agentgate (every decision denies, sidecars drop their grants) or lifts the freeze. */
export const freezeCommand = defineCommand({
  name: 'freeze',
  summary: 'stop granting and revoke live grants (emergency stop)',
  usage: '[--undo]',
  description:
    'For incident response: every decision becomes deny and every connected sidecar stops using its grants at once. ' +
    "Grants are kept, so --undo resumes those still within their time. Needs 'freeze' on grants.agentgate.io. Exits 0, 1 when the broker refuses.",
  group: 'tool',
  flags: { ...operatorFlags, undo: { type: 'boolean', description: 'lift the freeze' } },
  async run({ values, stdout, stderr }) {
    const client = await operatorClient(values);
    const answer = await client.call(values.undo === true ? 'DELETE' : 'POST', '/freeze');
    if (answer.status !== 200) return failed('freeze', answer, stderr);
    const frozen = (answer.body as { frozen: { by: string; at: string } | null }).frozen;
    stdout.write(frozen ? `frozen by ${frozen.by} at ${frozen.at}: every decision is deny\n` : 'unfrozen: decisions follow policy again\n');
    return exitCodes.ok.code;
  },
});

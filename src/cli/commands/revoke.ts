// `agentgate revoke ID | --all [--agent A | --namespace N]`: end grants now (the broker's operator API).

import { defineCommand, UsageError } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { failed, operatorClient, operatorFlags } from './operator-flags.ts';

/** Ends one grant, or every grant the filters select. */
export const revokeCommand = defineCommand({
  name: 'revoke',
  summary: 'end a grant now',
  usage: 'GRANT | --all [--agent A] [--namespace N] [--connection C]',
  description:
    "Ends the grant at once: the sidecars are told on their stream and stop using it, and its bindings and service account are deleted. " +
    "--all ends every live grant, or those of an agent or namespace. Needs 'delete' (one) or 'deletecollection' (--all) on grants.agentgate.io. " +
    'Exits 0, 1 when the grant is not live or the broker refuses.',
  group: 'tool',
  positionals: { min: 0, max: 1 },
  flags: {
    ...operatorFlags,
    all: { type: 'boolean', description: 'every live grant (narrowed by --agent, --namespace, --connection)' },
    agent: { type: 'string', value: 'NAME', description: 'with --all: only this agent' },
    namespace: { type: 'string', value: 'NS', description: "with --all: only agents in this namespace (the agent's own)" },
    connection: { type: 'string', value: 'NAME', description: 'with --all: only this cluster connection' },
  },
  async run({ values, positionals, stdout, stderr }) {
    const id = positionals[0];
    const all = values.all === true;
    if ((id === undefined) === !all) throw new UsageError('name one grant, or --all');
    if (!all && ['agent', 'namespace', 'connection'].some((k) => values[k] !== undefined)) throw new UsageError('--agent, --namespace and --connection go with --all');
    const client = await operatorClient(values);
    if (id !== undefined) {
      const answer = await client.call('DELETE', `/grants/${encodeURIComponent(id)}`);
      if (answer.status !== 200) return failed('revoke', answer, stderr);
      stdout.write(`revoked ${id}\n`);
      return exitCodes.ok.code;
    }
    const filter: Record<string, string> = {};
    for (const key of ['agent', 'namespace', 'connection']) if (typeof values[key] === 'string') filter[key] = values[key];
    const answer = await client.call('POST', '/revocations', { all: true, ...filter });
    if (answer.status !== 200) return failed('revoke', answer, stderr);
    const revoked = (answer.body as { revoked: string[] }).revoked;
    stdout.write(revoked.length === 0 ? 'no live grants matched\n' : `revoked ${revoked.length} grant${revoked.length === 1 ? '' : 's'}: ${revoked.join(' ')}\n`);
    return exitCodes.ok.code;
  },
});

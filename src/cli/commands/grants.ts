// `agentgate grants`: list live grants with their time left (the broker's operator API).

import { defineCommand } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { failed, operatorClient, operatorFlags } from './operator-flags.ts';

interface GrantRow {
  id: string;
  identity: { connection: string; namespace: string; agent: string };
  rules: Array<{ verbs: string[]; apiGroups?: string[]; resources?: string[]; nonResourceURLs?: string[] }>;
  namespaces: string[];
  reason: string;
  approvedBy?: string;
  secondsLeft: number;
}

/** `1h02m`, `4m10s`, `9s`. */
function left(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

function scope(row: GrantRow): string {
  return row.rules.map((r) => `${r.verbs.join(',')} ${(r.resources ?? r.nonResourceURLs ?? []).join(',')}`).join('; ');
}

/** Lists live grants, soonest end first. */
export const grantsCommand = defineCommand({
  name: 'grants',
  summary: 'list live grants',
  usage: '[--agent A] [--namespace N] [--connection C] [--json]',
  description: "Shows every live grant with its agent, scope, namespaces and time left. Needs 'list' on grants.agentgate.io. Exits 0, 1 when the broker refuses or cannot be reached.",
  group: 'tool',
  flags: {
    ...operatorFlags,
    agent: { type: 'string', value: 'NAME', description: 'only grants of this agent' },
    namespace: { type: 'string', value: 'NS', description: "only grants of agents in this namespace (the agent's own)" },
    connection: { type: 'string', value: 'NAME', description: 'only grants on this cluster connection' },
    json: { type: 'boolean', description: 'print the grants as JSON' },
  },
  async run({ values, stdout, stderr }) {
    const client = await operatorClient(values);
    const query = new URLSearchParams();
    for (const key of ['agent', 'namespace', 'connection']) if (typeof values[key] === 'string') query.set(key, values[key]);
    const answer = await client.call('GET', `/grants${query.size > 0 ? `?${query}` : ''}`);
    if (answer.status !== 200) return failed('grants', answer, stderr);
    const body = answer.body as { grants: GrantRow[]; frozen: { by: string; at: string } | null };
    if (values.json === true) {
      stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      return exitCodes.ok.code;
    }
    if (body.frozen) stdout.write(`FROZEN by ${body.frozen.by} since ${body.frozen.at}: every decision is deny; grants below are suspended.\n`);
    if (body.grants.length === 0) {
      stdout.write('No live grants.\n');
      return exitCodes.ok.code;
    }
    const rows = [['ID', 'AGENT', 'NAMESPACES', 'SCOPE', 'LEFT', 'APPROVED-BY', 'REASON']];
    for (const g of body.grants) {
      rows.push([g.id, `${g.identity.connection}/${g.identity.namespace}/${g.identity.agent}`, g.namespaces.join(','), scope(g), left(g.secondsLeft), g.approvedBy ?? '(policy)', g.reason.slice(0, 60)]);
    }
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
    for (const r of rows) stdout.write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}\n`);
    return exitCodes.ok.code;
  },
});

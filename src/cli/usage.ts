// Help text of the CLI, generated from the command table, the configuration field table and the
// exit-code table, so help never disagrees with what the CLI accepts.

import { CONFIG_FILE_ENV, configFields, type ConfigRole, type FieldInfo } from '../config/index.ts';
import type { Command, FlagSpec } from './command.ts';
import { exitCodes } from './exit-codes.ts';
import { notAvailableMessage } from './commands/planned.ts';

/** The sections each role reads; help lists their fields. */
export const roleSections: Readonly<Record<ConfigRole, readonly string[]>> = {
  broker: ['log', 'broker', 'connection', 'slack'],
  sidecar: ['log', 'sidecar', 'connection', 'oidc', 'pod'],
  gateway: ['log', 'sidecar', 'connection', 'oidc'],
  webhook: ['log', 'webhook', 'connection'],
  tool: ['log'],
};

const groups = [['service', 'Services'], ['tool', 'Operator tools'], ['other', 'Other']] as const;

function table(rows: readonly (readonly [string, string])[], indent = '  '): string[] {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}${right}`.trimEnd());
}

function exitCodeLines(): string[] {
  return ['Exit codes:', ...table(Object.values(exitCodes).map((entry) => [String(entry.code), entry.meaning] as const))];
}

const configRule = [
  'Configuration: flags > AGENTGATE_* environment > YAML file (--config FILE or AGENTGATE_CONFIG) > defaults.',
  '  The variable of a field is AGENTGATE_ + its dotted path in upper snake case',
  '  (broker.redisUrl -> AGENTGATE_BROKER_REDIS_URL); its flag is the path in kebab case',
  '  (--broker.listen.port). Secrets have no flag: set them in the environment or the file.',
];

/** `agentgate --help`. */
export function globalHelp(commands: readonly Command[], version: string): string {
  const lines = [
    `agentgate ${version}: just-in-time access to the Kubernetes API for AI agents in pods`,
    '',
    'Usage: agentgate COMMAND [flags] [arguments]',
    '       agentgate help COMMAND    (or agentgate COMMAND --help)',
  ];
  for (const [group, title] of groups) {
    const members = commands.filter((command) => command.group === group);
    if (group === 'other') members.push({ name: 'help', summary: 'print help for a command', group, usage: '', flags: {}, run: () => undefined });
    if (members.length === 0) continue;
    lines.push('', `${title}:`, ...table(members.map((c) => [c.name, c.plannedFor ? `${c.summary} (arrives with [${c.plannedFor}])` : c.summary] as const)));
  }
  lines.push('', ...configRule, '', ...exitCodeLines());
  return `${lines.join('\n')}\n`;
}

function flagLeft(name: string, spec: FlagSpec): string {
  const short = spec.short ? `-${spec.short}, ` : '    ';
  return `${short}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
}

function defaultText(field: FieldInfo): string {
  if (field.defaultValue === undefined) return '';
  if (Array.isArray(field.defaultValue)) return field.defaultValue.length === 0 ? '' : `, default ${field.defaultValue.join(',')}`;
  return `, default ${String(field.defaultValue)}`;
}

function fieldLines(field: FieldInfo): string[] {
  const left = field.flag === undefined ? `    (secret, no flag)` : `    --${field.flag} ${field.kind === 'boolean' ? '' : 'VALUE'}`.trimEnd();
  return [`${left}  [${field.env}${defaultText(field)}]`, `        ${field.description}; ${field.expected}`];
}

/** `agentgate help NAME` and `agentgate NAME --help`. */
export function commandHelp(command: Command): string {
  const lines = [`agentgate ${command.name}: ${command.summary}`, '', `Usage: agentgate ${command.name}${command.usage ? ` ${command.usage}` : ''}`];
  if (command.description) lines.push('', command.description);
  const flags: [string, FlagSpec][] = [['help', { type: 'boolean', short: 'h', description: 'print this help and exit' }], ...Object.entries(command.flags)];
  if (command.role) flags.push(['config', { type: 'string', value: 'FILE', description: `YAML configuration file (or ${CONFIG_FILE_ENV})` }]);
  lines.push('', 'Flags:', ...table(flags.map(([name, spec]) => [flagLeft(name, spec), spec.description] as const)));
  if (command.role) {
    const sections = roleSections[command.role];
    lines.push('', `Configuration read by the ${command.role} role (flag, [variable, default]); flags of other sections are accepted too:`);
    for (const field of configFields.filter((f) => sections.includes(f.path.split('.')[0] ?? ''))) lines.push(...fieldLines(field));
    lines.push('', ...configRule);
  }
  if (command.plannedFor) lines.push('', `Status: ${notAvailableMessage(command.name, command.plannedFor).replace(/^agentgate [^:]+: /, '')}.`);
  lines.push('', ...exitCodeLines());
  return `${lines.join('\n')}\n`;
}

// The dispatcher of the agentgate CLI: finds the command, prints help, checks flags and
// arguments, loads the role's configuration, runs the command and maps outcomes to exit codes.
// It takes argv, env and streams as parameters; only main.ts touches the process.

import { parseArgs } from 'node:util';
import { configFields, configFlagOptions, flagNameOf, formatConfigErrors, isConfigFlag, loadConfig } from '../config/index.ts';
import { maskString } from '../log/redact.ts';
import { UsageError, type Command, type CommandContext, type TextOut } from './command.ts';
import { commands as defaultCommands } from './commands/index.ts';
import { VERSION } from './commands/version.ts';
import { exitCodes, type ExitCode } from './exit-codes.ts';
import { commandHelp, globalHelp } from './usage.ts';

/** What runCli needs from its surroundings. */
export interface CliIO {
  stdout: TextOut;
  stderr: TextOut;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** The command table; the real one by default (tests may add a command). */
  commands?: readonly Command[];
}

function usageError(io: CliIO, message: string, hint: string): ExitCode {
  io.stderr.write(`${message}\n${hint}\n`);
  return exitCodes.usage.code;
}

/** The command named by the leading words of argv (two-word names first), and the rest. */
function resolve(commands: readonly Command[], words: readonly string[]): { command: Command; rest: string[] } | undefined {
  for (const length of [2, 1]) {
    const name = words.slice(0, length).join(' ');
    const command = commands.find((candidate) => candidate.name === name);
    if (command && words.length >= length) return { command, rest: words.slice(length) };
  }
  return undefined;
}

function unknownCommand(io: CliIO, commands: readonly Command[], word: string): ExitCode {
  const close = commands.find((command) => command.name.startsWith(`${word} `));
  const shown = /^[\w. -]{1,40}$/.test(word) ? `"${word}"` : '(not shown)';
  return usageError(io, `agentgate: unknown command ${shown}${close ? `; did you mean "${close.name}"?` : ''}`, "Run 'agentgate --help' for the list of commands.");
}

const secretFlags = new Map(configFields.filter((field) => field.secret).map((field) => [flagNameOf(field.path), field]));

/** Checks flags without echoing values (a value after an unknown flag may be a secret). */
function checkFlags(command: Command, args: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>): string | undefined {
  const { tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, allowNegative: true, tokens: true });
  let positionals = 0;
  for (const token of tokens) {
    if (token.kind === 'positional') positionals++;
    if (token.kind !== 'option') continue;
    const negated = token.rawName.startsWith('--no-');
    const spec = options[token.name];
    const shown = /^-{1,2}[\w.-]{1,60}$/.test(token.rawName) ? token.rawName : 'a flag';
    if (spec === undefined || (negated && spec.type !== 'boolean')) {
      const secret = secretFlags.get(token.name);
      if (secret) return `${shown} is not a flag: secrets are never taken from the command line (set ${secret.env} or use the configuration file)`;
      return `unknown flag ${shown}`;
    }
    if (spec.type === 'string' && token.value === undefined) return `flag ${shown} needs a value`;
    if (spec.type === 'boolean' && token.inlineValue === true && !isConfigFlag(token.name)) return `flag ${shown} takes no value`;
  }
  const { min, max } = command.positionals ?? { min: 0, max: 0 };
  if (positionals < min) return `expected at least ${min} argument${min === 1 ? '' : 's'} (${command.usage})`;
  if (positionals > max) return max === 0 ? 'takes no arguments' : `expected at most ${max} argument${max === 1 ? '' : 's'} (${command.usage})`;
  return undefined;
}

/** Runs the CLI with `argv` (the words after `agentgate`) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<ExitCode> {
  const commands = io.commands ?? defaultCommands;
  const [first, ...others] = argv;
  if (first === undefined) {
    return usageError(io, 'agentgate: no command given', "Run 'agentgate --help' for the list of commands.");
  }
  if (first === '--help' || first === '-h' || (first === 'help' && others.length === 0)) {
    io.stdout.write(globalHelp(commands, VERSION));
    return exitCodes.ok.code;
  }
  if (first === '--version') return runCli(['version'], io);
  if (first === 'help') {
    const found = resolve(commands, others);
    if (!found || found.rest.length > 0) return unknownCommand(io, commands, others.join(' '));
    io.stdout.write(commandHelp(found.command));
    return exitCodes.ok.code;
  }
  if (first.startsWith('-')) return usageError(io, `agentgate: expected a command before flags`, "Run 'agentgate --help' for the list of commands.");
  const found = resolve(commands, argv);
  if (!found) return unknownCommand(io, commands, first);
  const { command, rest } = found;
  const end = rest.indexOf('--');
  const beforeEnd = end < 0 ? rest : rest.slice(0, end);
  if (beforeEnd.includes('--help') || beforeEnd.includes('-h')) {
    io.stdout.write(commandHelp(command));
    return exitCodes.ok.code;
  }
  // A command that is not there yet says so whatever its arguments, unless it has a configuration to check.
  if (command.plannedFor && !command.role) return (await command.run(context({}, [], undefined, io))) ?? exitCodes.ok.code;

  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    ...(command.role ? configFlagOptions : {}),
    ...Object.fromEntries(Object.entries(command.flags).map(([name, spec]) => [name, { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) }])),
  };
  const problem = checkFlags(command, rest, options);
  if (problem) return usageError(io, `agentgate ${command.name}: ${problem}`, `Run 'agentgate ${command.name} --help' for usage.`);
  const parsed = parseArgs({ args: [...rest], options, strict: true, allowPositionals: true, allowNegative: true, tokens: true });

  let config: unknown;
  if (command.role) {
    const configArgv = parsed.tokens.flatMap((token) =>
      token.kind === 'option' && isConfigFlag(token.name) && !(token.name in command.flags)
        ? [token.value === undefined ? token.rawName : `${token.rawName}=${token.value}`]
        : []);
    const loaded = loadConfig({ argv: configArgv, env: io.env, role: command.role });
    if (!loaded.ok) {
      io.stderr.write(`agentgate ${command.name}: ${formatConfigErrors(loaded.errors)}\n`);
      return exitCodes.config.code;
    }
    config = loaded.config;
  }
  const values = Object.fromEntries(Object.entries(parsed.values).filter(([name]) => name in command.flags));
  try {
    return (await command.run(context(values, parsed.positionals, config, io))) ?? exitCodes.ok.code;
  } catch (error) {
    if (error instanceof UsageError) return usageError(io, `agentgate ${command.name}: ${error.message}`, `Run 'agentgate ${command.name} --help' for usage.`);
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`agentgate ${command.name}: ${maskString(message)}\n`);
    return exitCodes.failure.code;
  }
}

function context(values: CommandContext<undefined>['values'], positionals: readonly string[], config: unknown, io: CliIO): CommandContext<undefined> {
  return { values, positionals, config: config as undefined, stdout: io.stdout, stderr: io.stderr, signal: io.signal ?? new AbortController().signal };
}

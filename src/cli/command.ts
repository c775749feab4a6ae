// The shape of a CLI command. A later issue plugs its command in by adding one module under
// src/cli/commands/ that exports a Command, and listing it in commands/index.ts in place of
// the planned entry. Keep a command module's top-level imports light (import the service
// inside run), so `agentgate --help` never loads Redis, Slack or AWS clients.

import type { ConfigFor, ConfigRole } from '../config/index.ts';
import type { ExitCode } from './exit-codes.ts';

/** A flag of one command (configuration flags are added by the CLI for commands with a role). */
export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder of the value in help, e.g. `FILE`. */
  value?: string;
  description: string;
}

/** Where a command is listed in help. */
export type CommandGroup = 'service' | 'tool' | 'other';

/** The later issues that bring commands not available yet. */
export type PlannedIssue = 'broker' | 'sidecar' | 'webhook' | 'gateway' | 'approvals' | 'exec' | 'helm';

/** Something the command can write text to. */
export interface TextOut {
  write(text: string): unknown;
}

/** What a command's run receives. */
export interface CommandContext<R extends ConfigRole | undefined> {
  /** Parsed flags of the command (configuration flags are in `config`, not here). */
  values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  positionals: readonly string[];
  /** The validated configuration of the command's role. */
  config: R extends ConfigRole ? ConfigFor<R> : undefined;
  stdout: TextOut;
  stderr: TextOut;
  /** Aborted on SIGINT/SIGTERM: services stop gracefully when it fires. */
  signal: AbortSignal;
}

/** One `agentgate` command. */
export interface Command<R extends ConfigRole | undefined = ConfigRole | undefined> {
  /** One word, or two for a subcommand (`audit verify`). */
  name: string;
  /** One line: what it does. */
  summary: string;
  /** The synopsis after the name, e.g. `[flags] FILE`. */
  usage: string;
  /** Further paragraphs for `agentgate help NAME`. */
  description?: string;
  group: CommandGroup;
  flags: Readonly<Record<string, FlagSpec>>;
  /** Bounds on the positional arguments; default none allowed. */
  positionals?: { min: number; max: number };
  /** With a role, the CLI loads and validates that role's configuration before run. */
  role?: R;
  /** Set on entries of commands that arrive with a later issue. */
  plannedFor?: PlannedIssue;
  run(context: CommandContext<R>): Promise<ExitCode | void> | ExitCode | void;
}

/** Thrown by a command for bad arguments the flag parser cannot see; exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Builds a command with its role's configuration typed in `run`. */
export function defineCommand<R extends ConfigRole | undefined = undefined>(command: Command<R>): Command {
  return command as unknown as Command;
}

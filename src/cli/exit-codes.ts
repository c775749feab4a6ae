// The exit codes of the agentgate CLI, in one table that help output and tests read.
// 69 and 78 are sysexits.h's EX_UNAVAILABLE and EX_CONFIG, which supervisors and scripts know.

/** Every exit code the CLI uses, with its meaning. */
export const exitCodes = {
  ok: { code: 0, meaning: 'success (help and version included)' },
  failure: { code: 1, meaning: 'runtime failure: the command started and failed' },
  usage: { code: 2, meaning: 'usage error: unknown command or flag, missing or extra arguments' },
  unavailable: { code: 69, meaning: 'EX_UNAVAILABLE: the command arrives with a later issue' },
  config: { code: 78, meaning: 'EX_CONFIG: invalid configuration (every error is printed)' },
} as const;

/** One of the CLI's exit codes. */
export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes]['code'];

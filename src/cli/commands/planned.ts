// Entries of the commands that arrive with later issues. Each says so honestly and exits 69;
// the service entries validate their role's configuration first, which already works.

import type { ConfigRole } from '../../config/index.ts';
import { defineCommand, type Command, type CommandGroup, type PlannedIssue } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';

/** The message of a command that is not available yet. */
export function notAvailableMessage(name: string, issue: PlannedIssue): string {
  return `agentgate ${name}: not available yet: arrives with the [${issue}] issue`;
}

interface PlannedSpec {
  name: string;
  summary: string;
  issue: PlannedIssue;
  group: CommandGroup;
  usage?: string;
  description?: string;
  role?: ConfigRole;
}

/** A placeholder command for one that a later issue implements. */
export function planned(spec: PlannedSpec): Command {
  return defineCommand<ConfigRole | undefined>({
    name: spec.name,
    summary: spec.summary,
    usage: spec.usage ?? '[flags]',
    ...(spec.description === undefined ? {} : { description: spec.description }),
    group: spec.group,
    flags: {},
    ...(spec.role === undefined ? {} : { role: spec.role }),
    plannedFor: spec.issue,
    run({ stderr }) {
      stderr.write(`${notAvailableMessage(spec.name, spec.issue)}\n`);
      return exitCodes.unavailable.code;
    },
  });
}

const service = (name: string, role: ConfigRole, issue: PlannedIssue, summary: string): Command =>
  planned({
    name,
    summary,
    issue,
    group: 'service',
    role,
    description: `The configuration of the ${role} role is read and validated now (exit 78 on errors); the service itself arrives with the [${issue}] issue.`,
  });

/** Every command a later issue brings, in the order of ARCHITECTURE.md. */
export const plannedCommands: readonly Command[] = [
  service('webhook', 'webhook', 'webhook', 'run the admission webhook that injects the sidecar and guards objects'),
  service('sidecar', 'sidecar', 'sidecar', "run the per-pod proxy in front of the agent's Kubernetes API calls"),
  service('gateway', 'gateway', 'gateway', 'run the proxy as a Deployment, for agents outside the cluster (OIDC) and many clusters'),
  service('broker', 'broker', 'broker', 'run the broker: decisions, grants in Redis, approvals and audit'),
  planned({ name: 'request', summary: 'ask for access on behalf of an agent', issue: 'broker', group: 'tool' }),
  planned({ name: 'grants', summary: 'list live grants', issue: 'broker', group: 'tool' }),
  planned({ name: 'revoke', summary: 'end a grant now', issue: 'broker', group: 'tool', usage: '[flags] GRANT' }),
  planned({ name: 'freeze', summary: 'stop granting and revoke live grants (emergency stop)', issue: 'broker', group: 'tool' }),
  planned({ name: 'approve', summary: 'approve a pending access request', issue: 'approvals', group: 'tool', usage: '[flags] REQUEST' }),
  planned({ name: 'deny', summary: 'deny a pending access request', issue: 'approvals', group: 'tool', usage: '[flags] REQUEST' }),
  planned({ name: 'audit', summary: 'read audit events', issue: 'broker', group: 'tool' }),
  planned({ name: 'audit verify', summary: 'verify that the audit trail is complete and untampered', issue: 'broker', group: 'tool' }),
  planned({ name: 'replay', summary: 'replay a recorded exec or attach session', issue: 'exec', group: 'tool', usage: '[flags] SESSION' }),
  planned({ name: 'policy test', summary: 'check a policy file against its test cases', issue: 'broker', group: 'tool', usage: '[flags] FILE' }),
  planned({ name: 'kubeconfig', summary: 'print a kubeconfig that reaches a cluster through the gateway', issue: 'gateway', group: 'tool' }),
];

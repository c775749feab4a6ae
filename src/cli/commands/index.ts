// The command table of `agentgate`. To bring a command: add its module in this folder and put
// it here in place of its planned entry (same name), keeping the order of ARCHITECTURE.md.

import type { Command } from '../command.ts';
import { auditCommand, auditVerifyCommand } from './audit.ts';
import { brokerCommand } from './broker.ts';
import { freezeCommand } from './freeze.ts';
import { grantsCommand } from './grants.ts';
import { plannedCommands } from './planned.ts';
import { policyTestCommand } from './policy-test.ts';
import { requestCommand } from './request.ts';
import { revokeCommand } from './revoke.ts';
import { sidecarCommand } from './sidecar.ts';
import { versionCommand } from './version.ts';
import { webhookCommand } from './webhook.ts';

/** Implemented commands; each replaces the planned entry of the same name. */
const implemented: readonly Command[] = [auditCommand, auditVerifyCommand, policyTestCommand, versionCommand, webhookCommand, brokerCommand, grantsCommand, revokeCommand, freezeCommand, requestCommand, sidecarCommand];

/** Every command, services first, then operator tools, then the others. */
export const commands: readonly Command[] = [
  ...plannedCommands.map((entry) => implemented.find((command) => command.name === entry.name) ?? entry),
  ...implemented.filter((command) => !plannedCommands.some((entry) => entry.name === command.name)),
];

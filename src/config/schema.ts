// The whole configuration: sections, the fields each role requires, and the rules that span
// fields. One schema per role, so `loadConfig({ role: 'broker' })` returns a type in which the
// broker's required fields are not optional.

import * as z from 'zod';
import {
  brokerSection, connectionSection, logSection, oidcSection, podSection, section, sidecarSection, slackSection, tlsSection,
  webhookSection,
} from './sections.ts';
import { parseCpuMillis } from './units.ts';

/** The roles a process can start in; `tool` is every operator command. */
export const configRoles = ['broker', 'sidecar', 'gateway', 'webhook', 'tool'] as const;

/** A role a process can start in. */
export type ConfigRole = (typeof configRoles)[number];

const baseShape = {
  log: section(logSection),
  broker: section(brokerSection),
  sidecar: section(sidecarSection),
  webhook: section(webhookSection),
  connection: section(connectionSection),
  slack: section(slackSection),
  oidc: section(oidcSection),
  pod: section(podSection),
};

const tlsRequired = section(tlsSection.required());

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function at(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) current = isRecord(current) ? current[key] : undefined;
  return current;
}

type Issue = { path: (string | number)[]; message: string };

/**
 * Rules that span fields. They run even when single fields failed (zod skips refinements after
 * failures by default), so that every error is reported at once; hence the defensive reads.
 */
export function crossFieldIssues(config: unknown): Issue[] {
  const issues: Issue[] = [];
  const mode = at(config, 'connection', 'mode');
  for (const field of ['roleArn', 'region', 'clusterName']) {
    const set = at(config, 'connection', field) !== undefined;
    if (mode === 'eks' && !set) issues.push({ path: ['connection', field], message: `required when connection.mode is eks` });
    if (mode === 'tokenrequest' && set) issues.push({ path: ['connection', field], message: 'no value: it is only used when connection.mode is eks' });
  }
  const apiPort = at(config, 'sidecar', 'api', 'port');
  if (typeof apiPort === 'number' && at(config, 'sidecar', 'health', 'port') === apiPort) {
    issues.push({ path: ['sidecar', 'health', 'port'], message: `a port other than sidecar.api.port (${apiPort})` });
  }
  for (const [a, b] of [['botToken', 'signingSecret'], ['signingSecret', 'botToken']] as const) {
    if (at(config, 'slack', a) !== undefined && at(config, 'slack', b) === undefined) {
      issues.push({ path: ['slack', b], message: `required when slack.${a} is set (the Slack app needs both)` });
    }
  }
  for (const owner of ['broker', 'webhook']) {
    for (const [a, b] of [['certFile', 'keyFile'], ['keyFile', 'certFile']] as const) {
      if (at(config, owner, 'tls', a) !== undefined && at(config, owner, 'tls', b) === undefined) {
        issues.push({ path: [owner, 'tls', b], message: `required when ${owner}.tls.${a} is set` });
      }
    }
  }
  const optOut = at(config, 'webhook', 'optOut');
  if (Array.isArray(optOut)) {
    optOut.forEach((rule, index) => {
      if (isRecord(rule) && Object.keys(rule).length === 0) {
        issues.push({ path: ['webhook', 'optOut', index], message: 'a rule naming at least one of namespace, serviceAccount, podLabels: an empty rule would exempt every pod' });
      }
    });
  }
  const cpuRequest = at(config, 'webhook', 'sidecarResources', 'requests', 'cpu');
  const cpuLimit = at(config, 'webhook', 'sidecarResources', 'limits', 'cpu');
  if (typeof cpuRequest === 'string' && typeof cpuLimit === 'string') {
    const request = parseCpuMillis(cpuRequest);
    const limit = parseCpuMillis(cpuLimit);
    if (request !== undefined && limit !== undefined && limit < request) {
      issues.push({ path: ['webhook', 'sidecarResources', 'limits', 'cpu'], message: `a CPU limit at least the request (${cpuRequest})` });
    }
  }
  return issues;
}

/** Values derived from others once, so no role computes them differently. */
function resolve<T extends { sidecar: { health: { host?: string | undefined } }; pod: { ip?: string | undefined } }>(config: T) {
  return {
    ...config,
    sidecar: { ...config.sidecar, health: { ...config.sidecar.health, host: config.sidecar.health.host ?? config.pod.ip ?? '0.0.0.0' } },
  };
}

function addCrossFieldIssues(value: unknown, ctx: z.RefinementCtx): void {
  for (const issue of crossFieldIssues(value)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
}

const always = { when: () => true };

/** One schema per role: the base, with the fields that role cannot start without made required. */
export const configSchemas = {
  tool: z.strictObject(baseShape).superRefine(addCrossFieldIssues, always).transform(resolve),
  broker: z
    .strictObject({ ...baseShape, broker: section(brokerSection.extend({ tls: tlsRequired }).required({ redisUrl: true })) })
    .superRefine(addCrossFieldIssues, always)
    .transform(resolve),
  sidecar: z
    .strictObject({ ...baseShape, sidecar: section(sidecarSection.required({ brokerUrl: true })) })
    .superRefine(addCrossFieldIssues, always)
    .transform(resolve),
  gateway: z
    .strictObject({
      ...baseShape,
      sidecar: section(sidecarSection.required({ brokerUrl: true })),
      oidc: section(oidcSection.required({ issuer: true, audience: true })),
    })
    .superRefine(addCrossFieldIssues, always)
    .transform(resolve),
  webhook: z
    .strictObject({ ...baseShape, webhook: section(webhookSection.required({ sidecarImage: true })) })
    .superRefine(addCrossFieldIssues, always)
    .transform(resolve),
};

/** The validated configuration of a role. */
export type ConfigFor<R extends ConfigRole> = z.output<(typeof configSchemas)[R]>;

/** The validated configuration every role shares (role `tool`: nothing beyond defaults required). */
export type Config = ConfigFor<'tool'>;

/** The configuration of the logger. */
export type LogConfig = Config['log'];

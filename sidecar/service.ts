// `agentgate sidecar` as a service: builds the sidecar's parts from the validated configuration
// (identity from the downward-API variables the webhook sets, broker CA, audit spool, masking
// rules), checks what the schema cannot (files, writable dirs) all at once, runs until the signal.
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { createAuditSpool, type AuditSpool } from '../src/audit/spool.ts';
import type { ConfigFor } from '../src/config/index.ts';
import { BrokerPaths, parseAgentIdentity, type AgentIdentity } from '../src/contracts/index.ts';
import { defaultMaskingRules, MaskingRulesError, PATTERN_IDS, type MaskingRules, type PatternId } from '../src/masking/index.ts';
import { BrokerClient } from './broker.ts';
import { createMaskResponse } from './masking.ts';
import { startSidecar, type Sidecar } from './start.ts';

/** The configuration cannot be run with; `problems` names each field, the value and what was expected. */
export class SidecarConfigError extends Error {
  readonly code = 'sidecar-config-invalid';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`cannot start with this configuration (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'SidecarConfigError';
    this.problems = problems;
  }
}

/** Options of {@link runSidecarService}. */
export interface SidecarServiceOptions {
  config: ConfigFor<'sidecar'>;
  log: Logger;
  /** Aborted on SIGTERM/SIGINT: the sidecar stops accepting, finishes in-flight requests and flushes its audit. */
  signal: AbortSignal;
  /** One line for the operator (the CLI's stderr): start problems that are not fatal. */
  report: (line: string) => void;
  /** How long the start waits for the broker stream before reporting it unreachable; default 3 s. */
  brokerWaitMs?: number;
  /** Called once the sidecar listens (tests read its ports). */
  onStarted?: (sidecar: Sidecar) => void;
}

async function readable(path: string, field: string, what: string, problems: string[]): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    problems.push(`${field}: cannot read ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? 'error'}); expected ${what}`);
    return undefined;
  }
}

/** The identity for the sidecar's audit events; the broker replaces it with the one it verified from the token. */
function identityOf(config: ConfigFor<'sidecar'>, problems: string[]): AgentIdentity | undefined {
  const { pod } = config;
  if (pod.uid === undefined) problems.push("pod.uid: missing; expected the pod's uid (AGENTGATE_POD_UID, which the webhook sets from metadata.uid)");
  if (pod.namespace === undefined) problems.push("pod.namespace: missing; expected the pod's namespace (AGENTGATE_POD_NAMESPACE, which the webhook sets from metadata.namespace)");
  if (pod.uid === undefined || pod.namespace === undefined) return undefined;
  const agent = config.sidecar.agent ?? 'unknown';
  const identity = { connection: config.connection.name, namespace: pod.namespace, agent, originalServiceAccount: agent, owner: null, podUid: pod.uid, ...(pod.name !== undefined ? { podName: pod.name } : {}) };
  const parsed = parseAgentIdentity(identity);
  if (!parsed.ok) {
    for (const e of parsed.errors) {
      const field = e.path === '$.podUid' ? 'pod.uid' : e.path === '$.podName' ? 'pod.name' : e.path.replace(/^\$\./, 'identity.');
      problems.push(`${field}: ${e.message}`);
    }
    return undefined;
  }
  return parsed.value;
}

function maskingRules(config: ConfigFor<'sidecar'>, problems: string[]): MaskingRules | undefined {
  const { masking } = config.sidecar;
  const known = new Set<string>(PATTERN_IDS);
  const unknown = masking.disabledPatterns.filter((id) => !known.has(id));
  if (unknown.length > 0) problems.push(`sidecar.masking.disabledPatterns: got ${JSON.stringify(unknown)}; expected names among ${PATTERN_IDS.join(', ')}`);
  const disabled = new Set(masking.disabledPatterns);
  const rules: MaskingRules = { ...defaultMaskingRules, sensitiveNames: masking.sensitiveNames, patterns: defaultMaskingRules.patterns.filter((id: PatternId) => !disabled.has(id)) };
  return unknown.length > 0 ? undefined : rules;
}

/** Why the broker cannot be reached now, from one probe of its stream. */
async function brokerProblem(config: ConfigFor<'sidecar'>, ca: Buffer | undefined): Promise<string | undefined> {
  const client = new BrokerClient({ url: config.sidecar.brokerUrl, tokenPath: config.sidecar.brokerTokenPath, timeoutMs: config.sidecar.brokerTimeout, ...(ca ? { ca } : {}) });
  try {
    const opened = await client.stream(BrokerPaths.stream, AbortSignal.timeout(config.sidecar.brokerTimeout));
    if (opened.ok) {
      opened.res.destroy();
      return undefined;
    }
    return opened.kind === 'refused' ? `it refused the sidecar (${opened.detail})` : `${opened.detail}`;
  } finally {
    client.close();
  }
}

/**
 * Runs the sidecar until `signal` aborts, then shuts down gracefully: no new requests, in-flight
 * ones finish, the audit queue goes to the broker or, if it is away, to the spool. Throws a
 * {@link SidecarConfigError} (every problem at once) when it cannot start with `config`.
 */
export async function runSidecarService(options: SidecarServiceOptions): Promise<void> {
  const { config, log } = options;
  const sc = config.sidecar;
  const problems: string[] = [];
  const identity = identityOf(config, problems);
  const rules = maskingRules(config, problems);
  await readable(sc.upstream.caFile, 'sidecar.upstream.caFile', "the API server's CA bundle", problems);
  await readable(sc.brokerTokenPath, 'sidecar.brokerTokenPath', 'the projected token with the broker audience', problems);
  const brokerCa = sc.brokerCaFile === undefined ? undefined : await readable(sc.brokerCaFile, 'sidecar.brokerCaFile', "the broker's CA bundle", problems);
  try {
    await access(sc.sharedDir, constants.W_OK);
  } catch (error) {
    problems.push(`sidecar.sharedDir: ${JSON.stringify(sc.sharedDir)} is not a writable directory (${(error as NodeJS.ErrnoException).code ?? 'error'}); expected the volume shared with the agent containers`);
  }
  let spool: AuditSpool | undefined;
  try {
    spool = await createAuditSpool({ dir: sc.audit.spoolDir, maxBytes: sc.audit.spoolMaxBytes, maxFiles: sc.audit.spoolMaxBatches });
  } catch (error) {
    problems.push(`sidecar.audit.spoolDir: cannot use ${JSON.stringify(sc.audit.spoolDir)} (${(error as NodeJS.ErrnoException).code ?? 'error'}); expected a writable directory (an emptyDir volume of the sidecar's own)`);
  }
  let maskResponse;
  try {
    maskResponse = rules === undefined ? undefined : createMaskResponse({ rules, maxBodyBytes: sc.masking.maxBodyBytes, memo: sc.masking.memo });
  } catch (error) {
    if (!(error instanceof MaskingRulesError)) throw error;
    problems.push(...error.problems.map((p) => `sidecar.masking: ${p}`));
  }
  if (problems.length > 0 || identity === undefined || maskResponse === undefined || spool === undefined) throw new SidecarConfigError(problems);

  const sidecar = await startSidecar(config, { log, maskResponse, identity, spool, brokerTimeoutMs: sc.brokerTimeout, ...(brokerCa ? { brokerCa } : {}) });
  options.onStarted?.(sidecar);
  const waitMs = options.brokerWaitMs ?? 3000;
  const connected = await Promise.race([sidecar.streamConnected.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), waitMs).unref())]);
  if (!connected && !options.signal.aborted) {
    const why = (await brokerProblem(config, brokerCa)) ?? 'its stream did not answer';
    log.error({ brokerUrl: sc.brokerUrl, detail: why }, 'the broker cannot be reached');
    options.report(`the broker at ${sc.brokerUrl} cannot be reached (${why}); the agent's requests are refused with 503 until it answers; still trying`);
  }
  if (!options.signal.aborted) await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
  log.info('shutting down: finishing in-flight requests and flushing the audit');
  await sidecar.close();
  const lost = sidecar.spoolGate?.overflowEvents() ?? 0;
  if (lost > 0) log.error({ events: lost }, 'audit events could not be spooled before exit (the spool was full and the broker away)');
  log.info({ sent: sidecar.auditor.stats.sent, spooled: sidecar.auditor.stats.spooled, dropped: sidecar.auditor.stats.dropped }, 'sidecar stopped');
}

// `agentgate sidecar`: run the per-pod proxy (sidecar/service.ts) until SIGTERM.

import { defineCommand } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';

/** Starts the sidecar with the `sidecar` role's configuration and stops it on the CLI's signal. */
export const sidecarCommand = defineCommand<'sidecar'>({
  name: 'sidecar',
  summary: "run the per-pod proxy in front of the agent's Kubernetes API calls",
  usage: '[flags]',
  description:
    'Serves the Kubernetes API to the agent containers on 127.0.0.1 (HTTPS with a per-pod CA and a pod-local token ' +
    'written to sidecar.sharedDir), asks the broker for every decision, forwards with the grant\'s credential, masks ' +
    'responses and audits every request; /healthz, /readyz and /metrics on the health listener. Its identity comes from ' +
    'the AGENTGATE_POD_* variables the webhook sets. When the broker cannot be reached at start this is printed and ' +
    'requests get 503 until it answers. On SIGTERM in-flight requests finish and the audit queue is flushed to the ' +
    'broker or the spool before it exits 0; exits 78 for a configuration it cannot run with, 1 when it cannot start.',
  group: 'service',
  role: 'sidecar',
  flags: {},
  async run({ config, signal, stderr }) {
    const [{ runSidecarService, SidecarConfigError }, { createLogger }] = await Promise.all([
      import('../../../sidecar/service.ts'),
      import('../../log/index.ts'),
    ]);
    const logger = createLogger(config.log, undefined, 'sidecar');
    try {
      await runSidecarService({ config, log: logger, signal, report: (line) => stderr.write(`agentgate sidecar: ${line}\n`) });
    } catch (error) {
      if (error instanceof SidecarConfigError) {
        stderr.write(`agentgate sidecar: ${error.message}\n`);
        return exitCodes.config.code;
      }
      stderr.write(`agentgate sidecar: cannot start: ${(error as Error).message}\n`);
      return exitCodes.failure.code;
    }
    return exitCodes.ok.code;
  },
});

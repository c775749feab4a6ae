// `agentgate broker`: run the broker (src/broker/service.ts) until SIGTERM.

import { defineCommand } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';

/** Starts the broker with the `broker` role's configuration and stops it on the CLI's signal. */
export const brokerCommand = defineCommand<'broker'>({
  name: 'broker',
  summary: 'run the broker: decisions, grants in Redis, approvals and audit',
  usage: '[--kubeconfig FILE] [flags]',
  description:
    'Serves the sidecar contract v1 (/v1/decisions, /v1/stream, /v1/audit, /v1/accessrequests) and the operator API ' +
    '(/v1/operator/…) over HTTPS, with /healthz, /readyz and /metrics. Grants live in Redis (broker.redisUrl); ' +
    'credentials are per-grant service accounts and TokenRequest tokens in webhook.namespace (connection.mode tokenrequest), ' +
    'or STS sessions named after the grant with an EKS token (connection.mode eks, see docs/eks.md). At start one replica ' +
    'sweeps what grants left in the cluster while no broker ran. On SIGTERM open streams end, in-flight requests finish ' +
    'and it exits 0; exits 78 for a configuration it cannot run with, 1 when it cannot start.',
  group: 'service',
  role: 'broker',
  flags: {
    kubeconfig: { type: 'string', value: 'FILE', description: "the broker's own credential to the cluster (default: the in-cluster service account)" },
  },
  async run({ config, values, signal, stderr }) {
    const [{ startBroker, BrokerConfigError }, { createLogger }, { VERSION }, { KubeConfig }] = await Promise.all([
      import('../../broker/service.ts'),
      import('../../log/index.ts'),
      import('./version.ts'),
      import('@kubernetes/client-node'),
    ]);
    const logger = createLogger(config.log, undefined, 'broker');
    let kubeConfig: InstanceType<typeof KubeConfig> | undefined;
    if (typeof values.kubeconfig === 'string') {
      kubeConfig = new KubeConfig();
      try {
        kubeConfig.loadFromFile(values.kubeconfig);
      } catch (error) {
        stderr.write(`agentgate broker: --kubeconfig ${values.kubeconfig} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})\n`);
        return exitCodes.config.code;
      }
    }
    try {
      const service = await startBroker({ config, log: logger, signal, brokerVersion: VERSION, ...(kubeConfig ? { kubeConfig } : {}) });
      await service.done;
    } catch (error) {
      if (error instanceof BrokerConfigError) {
        stderr.write(`agentgate broker: ${error.message}\n`);
        return exitCodes.config.code;
      }
      throw error;
    }
    return exitCodes.ok.code;
  },
});

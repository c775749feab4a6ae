// `agentgate webhook`: run the admission webhook service until SIGTERM (see webhook/service.ts).

import { defineCommand } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';

/** Starts the webhook with the `webhook` role's configuration and stops it on the CLI's signal. */
export const webhookCommand = defineCommand<'webhook'>({
  name: 'webhook',
  summary: 'run the admission webhook that injects the sidecar and guards objects',
  usage: '[flags]',
  description:
    'Serves POST /mutate and /validate over HTTPS, with /healthz, /readyz and /metrics. TLS comes from ' +
    'webhook.tls.certFile/keyFile (e.g. cert-manager) or, when unset, is self-bootstrapped into the ' +
    'webhook.tlsSecret Secret with the CA patched into both webhook configurations. On SIGTERM in-flight ' +
    'reviews finish before it exits 0; exits 1 when it cannot start (e.g. the API server is unreachable).',
  group: 'service',
  role: 'webhook',
  flags: {},
  async run({ config, signal }) {
    const [{ startWebhookService }, { createLogger }, { VERSION }] = await Promise.all([
      import('../../../webhook/service.ts'),
      import('../../log/index.ts'),
      import('./version.ts'),
    ]);
    const logger = createLogger(config.log, undefined, 'webhook');
    const service = await startWebhookService({ config, logger, signal, buildVersion: VERSION });
    await service.done;
    return exitCodes.ok.code;
  },
});

// The flags every operator command shares to reach the broker's operator API (URL, CA, kubeconfig),
// and the client they build. Operators authenticate with their own Kubernetes credential.

import type { FlagSpec, TextOut } from '../command.ts';
import { exitCodes, type ExitCode } from '../exit-codes.ts';

/** Flags of the operator commands. */
export const operatorFlags: Readonly<Record<string, FlagSpec>> = {
  'broker-url': { type: 'string', value: 'URL', description: 'the broker (default https://127.0.0.1:8443, e.g. through kubectl port-forward svc/agentgate-broker 8443)' },
  'broker-ca': { type: 'string', value: 'FILE', description: "CA bundle of the broker's certificate (default: the system's roots)" },
  kubeconfig: { type: 'string', value: 'FILE', description: 'kubeconfig whose user authenticates you (default: KUBECONFIG or ~/.kube/config)' },
};

/** What the operator commands' run receives, narrowed. */
export interface OperatorRun {
  values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  stderr: TextOut;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Builds the operator client from the flags; imports it lazily so `--help` stays light. */
export async function operatorClient(values: OperatorRun['values']) {
  const { createOperatorClient } = await import('../../broker/operator-client.ts');
  const caFile = str(values['broker-ca']);
  const kubeconfig = str(values.kubeconfig);
  return createOperatorClient({ url: str(values['broker-url']) ?? 'https://127.0.0.1:8443', ...(caFile ? { caFile } : {}), ...(kubeconfig ? { kubeconfig } : {}) });
}

/** Prints a failed answer of the operator API and returns exit 1. */
export async function failed(name: string, answer: { status: number; body: unknown }, stderr: TextOut): Promise<ExitCode> {
  const { answerError } = await import('../../broker/operator-client.ts');
  stderr.write(`agentgate ${name}: ${answerError(answer)}\n`);
  return exitCodes.failure.code;
}

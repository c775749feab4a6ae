// The operator commands' client of the broker's operator API: HTTPS with the operator's own
// Kubernetes credential (from their kubeconfig, as kubectl would send it) and the broker's CA.
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { OPERATOR_PREFIX } from './routes-operator.ts';

/** Where the broker is and who the operator is. */
export interface OperatorClientOptions {
  /** The broker's URL (https://…). */
  url: string;
  /** CA bundle file of the broker's certificate; the system roots when absent. */
  caFile?: string;
  /** The operator's kubeconfig; default the usual one (KUBECONFIG or ~/.kube/config). */
  kubeconfig?: string;
  /** Bound on each call (default 30 s: a revocation waits for the cluster's clean-up). */
  timeoutMs?: number;
}

/** An answer of the operator API. */
export interface OperatorAnswer {
  status: number;
  body: unknown;
}

/** A failure to reach the broker at all (as opposed to an answer with an error). */
export class OperatorClientError extends Error {
  override name = 'OperatorClientError';
}

/** Calls the operator API. */
export interface OperatorClient {
  call(method: string, path: string, body?: unknown): Promise<OperatorAnswer>;
}

/** The Authorization header the operator's kubeconfig yields (tokens, exec plugins, OIDC). */
async function authorization(kubeconfig: string | undefined): Promise<string> {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  const options: https.RequestOptions = { headers: {} };
  await kc.applyToHTTPSOptions(options);
  const header = (options.headers as Record<string, unknown> | undefined)?.Authorization ?? (options.headers as Record<string, unknown> | undefined)?.authorization;
  if (typeof header !== 'string' || header === '') {
    throw new OperatorClientError('the kubeconfig user has no bearer token: the broker authenticates operators by their Kubernetes token (TokenReview)');
  }
  return header;
}

/** Builds the client; reads the kubeconfig and CA once. */
export async function createOperatorClient(options: OperatorClientOptions): Promise<OperatorClient> {
  const base = new URL(options.url);
  if (base.protocol !== 'https:') throw new OperatorClientError(`the broker URL must be https://, got ${base.protocol}//`);
  const [auth, ca] = await Promise.all([authorization(options.kubeconfig), options.caFile ? readFile(options.caFile) : Promise.resolve(undefined)]);
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    call(method, path, body) {
      const url = new URL(`${OPERATOR_PREFIX}${path}`, base);
      const text = body === undefined ? undefined : JSON.stringify(body);
      return new Promise((resolve, reject) => {
        const req = https.request(url, {
          method,
          ...(ca ? { ca } : {}),
          signal: AbortSignal.timeout(timeoutMs),
          headers: { authorization: auth, accept: 'application/json', 'agentgate-contract': 'v1', ...(text !== undefined ? { 'content-type': 'application/json' } : {}) },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = raw;
            try {
              parsed = JSON.parse(raw);
            } catch {
              // a non-JSON answer is shown as text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        });
        req.on('error', (error: NodeJS.ErrnoException) => reject(new OperatorClientError(`the broker at ${base.origin} cannot be reached (${error.code ?? error.message})`)));
        req.end(text);
      });
    },
  };
}

/** The text of an error answer: the BrokerError's code and message when there is one. */
export function answerError(answer: OperatorAnswer): string {
  const body = answer.body as { code?: unknown; message?: unknown } | undefined;
  if (body && typeof body === 'object' && typeof body.message === 'string') return `${typeof body.code === 'string' ? `${body.code}: ` : ''}${body.message}`;
  return `HTTP ${answer.status}`;
}

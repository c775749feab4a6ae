/**
 * CLI of the API double: `npm run kube-double -- --port PORT --kubeconfig FILE [--version 1.33]
 * [--seed FILE.yaml]`. Listens on 127.0.0.1, writes an admin kubeconfig, stops on SIGTERM/SIGINT.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './types.ts';
import { createKubeApiServer } from './server.ts';

const USAGE = 'usage: npm run kube-double -- --port PORT --kubeconfig FILE [--version 1.33] [--seed FILE.yaml]';

/** Reads the objects of a multi-document YAML file (List kinds are flattened). */
async function readSeed(path: string): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(await readFile(path, 'utf8'))) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    const value = doc.toJS() as KubeObject | null;
    if (!value) continue;
    if (value.kind.endsWith('List') && Array.isArray(value.items)) out.push(...(value.items as KubeObject[]));
    else out.push(value);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, kubeconfig: { type: 'string' }, version: { type: 'string' }, seed: { type: 'string' } } });
  const errors: string[] = [];
  const port = Number(values.port ?? '');
  if (!Number.isInteger(port) || port < 0 || port > 65535) errors.push(`--port: expected a port number 0-65535, got ${JSON.stringify(values.port ?? '')}`);
  if (!values.kubeconfig) errors.push('--kubeconfig: expected the path of the kubeconfig to write');
  if (errors.length > 0) {
    process.stderr.write(`${errors.join('\n')}\n${USAGE}\n`);
    process.exit(2);
  }
  const seed = values.seed ? await readSeed(values.seed) : [];
  const api = await createKubeApiServer({ port, version: values.version ?? '1.31', seed });
  await api.writeKubeconfig(values.kubeconfig ?? '');
  process.stdout.write(`kube-double ${api.gitVersion} listening on ${api.url}; kubeconfig ${values.kubeconfig ?? ''}\n`);
  const stop = (): void => {
    void api.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`kube-double: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

/**
 * The list of benchmarks. Each later issue adds its figures here (sidecar throughput against
 * nginx, webhook latency, ...), each with a baseline measured in the same run.
 */
import { parseRequest } from '../../src/request/index.ts';
import { opsPerSecond, type Bench } from './measure.ts';

/** Paths as kubectl and client-go send them, from list to exec and discovery. */
const PATHS: Array<[string, string]> = [
  ['GET', '/api/v1/namespaces/default/pods?limit=500'],
  ['GET', '/api/v1/namespaces/default/pods/web-0'],
  ['GET', '/apis/apps/v1/namespaces/payments/deployments?watch=true&resourceVersion=123&allowWatchBookmarks=true'],
  ['PATCH', '/apis/apps/v1/namespaces/payments/deployments/api/scale'],
  ['POST', '/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdin=true&tty=true'],
  ['GET', '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dsettings'],
  ['DELETE', '/api/v1/namespaces/default/pods'],
  ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles'],
  ['GET', '/openapi/v2'],
  ['GET', '/api/v1/namespaces/payments'],
];

/** The baseline: what any proxy does at least, `new URL()` and a plain split of the path. */
function urlAndSplit(i: number): number {
  const [, url] = PATHS[i % PATHS.length] as [string, string];
  const parsed = new URL(url, 'https://127.0.0.1');
  return parsed.pathname.split('/').length;
}

function attributes(i: number): boolean {
  const [method, url] = PATHS[i % PATHS.length] as [string, string];
  return parseRequest(method, url).ok;
}

/**
 * The benchmarks in the order `npm run bench` prints them, by group. A group's module is imported
 * only when one of its figures runs: the parsing figure is measured without the other groups'
 * fixtures and servers loaded into the process.
 */
export interface BenchGroup {
  /** Every figure of the group starts with one of these. */
  prefixes: string[];
  load(): Promise<Bench[]>;
}

const parseBench: Bench = {
  name: 'request-attributes-parse',
  async run() {
    const baseline = opsPerSecond(urlAndSplit);
    const value = opsPerSecond(attributes);
    return { name: 'request-attributes-parse', value, unit: 'ops/s', baseline, ratio: Number((value / baseline).toFixed(2)), baselineName: 'new URL() + split' };
  },
};

/** Every group, in the order they run. */
export const benchGroups: BenchGroup[] = [
  { prefixes: ['request-attributes-'], load: async () => [parseBench] },
  { prefixes: ['masking-'], load: async () => (await import('./masking.ts')).maskingBenches },
  { prefixes: ['broker-'], load: async () => (await import('./broker.ts')).brokerBenches },
  { prefixes: ['sidecar-', 'node-passthrough-'], load: async () => (await import('./sidecar.ts')).sidecarBenches },
  { prefixes: ['webhook-'], load: async () => (await import('./webhook.ts')).webhookBenches },
];

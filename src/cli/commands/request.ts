// `agentgate request`: ask for access on an agent's behalf, print the request id, and wait for
// a human's decision (the broker's operator API; approvals arrive with the [approvals] issue).

import { defineCommand, UsageError } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';
import { failed, operatorClient, operatorFlags } from './operator-flags.ts';

/** The API group of common resources, so `--resources pods,deployments` needs no group; `name.group` names any other. */
const GROUPS: Readonly<Record<string, string>> = {
  pods: '', services: '', configmaps: '', secrets: '', serviceaccounts: '', events: '', endpoints: '', persistentvolumeclaims: '',
  namespaces: '', nodes: '', replicationcontrollers: '', limitranges: '', resourcequotas: '', persistentvolumes: '',
  deployments: 'apps', statefulsets: 'apps', daemonsets: 'apps', replicasets: 'apps', controllerrevisions: 'apps',
  jobs: 'batch', cronjobs: 'batch', horizontalpodautoscalers: 'autoscaling', poddisruptionbudgets: 'policy',
  ingresses: 'networking.k8s.io', networkpolicies: 'networking.k8s.io', endpointslices: 'discovery.k8s.io',
  roles: 'rbac.authorization.k8s.io', rolebindings: 'rbac.authorization.k8s.io',
};

const list = (value: unknown): string[] => (typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : []);

/** `pods,deployments.apps,pods/log` → one rule per API group. */
export function rulesFor(verbs: string[], resources: string[]): Array<{ verbs: string[]; apiGroups: string[]; resources: string[] }> {
  const byGroup = new Map<string, string[]>();
  for (const entry of resources) {
    const [name = '', sub] = entry.split('/');
    const dot = name.indexOf('.');
    const resource = dot < 0 ? name : name.slice(0, dot);
    const group = dot < 0 ? (GROUPS[resource] ?? '') : name.slice(dot + 1);
    const list = byGroup.get(group) ?? [];
    list.push(sub === undefined ? resource : `${resource}/${sub}`);
    byGroup.set(group, list);
  }
  return [...byGroup].map(([group, names]) => ({ verbs, apiGroups: [group], resources: names }));
}

/** Asks for access for an agent and waits for the decision. */
export const requestCommand = defineCommand({
  name: 'request',
  summary: 'ask for access on behalf of an agent',
  usage: '--agent A --namespace N --verbs get,list --resources pods,deployments --duration 30m --reason "..." [--connection C]',
  description:
    "Creates an access request for the agent (in --agent-namespace, default --namespace) over the resources in the target namespaces, " +
    "prints its id and waits until a human decides or it expires (--no-wait returns at once). Resources in other groups are written name.group " +
    "(certificates.cert-manager.io). Needs 'create' on accessrequests.agentgate.io. Exits 0 when granted, 1 when denied, expired or refused.",
  group: 'tool',
  flags: {
    ...operatorFlags,
    agent: { type: 'string', value: 'NAME', description: 'the agent the access is for' },
    'agent-namespace': { type: 'string', value: 'NS', description: "the agent's own namespace (default: --namespace)" },
    connection: { type: 'string', value: 'NAME', description: "the cluster (default: the broker's)" },
    namespace: { type: 'string', value: 'NS[,NS]', description: 'the namespaces the access is in, or * for cluster-wide' },
    verbs: { type: 'string', value: 'V[,V]', description: 'e.g. get,list,watch' },
    resources: { type: 'string', value: 'R[,R]', description: 'e.g. pods,deployments,pods/log' },
    duration: { type: 'string', value: 'DURATION', description: 'how long, e.g. 30m (1m to 8h)' },
    reason: { type: 'string', value: 'TEXT', description: 'what the access is for (the approver reads it)' },
    wait: { type: 'boolean', description: 'wait for the decision (default; --no-wait to return at once)' },
  },
  async run({ values, stdout, stderr, signal }) {
    for (const flag of ['agent', 'namespace', 'verbs', 'resources', 'duration', 'reason']) if (typeof values[flag] !== 'string') throw new UsageError(`--${flag} is required`);
    const namespaces = list(values.namespace);
    const agentNamespace = typeof values['agent-namespace'] === 'string' ? values['agent-namespace'] : namespaces[0];
    if (agentNamespace === undefined || agentNamespace === '*') throw new UsageError('--agent-namespace is required with a cluster-wide --namespace');
    const body = {
      identity: { namespace: agentNamespace, agent: values.agent, ...(typeof values.connection === 'string' ? { connection: values.connection } : {}) },
      spec: { rules: rulesFor(list(values.verbs), list(values.resources)), namespaces, duration: values.duration, reason: values.reason },
    };
    const client = await operatorClient(values);
    const created = await client.call('POST', '/accessrequests', body);
    if (created.status !== 201) return failed('request', created, stderr);
    const id = (created.body as { id: string }).id;
    stdout.write(`${id}\n`);
    if (values.wait === false) return exitCodes.ok.code;
    stderr.write(`waiting for a decision on ${id} …\n`);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (signal.aborted) return exitCodes.failure.code;
      const answer = await client.call('GET', `/accessrequests/${encodeURIComponent(id)}`);
      if (answer.status !== 200) return failed('request', answer, stderr);
      const status = (answer.body as { status: { phase: string; grantId?: string; decidedBy?: string; message?: string } }).status;
      if (status.phase === 'Pending' || status.phase === 'Approved') continue;
      const by = status.decidedBy ? ` by ${status.decidedBy}` : '';
      stdout.write(`${status.phase}${by}${status.grantId ? `: grant ${status.grantId}` : ''}${status.message ? ` (${status.message})` : ''}\n`);
      return status.phase === 'Granted' ? exitCodes.ok.code : exitCodes.failure.code;
    }
  },
});

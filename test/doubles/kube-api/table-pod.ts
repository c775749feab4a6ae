/**
 * The pod printer of the Table output (printPod in pkg/printers/internalversion): READY, STATUS
 * with init-container and sidecar rules, RESTARTS with "(5m ago)", and the wide columns.
 * Test code only.
 */
import { ageColumn, arr, column, fieldDoc, nameColumn, num, obj, since, str } from './table-format.ts';
import type { TableColumn } from './table-format.ts';

type Obj = Record<string, unknown>;

/** The pod columns (podColumnDefinitions). */
export function podColumns(): TableColumn[] {
  return [
    nameColumn(),
    column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    column('Status', 'string', 'The aggregate status of the containers in this pod.'),
    column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    ageColumn(),
    column('IP', 'string', fieldDoc('v1/PodStatus', 'podIP'), 1),
    column('Node', 'string', fieldDoc('v1/PodSpec', 'nodeName'), 1),
    column('Nominated Node', 'string', fieldDoc('v1/PodStatus', 'nominatedNodeName'), 1),
    column('Readiness Gates', 'string', fieldDoc('v1/PodSpec', 'readinessGates'), 1),
  ];
}

function conditionTrue(status: Obj, type: string): boolean {
  return arr(status.conditions).map(obj).some((c) => c.type === type && c.status === 'True');
}

function later(current: string, candidate: unknown): string {
  const c = str(candidate);
  return c && (!current || Date.parse(c) > Date.parse(current)) ? c : current;
}

/** The cells printPod writes, wide columns included (the server always prints wide). */
export function podCells(pod: Obj, now: Date): Array<string | number> {
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  const metadata = obj(pod.metadata);
  const initSpecs = new Map(arr(spec.initContainers).map(obj).map((c) => [str(c.name), c]));
  // Sidecars (restartPolicy Always init containers) count as containers of the pod.
  const restartable = (name: string): boolean => str(initSpecs.get(name)?.restartPolicy) === 'Always';
  const total = arr(spec.containers).length + [...initSpecs.keys()].filter(restartable).length;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = '';
  let lastSidecarRestart = '';
  let reason = str(status.reason) || str(status.phase);
  if (arr(status.conditions).map(obj).some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';

  let initializing = false;
  const initStatuses = arr(status.initContainerStatuses).map(obj);
  for (const [i, c] of initStatuses.entries()) {
    restarts += num(c.restartCount);
    const lastTerminated = obj(obj(c.lastState).terminated);
    if (lastTerminated.finishedAt) lastRestart = later(lastRestart, lastTerminated.finishedAt);
    const isSidecar = restartable(str(c.name));
    if (isSidecar) {
      sidecarRestarts += num(c.restartCount);
      if (lastTerminated.finishedAt) lastSidecarRestart = later(lastSidecarRestart, lastTerminated.finishedAt);
    }
    const state = obj(c.state);
    const terminated = state.terminated === undefined ? undefined : obj(state.terminated);
    const waiting = state.waiting === undefined ? undefined : obj(state.waiting);
    if (terminated && num(terminated.exitCode) === 0) continue;
    if (isSidecar && c.started === true) {
      if (c.ready === true) ready++;
      continue;
    }
    if (terminated) {
      if (str(terminated.reason)) reason = `Init:${str(terminated.reason)}`;
      else reason = num(terminated.signal) !== 0 ? `Init:Signal:${num(terminated.signal)}` : `Init:ExitCode:${num(terminated.exitCode)}`;
    } else if (waiting && str(waiting.reason) && waiting.reason !== 'PodInitializing') {
      reason = `Init:${str(waiting.reason)}`;
    } else {
      reason = `Init:${i}/${initSpecs.size}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(status, 'Initialized')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = arr(status.containerStatuses).map(obj);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i] ?? {};
      restarts += num(c.restartCount);
      const lastTerminated = obj(obj(c.lastState).terminated);
      if (lastTerminated.finishedAt) lastRestart = later(lastRestart, lastTerminated.finishedAt);
      const state = obj(c.state);
      const waiting = obj(state.waiting);
      const terminated = state.terminated === undefined ? undefined : obj(state.terminated);
      if (str(waiting.reason)) reason = str(waiting.reason);
      else if (terminated && str(terminated.reason)) reason = str(terminated.reason);
      else if (terminated) reason = num(terminated.signal) !== 0 ? `Signal:${num(terminated.signal)}` : `ExitCode:${num(terminated.exitCode)}`;
      else if (c.ready === true && state.running !== undefined) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = conditionTrue(status, 'Ready') ? 'Running' : 'NotReady';
  }

  if (metadata.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (metadata.deletionTimestamp && status.phase !== 'Succeeded' && status.phase !== 'Failed') reason = 'Terminating';

  const restartsText = restarts !== 0 && lastRestart ? `${restarts} (${since(lastRestart, now)} ago)` : String(restarts);
  const podIP = str(obj(arr(status.podIPs)[0]).ip) || str(status.podIP) || '<none>';
  const gates = arr(spec.readinessGates).map(obj);
  let readinessGates = '<none>';
  if (gates.length) {
    const conditions = arr(status.conditions).map(obj);
    const trueCount = gates.filter((g) => conditions.find((c) => c.type === g.conditionType)?.status === 'True').length;
    readinessGates = `${trueCount}/${gates.length}`;
  }
  return [
    str(metadata.name),
    `${ready}/${total}`,
    reason,
    restartsText,
    since(metadata.creationTimestamp, now),
    podIP,
    str(spec.nodeName) || '<none>',
    str(status.nominatedNodeName) || '<none>',
    readinessGates,
  ];
}

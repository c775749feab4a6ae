/**
 * Server-side `meta.k8s.io/v1` Table output, as kube-apiserver builds it from the printers in
 * pkg/printers/internalversion (all columns, priority 1 for `-o wide`). Test code only.
 */
import type { KubeObject } from './types.ts';
import type { ResourceInfo } from './resources.ts';
import { podCells, podColumns } from './table-pod.ts';
import { ageColumn, arr, column, fieldDoc, nameColumn, num, obj, since, str } from './table-format.ts';
import type { TableColumn } from './table-format.ts';

export { humanDuration } from './table-format.ts';
export type { TableColumn } from './table-format.ts';

/** Options of one conversion. */
export interface TableOptions {
  includeObject: 'None' | 'Metadata' | 'Object';
  resourceVersion: string;
  continue?: string;
  /** The clock AGE is measured against; now by default. */
  now?: Date;
}

type Obj = Record<string, unknown>;
type Cell = string | number | boolean;

/** labels.FormatLabels: sorted `k=v` joined by commas, `<none>` when empty. */
function formatLabels(map: unknown): string {
  const entries = Object.entries(obj(map)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length ? entries.map(([k, v]) => `${k}=${str(v)}`).join(',') : '<none>';
}

/** metav1.FormatLabelSelector: requirements sorted by key, `<none>` when it selects everything. */
function formatSelector(selector: unknown): string {
  if (selector === undefined || selector === null) return '<none>';
  const s = obj(selector);
  const reqs: Array<[string, string]> = Object.entries(obj(s.matchLabels)).map(([k, v]) => [k, `${k}=${str(v)}`]);
  for (const e of arr(s.matchExpressions).map(obj)) {
    const key = str(e.key);
    const values = arr(e.values).map(str).sort();
    const op = str(e.operator);
    if (op === 'In') reqs.push([key, `${key} in (${values.join(',')})`]);
    else if (op === 'NotIn') reqs.push([key, `${key} notin (${values.join(',')})`]);
    else if (op === 'Exists') reqs.push([key, key]);
    else if (op === 'DoesNotExist') reqs.push([key, `!${key}`]);
  }
  reqs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return reqs.length ? reqs.map(([, r]) => r).join(',') : '<none>';
}

function templateContainers(spec: Obj): [string, string] {
  const containers = arr(obj(obj(obj(spec.template).spec)).containers).map(obj);
  return [containers.map((c) => str(c.name)).join(','), containers.map((c) => str(c.image)).join(',')];
}

function serviceExternalIP(svc: Obj): string {
  const spec = obj(svc.spec);
  const external = arr(spec.externalIPs).map(str);
  switch (str(spec.type) || 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return external.length ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress = arr(obj(obj(svc.status).loadBalancer).ingress).map(obj);
      const lb = ingress.map((i) => str(i.ip) || str(i.hostname)).filter((x) => x !== '');
      const all = [...lb, ...external];
      return all.length ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return str(spec.externalName);
    default:
      return '<unknown>';
  }
}

function servicePorts(spec: Obj): string {
  const ports = arr(spec.ports).map(obj);
  const text = ports.map((p) => (num(p.nodePort) > 0 ? `${num(p.port)}:${num(p.nodePort)}/${str(p.protocol) || 'TCP'}` : `${num(p.port)}/${str(p.protocol) || 'TCP'}`)).join(',');
  return text || '<none>';
}

function subjects(o: Obj): [string, string, string] {
  const users: string[] = [];
  const groups: string[] = [];
  const sas: string[] = [];
  for (const s of arr(o.subjects).map(obj)) {
    if (s.kind === 'ServiceAccount') sas.push(`${str(s.namespace)}/${str(s.name)}`);
    else if (s.kind === 'User') users.push(str(s.name));
    else if (s.kind === 'Group') groups.push(str(s.name));
  }
  return [users.join(', '), groups.join(', '), sas.join(', ')];
}

/** Events: the microtime fallbacks and source formatting of printEvent. */
function eventCells(o: Obj, now: Date): Cell[] {
  const first = o.firstTimestamp ? since(o.firstTimestamp, now) : since(o.eventTime, now);
  let last = o.lastTimestamp ? since(o.lastTimestamp, now) : first;
  let count = num(o.count);
  const series = o.series === undefined || o.series === null ? undefined : obj(o.series);
  if (series) {
    last = since(series.lastObservedTime, now);
    count = num(series.count);
  } else if (count === 0) count = 1;
  const involved = obj(o.involvedObject);
  const kind = str(involved.kind).toLowerCase();
  const target = str(involved.name) ? `${kind}/${str(involved.name)}` : kind;
  const source = obj(o.source);
  const component = str(source.component) || str(o.reportingComponent);
  const instance = str(source.host) || str(o.reportingInstance);
  return [last, str(o.type), str(o.reason), target, str(involved.fieldPath), instance ? `${component}, ${instance}` : component, str(o.message).trim(), first, count, str(obj(o.metadata).name)];
}

interface Printer {
  columns: () => TableColumn[];
  cells: (o: Obj, now: Date) => Cell[];
}

const CONTAINERS_DOC = 'Names of each container in the template.';
const IMAGES_DOC = 'Images referenced by each container in the template.';
const name = (o: Obj): string => str(obj(o.metadata).name);
const age = (o: Obj, now: Date): string => since(obj(o.metadata).creationTimestamp, now);
const createdAt = (o: Obj): string => {
  const t = Date.parse(str(obj(o.metadata).creationTimestamp));
  return Number.isNaN(t) ? '0001-01-01T00:00:00Z' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
};
const bindingColumns = (kind: string): TableColumn[] => [
  nameColumn(),
  column('Role', 'string', fieldDoc(`rbac.authorization.k8s.io/v1/${kind}`, 'roleRef')),
  ageColumn(),
  column('Users', 'string', 'Users in the roleBinding', 1),
  column('Groups', 'string', 'Groups in the roleBinding', 1),
  column('ServiceAccounts', 'string', 'ServiceAccounts in the roleBinding', 1),
];
const bindingCells = (o: Obj, now: Date): Cell[] => [name(o), `${str(obj(o.roleRef).kind)}/${str(obj(o.roleRef).name)}`, age(o, now), ...subjects(o)];
const roleColumns = (): TableColumn[] => [nameColumn(), column('Created At', 'date', fieldDoc('meta/ObjectMeta', 'creationTimestamp'))];
const webhookColumns = (): TableColumn[] => [nameColumn(), column('Webhooks', 'integer', 'Webhooks indicates the number of webhooks registered in this configuration'), ageColumn()];
const webhookCells = (o: Obj, now: Date): Cell[] => [name(o), arr(o.webhooks).length, age(o, now)];

/** The printers of the served kinds, keyed by `group/Kind`. */
const PRINTERS: Record<string, Printer> = {
  '/Pod': { columns: () => podColumns(), cells: podCells },
  'apps/Deployment': {
    columns: () => [
      nameColumn(),
      column('Ready', 'string', 'Number of the pod with ready state'),
      column('Up-to-date', 'string', fieldDoc('apps/v1/DeploymentStatus', 'updatedReplicas')),
      column('Available', 'string', fieldDoc('apps/v1/DeploymentStatus', 'availableReplicas')),
      ageColumn(),
      column('Containers', 'string', CONTAINERS_DOC, 1),
      column('Images', 'string', IMAGES_DOC, 1),
      column('Selector', 'string', fieldDoc('apps/v1/DeploymentSpec', 'selector'), 1),
    ],
    cells: (o, now) => {
      const spec = obj(o.spec);
      const status = obj(o.status);
      return [name(o), `${num(status.readyReplicas)}/${num(spec.replicas, 1)}`, num(status.updatedReplicas), num(status.availableReplicas), age(o, now), ...templateContainers(spec), formatSelector(spec.selector)];
    },
  },
  '/Service': {
    columns: () => [
      nameColumn(),
      column('Type', 'string', fieldDoc('v1/ServiceSpec', 'type')),
      column('Cluster-IP', 'string', fieldDoc('v1/ServiceSpec', 'clusterIP')),
      column('External-IP', 'string', fieldDoc('v1/ServiceSpec', 'externalIPs')),
      column('Port(s)', 'string', fieldDoc('v1/ServiceSpec', 'ports')),
      ageColumn(),
      column('Selector', 'string', fieldDoc('v1/ServiceSpec', 'selector'), 1),
    ],
    cells: (o, now) => {
      const spec = obj(o.spec);
      const clusterIP = str(arr(spec.clusterIPs)[0]) || str(spec.clusterIP) || '<none>';
      return [name(o), str(spec.type) || 'ClusterIP', clusterIP, serviceExternalIP(o), servicePorts(spec), age(o, now), formatLabels(spec.selector)];
    },
  },
  '/ConfigMap': {
    columns: () => [nameColumn(), column('Data', 'string', fieldDoc('v1/ConfigMap', 'data')), ageColumn()],
    cells: (o, now) => [name(o), Object.keys(obj(o.data)).length + Object.keys(obj(o.binaryData)).length, age(o, now)],
  },
  '/Secret': {
    columns: () => [nameColumn(), column('Type', 'string', fieldDoc('v1/Secret', 'type')), column('Data', 'string', fieldDoc('v1/Secret', 'data')), ageColumn()],
    cells: (o, now) => [name(o), str(o.type), Object.keys(obj(o.data)).length, age(o, now)],
  },
  '/ServiceAccount': {
    columns: () => [nameColumn(), column('Secrets', 'string', fieldDoc('v1/ServiceAccount', 'secrets')), ageColumn()],
    cells: (o, now) => [name(o), arr(o.secrets).length, age(o, now)],
  },
  '/Namespace': {
    columns: () => [nameColumn(), column('Status', 'string', 'The status of the namespace'), ageColumn()],
    cells: (o, now) => [name(o), str(obj(o.status).phase), age(o, now)],
  },
  '/Event': {
    columns: () => [
      column('Last Seen', 'string', fieldDoc('v1/Event', 'lastTimestamp')),
      column('Type', 'string', fieldDoc('v1/Event', 'type')),
      column('Reason', 'string', fieldDoc('v1/Event', 'reason')),
      column('Object', 'string', fieldDoc('v1/Event', 'involvedObject')),
      column('Subobject', 'string', fieldDoc('v1/ObjectReference', 'fieldPath'), 1),
      column('Source', 'string', fieldDoc('v1/Event', 'source'), 1),
      column('Message', 'string', fieldDoc('v1/Event', 'message')),
      column('First Seen', 'string', fieldDoc('v1/Event', 'firstTimestamp'), 1),
      column('Count', 'string', fieldDoc('v1/Event', 'count'), 1),
      column('Name', 'string', fieldDoc('meta/ObjectMeta', 'name'), 1, 'name'),
    ],
    cells: eventCells,
  },
  'rbac.authorization.k8s.io/Role': { columns: roleColumns, cells: (o) => [name(o), createdAt(o)] },
  'rbac.authorization.k8s.io/ClusterRole': { columns: roleColumns, cells: (o) => [name(o), createdAt(o)] },
  'rbac.authorization.k8s.io/RoleBinding': { columns: () => bindingColumns('RoleBinding'), cells: bindingCells },
  'rbac.authorization.k8s.io/ClusterRoleBinding': { columns: () => bindingColumns('ClusterRoleBinding'), cells: bindingCells },
  'admissionregistration.k8s.io/MutatingWebhookConfiguration': { columns: webhookColumns, cells: webhookCells },
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration': { columns: webhookColumns, cells: webhookCells },
};

/** The default printer (`printObjectMeta`) of kinds without their own columns. */
const DEFAULT_PRINTER: Printer = { columns: () => [nameColumn(), ageColumn()], cells: (o, now) => [name(o), age(o, now)] };

/** The column definitions the real server sends for a resource (all priorities). */
export function tableColumns(info: Pick<ResourceInfo, 'group' | 'kind'>): TableColumn[] {
  return (PRINTERS[`${info.group}/${info.kind}`] ?? DEFAULT_PRINTER).columns();
}

/** A row's `object` as includeObject asks: nothing, PartialObjectMetadata, or the object. */
function rowObject(o: KubeObject, includeObject: TableOptions['includeObject']): unknown {
  if (includeObject === 'None') return null;
  if (includeObject === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

/**
 * Converts objects of one resource to a `meta.k8s.io/v1` Table with every column the real
 * server sends (the client hides priority-1 columns unless `-o wide`). One object gives one row;
 * watch streams call this once per event.
 */
export function toTable(info: ResourceInfo, objects: KubeObject[], opts: TableOptions): KubeObject {
  const printer = PRINTERS[`${info.group}/${info.kind}`] ?? DEFAULT_PRINTER;
  const now = opts.now ?? new Date();
  const rows = objects.map((o) => {
    const row: Obj = { cells: printer.cells(o as Obj, now) };
    // Finished pods carry a Completed row condition (podSuccessConditions / podFailedConditions).
    const phase = info.kind === 'Pod' && info.group === '' ? str(obj(o.status).phase) : '';
    if (phase === 'Succeeded') row.conditions = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
    if (phase === 'Failed') row.conditions = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];
    row.object = rowObject(o, opts.includeObject);
    return row;
  });
  const metadata: Obj = { resourceVersion: opts.resourceVersion };
  if (opts.continue) metadata.continue = opts.continue;
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata, columnDefinitions: printer.columns(), rows };
}

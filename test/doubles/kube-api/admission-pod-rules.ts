/**
 * The pod rules of pkg/apis/core/validation the double enforces: container and volume names,
 * volume mounts, native-sidecar restartPolicy, and what a pod update may change. Test code only.
 */
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from './types.ts';
import type { FieldError } from './validation.ts';

type Json = Record<string, unknown>;

function list(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

function specOf(pod: KubeObject): Json {
  return (pod.spec && typeof pod.spec === 'object' ? pod.spec : {}) as Json;
}

const required = (field: string): FieldError => ({ field, message: 'Required value', reason: 'FieldValueRequired' });
const duplicate = (field: string, value: string): FieldError => ({ field, message: `Duplicate value: ${JSON.stringify(value)}`, reason: 'FieldValueDuplicate' });
const notFound = (field: string, value: string): FieldError => ({ field, message: `Not found: ${JSON.stringify(value)}`, reason: 'FieldValueNotFound' });
const forbidden = (field: string, detail: string): FieldError => ({ field, message: `Forbidden: ${detail}`, reason: 'FieldValueForbidden' });
const invalidValue = (field: string, value: string, detail: string): FieldError => ({ field, message: `Invalid value: ${JSON.stringify(value)}: ${detail}`, reason: 'FieldValueInvalid' });

/** validateContainerCommon, the parts kept: name, image, volume mounts. */
function validateContainerCommon(ctr: Json, volumes: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!ctr.name) errs.push(required(`${path}.name`));
  if (!ctr.image) errs.push(required(`${path}.image`));
  const mountPoints = new Set<string>();
  list(ctr.volumeMounts).forEach((mnt, i) => {
    const at = `${path}.volumeMounts[${i}]`;
    const name = typeof mnt.name === 'string' ? mnt.name : '';
    const mountPath = typeof mnt.mountPath === 'string' ? mnt.mountPath : '';
    if (!name) errs.push(required(`${at}.name`));
    if (!volumes.has(name)) errs.push(notFound(`${at}.name`, name));
    if (!mountPath) errs.push(required(`${at}.mountPath`));
    if (mountPoints.has(mountPath)) errs.push(invalidValue(`${at}.mountPath`, mountPath, 'must be unique'));
    mountPoints.add(mountPath);
  });
  return errs;
}

/** ValidatePodCreate: the spec rules, and no ephemeral containers outside their subresource. */
export function validatePodCreate(pod: KubeObject): FieldError[] {
  const errs = validatePod(pod);
  if (list(specOf(pod).ephemeralContainers).length > 0) errs.push(forbidden('spec.ephemeralContainers', 'cannot be set on create'));
  return errs;
}

/** validatePodSpec in the apiserver's order: volumes, containers, init containers, ephemeral containers. */
export function validatePod(pod: KubeObject): FieldError[] {
  const spec = specOf(pod);
  const errs: FieldError[] = [];
  const volumes = new Set<string>();
  list(spec.volumes).forEach((vol, i) => {
    const name = typeof vol.name === 'string' ? vol.name : '';
    if (!name) errs.push(required(`spec.volumes[${i}].name`));
    else if (volumes.has(name)) errs.push(duplicate(`spec.volumes[${i}].name`, name));
    else volumes.add(name);
  });

  const containers = list(spec.containers);
  if (containers.length === 0) errs.push(required('spec.containers'));
  const regular = new Set<string>();
  containers.forEach((ctr, i) => {
    const path = `spec.containers[${i}]`;
    errs.push(...validateContainerCommon(ctr, volumes, path));
    const name = String(ctr.name ?? '');
    if (regular.has(name)) errs.push(duplicate(`${path}.name`, name));
    else regular.add(name);
    if (ctr.restartPolicy !== undefined && ctr.restartPolicy !== null) errs.push(forbidden(`${path}.restartPolicy`, 'may not be set for non-init containers'));
  });

  const named = new Set(regular);
  list(spec.initContainers).forEach((ctr, i) => {
    const path = `spec.initContainers[${i}]`;
    errs.push(...validateContainerCommon(ctr, volumes, path));
    // Native sidecars (1.29+): Always is the only value an init container's restartPolicy takes.
    if (ctr.restartPolicy !== undefined && ctr.restartPolicy !== null && ctr.restartPolicy !== 'Always') {
      errs.push({ field: `${path}.restartPolicy`, message: `Unsupported value: ${JSON.stringify(ctr.restartPolicy)}: supported values: "Always"`, reason: 'FieldValueNotSupported' });
    }
    const name = String(ctr.name ?? '');
    if (named.has(name)) errs.push(duplicate(`${path}.name`, name));
    else if (name) named.add(name);
  });

  list(spec.ephemeralContainers).forEach((ctr, i) => {
    const path = `spec.ephemeralContainers[${i}]`;
    errs.push(...validateContainerCommon(ctr, volumes, path));
    const name = String(ctr.name ?? '');
    if (named.has(name)) errs.push(duplicate(`${path}.name`, name));
    else named.add(name);
  });
  return errs;
}

const UPDATABLE = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
].join(',');

/** apiequality.Semantic treats nil and empty slices and maps alike: drop them before comparing. */
function semantic(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(semantic);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [k, semantic(v)] as const).filter(([, v]) => v !== undefined && v !== null);
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value;
}

function equal(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(semantic(a), semantic(b));
}

/** An approximation of cmp.Diff(old, new) on core.PodSpec: one -/+ pair per changed top-level field. */
function specDiff(oldSpec: Json, newSpec: Json): string {
  // serviceAccount is the v1 alias of serviceAccountName; core.PodSpec has no such field.
  const keys = [...new Set([...Object.keys(oldSpec), ...Object.keys(newSpec)])].filter((k) => k !== 'serviceAccount');
  const lines = ['  core.PodSpec{'];
  let same = 0;
  for (const key of keys) {
    if (equal(oldSpec[key], newSpec[key])) { same++; continue; }
    const field = key.charAt(0).toUpperCase() + key.slice(1);
    if (oldSpec[key] !== undefined) lines.push(`- \t${field}: ${JSON.stringify(oldSpec[key])},`);
    if (newSpec[key] !== undefined) lines.push(`+ \t${field}: ${JSON.stringify(newSpec[key])},`);
  }
  if (same > 0) lines.push(`  \t... // ${same} identical fields`);
  lines.push('  }');
  return lines.join('\n') + '\n';
}

/** ValidatePodUpdate: the spec rules above on the new pod, then what an update may change. */
export function validatePodUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const errs = validatePod(pod);
  const spec = specOf(pod);
  const oldSpec = specOf(old);
  for (const key of ['containers', 'initContainers'] as const) {
    if (list(spec[key]).length !== list(oldSpec[key]).length) {
      errs.push(forbidden(`spec.${key}`, 'pod updates may not add or remove containers'));
      return errs;
    }
  }
  const ads = spec.activeDeadlineSeconds;
  const oldAds = oldSpec.activeDeadlineSeconds;
  if (typeof ads === 'number') {
    if (ads < 0 || ads > 2147483647) return [...errs, { field: 'spec.activeDeadlineSeconds', message: `Invalid value: ${ads}: must be between 0 and 2147483647, inclusive`, reason: 'FieldValueInvalid' }];
    if (typeof oldAds === 'number' && oldAds < ads) return [...errs, { field: 'spec.activeDeadlineSeconds', message: `Invalid value: ${ads}: must be less than or equal to previous value`, reason: 'FieldValueInvalid' }];
  } else if (typeof oldAds === 'number') {
    errs.push({ field: 'spec.activeDeadlineSeconds', message: 'Invalid value: "null": must not update from a positive integer to nil value', reason: 'FieldValueInvalid' });
  }
  // Tolerations: each old one must survive, though its tolerationSeconds may change.
  const newTolerations = list(spec.tolerations);
  for (const t of list(oldSpec.tolerations)) {
    const kept = newTolerations.some((n) => equal({ ...t, tolerationSeconds: n.tolerationSeconds }, n));
    if (!kept) { errs.push(forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds')); break; }
  }
  if (equal(spec, oldSpec)) return errs;

  const munged: Json = structuredClone(spec);
  for (const key of ['containers', 'initContainers'] as const) {
    const olds = list(oldSpec[key]);
    munged[key] = list(munged[key]).map((c, i) => ({ ...c, image: olds[i]?.image }));
  }
  munged.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  munged.schedulingGates = oldSpec.schedulingGates;
  munged.tolerations = oldSpec.tolerations;
  const oldGrace = oldSpec.terminationGracePeriodSeconds;
  if (typeof oldGrace === 'number' && oldGrace < 0 && munged.terminationGracePeriodSeconds === 1) munged.terminationGracePeriodSeconds = oldGrace;
  if (!equal(munged, oldSpec)) {
    errs.push(forbidden('spec', `pod updates may not change fields other than ${UPDATABLE}\n${specDiff(oldSpec, munged)}`));
  }
  return errs;
}

/** ValidatePodEphemeralContainersUpdate: existing ephemeral containers may be neither removed nor changed. */
export function validateEphemeralContainersUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const errs = validatePod(pod);
  const current = new Map(list(specOf(pod).ephemeralContainers).map((c) => [String(c.name ?? ''), c]));
  for (const o of list(specOf(old).ephemeralContainers)) {
    const name = String(o.name ?? '');
    const now = current.get(name);
    if (!now) errs.push(forbidden('spec.ephemeralContainers', `existing ephemeral containers ${JSON.stringify(name)} may not be removed\n`));
    else if (!equal(o, now)) errs.push(forbidden('spec.ephemeralContainers', `existing ephemeral containers ${JSON.stringify(name)} may not be changed\n`));
  }
  return errs;
}

/** The pod spec inside a pod (`spec`) or a deployment (`spec.template.spec`), or undefined. */
function podSpecIn(obj: KubeObject | undefined): Json | undefined {
  if (!obj?.spec || typeof obj.spec !== 'object') return undefined;
  if (obj.kind === 'Pod') return obj.spec as Json;
  const template = (obj.spec as Json).template;
  const spec = template && typeof template === 'object' ? (template as Json).spec : undefined;
  return obj.kind === 'Deployment' && spec && typeof spec === 'object' ? (spec as Json) : undefined;
}

/**
 * dropDisabledPodFields for native sidecars on a server older than 1.29, where the
 * SidecarContainers gate is off by default: PrepareForCreate/PrepareForUpdate clear every init
 * container's restartPolicy unless the old object already used one. No error is returned, so a
 * sidecar silently becomes an ordinary init container (the strategies run after mutating admission,
 * so a webhook's sidecar loses it too). Works in place on a Pod or a Deployment's template.
 */
export function dropDisabledSidecarFields(obj: KubeObject | undefined, old: KubeObject | undefined): void {
  const spec = podSpecIn(obj);
  if (!spec) return;
  if (list(podSpecIn(old)?.initContainers).some((c) => c.restartPolicy !== undefined && c.restartPolicy !== null)) return;
  for (const c of list(spec.initContainers)) delete c.restartPolicy;
}

// What every container but the sidecar gets: the sidecar as its in-cluster API server (env) and
// the sidecar's credentials directory in place of the service-account token (mount).
import { isObject, mergeInPlace, objects, sameJson, setOp, str, type JsonObject, type JsonPatchOp } from './json.ts';
import type { InjectOptions } from './options.ts';
import { agentMountOf } from './sidecar.ts';

/** The variables the container set itself that agentgate overwrites (a value of its own). */
function overriddenNames(env: JsonObject[], options: InjectOptions): string[] {
  const ours = new Map(options.layout.agentEnv.map((e) => [e.name, e.value]));
  return env
    .filter((e) => {
      const name = str(e.name);
      return name !== undefined && ours.has(name) && (e.value !== ours.get(name) || e.valueFrom !== undefined);
    })
    .map((e) => String(e.name));
}

/**
 * The container with its agent env and mount; `warnings` gets a line when a variable the
 * container set is overwritten. agentgate's variables come first, so a user variable written as
 * `$(KUBERNETES_SERVICE_HOST)` expands to the sidecar; `env` beats `envFrom`, so a ConfigMap
 * cannot set them back. Mounts of the plugin's token volume are dropped with the volume; our
 * mount keeps its place when present, so mounts other webhooks appended keep their order.
 */
export function agentContainer(container: JsonObject, pluginVolumes: ReadonlySet<string>, options: InjectOptions, field: string, warnings: string[]): JsonObject {
  const existing = objects(container.env);
  const overridden = overriddenNames(existing, options);
  if (overridden.length > 0) {
    const { apiHost, apiPort } = options.layout.sidecar;
    warnings.push(`${field} ${str(container.name) ?? ''}: ${overridden.join(', ')} overwritten by agentgate: the sidecar at ${apiHost}:${apiPort} is this pod's API server`);
  }
  const names = new Set(options.layout.agentEnv.map((e) => e.name));
  const env = [...options.layout.agentEnv.map((e) => ({ name: e.name, value: e.value })), ...existing.filter((e) => !names.has(str(e.name) ?? ''))];
  const shared = options.layout.sharedVolume.name;
  const volumeMounts = mergeInPlace(
    objects(container.volumeMounts),
    (m) => (str(m.name) === shared ? shared : undefined),
    new Map([[shared, agentMountOf(options)]]),
    (m) => pluginVolumes.has(str(m.name) ?? ''),
  );
  return { ...container, env, volumeMounts };
}

/**
 * The ops that put agentgate's variables first in `current` (the container's env as sent).
 * In a long list, ours are removed where they stand and added at the front, one op each: the rest
 * of the list is never re-sent, so a pod with a large env gets a small patch (a 64 KB env was answered as a
 * 90 KB patch when the whole list was replaced; measured in the webhook bench).
 */
function envOps(path: string, current: unknown, wanted: JsonObject[], options: InjectOptions): JsonPatchOp[] {
  const ours = options.layout.agentEnv;
  // No list yet, a short one (one op is smaller than ours one by one), or one with entries that
  // are not objects: replaced whole.
  if (!Array.isArray(current) || current.length <= ours.length || !current.every(isObject)) return setOp(path, current, wanted);
  const names = new Set(ours.map((e) => e.name));
  const inPlace = ours.every((e, i) => sameJson(current[i], { name: e.name, value: e.value }))
    && current.slice(ours.length).every((e) => !names.has(str(e.name) ?? ''));
  if (inPlace) return [];
  const ops: JsonPatchOp[] = [];
  for (let i = current.length - 1; i >= 0; i--) if (names.has(str(current[i]?.name) ?? '')) ops.push({ op: 'remove', path: `${path}/${i}` });
  ours.forEach((e, i) => ops.push({ op: 'add', path: `${path}/${i}`, value: { name: e.name, value: e.value } }));
  return ops;
}

/** The ops that give the container at `path` (e.g. /spec/containers/2) its agent env and mount. */
export function agentContainerOps(container: JsonObject, path: string, pluginVolumes: ReadonlySet<string>, options: InjectOptions, field: string, warnings: string[]): JsonPatchOp[] {
  const wanted = agentContainer(container, pluginVolumes, options, field, warnings);
  return [...envOps(`${path}/env`, container.env, objects(wanted.env), options), ...setOp(`${path}/volumeMounts`, container.volumeMounts, wanted.volumeMounts)];
}

// Masking through the sidecar with the real mask stage (sidecar/masking.ts on src/masking), as an
// agent sees it with real kubectl 1.27, 1.31 and 1.33: Secret values in YAML, JSON, jsonpath,
// watches, describe, Tables with objects and the last-applied annotation; edits that would write
// the mask back are refused and the real value stays; pod logs (also followed) hide tokens.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { defaultMaskingRules, MASK_MARKER, MASK_MARKER_BASE64 } from '../../src/masking/index.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { kubectl, startKubectl } from '../helpers/kubectl.ts';
import { GRANT_TOKEN, startWorld, until, type World } from './harness.ts';

const VERSIONS = ['1.27', '1.31', '1.33'] as const;
const REAL = 'hunter2-real';
const REAL_B64 = Buffer.from(REAL).toString('base64');
/** A GitHub token format the pattern library knows (ghp_ + 36 base62). */
const GITHUB_TOKEN = `ghp_${'A1b2C3d4E5'.repeat(3)}Z9y8X7`;

/** A world with the real mask stage and a grant over Secrets, pods and logs in `agents`. */
async function maskingWorld(version: string): Promise<World> {
  const world = await startWorld({ kubeVersion: version, deps: { maskResponse: createMaskResponse({ rules: defaultMaskingRules }), brokerTimeoutMs: 3000 } });
  world.broker.addGrant({ id: 'g-discovery', rules: [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/openapi/*'] }], namespaces: ['*'], token: GRANT_TOKEN });
  world.broker.addGrant({
    id: 'g-agents',
    rules: [{ verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'], apiGroups: [''], resources: ['secrets', 'pods', 'pods/log', 'events'] }],
    namespaces: ['agents'], token: GRANT_TOKEN,
  });
  world.broker.table.push(
    { name: 'discovery', when: (a) => !a.isResourceRequest, outcome: 'allow', grantId: 'g-discovery', cacheForMs: 60_000 },
    { name: 'agents namespace', when: (a) => a.namespace === 'agents', outcome: 'allow', grantId: 'g-agents', cacheForMs: 60_000 },
  );
  return world;
}

/**
 * The stored password: the API double keeps `stringData` as written (the real API server folds it
 * into `data`), so either form counts.
 */
function storedValue(secret: Record<string, unknown> | undefined, key = 'password'): string | undefined {
  const field = (name: string): unknown => {
    const map = secret?.[name];
    return typeof map === 'object' && map !== null ? (map as Record<string, unknown>)[key] : undefined;
  };
  const data = field('data');
  if (typeof data === 'string') return Buffer.from(data, 'base64').toString('utf8');
  const text = field('stringData');
  return typeof text === 'string' ? text : undefined;
}

/** True when `text` shows the real value in any form a reader could decode. */
const leaks = (text: string): boolean => text.includes(REAL) || text.includes(REAL_B64);

for (const version of VERSIONS) {
  test(`kubectl ${version}: get -o yaml, -o json, jsonpath | base64 -d, describe and a Table with objects show no Secret value`, async (t) => {
    const world = await maskingWorld(version);
    t.teardown(() => world.close());
    const opts = { kubeconfig: world.kubeconfig };
    const rows: Array<{ name: string; args: string[]; shows: string }> = [
      { name: 'get -o yaml', args: ['get', 'secret', 'db-password', '-o', 'yaml'], shows: `password: ${MASK_MARKER_BASE64}` },
      { name: 'get -o json', args: ['get', 'secret', 'db-password', '-o', 'json'], shows: `"password": "${MASK_MARKER_BASE64}"` },
      { name: 'jsonpath of the value', args: ['get', 'secret', 'db-password', '-o', 'jsonpath={.data.password}'], shows: MASK_MARKER_BASE64 },
      { name: 'list -o yaml', args: ['get', 'secrets', '-o', 'yaml'], shows: MASK_MARKER_BASE64 },
      // custom-columns asks for a Table with the objects embedded (includeObject=Object).
      { name: 'a Table with objects (custom-columns over .data)', args: ['get', 'secrets', '-o', 'custom-columns=NAME:.metadata.name,PW:.data.password'], shows: `db-password   ${MASK_MARKER_BASE64}` },
      { name: 'describe (sizes of the marker, not of the value)', args: ['describe', 'secret', 'db-password'], shows: `password:  ${MASK_MARKER.length} bytes` },
    ];
    for (const row of rows) {
      const run = await kubectl(version, row.args, opts);
      t.is(run.code, 0, `${row.name}: ${run.stderr}`);
      t.false(leaks(run.stdout), `${row.name} leaks: ${run.stdout}`);
      t.true(run.stdout.includes(row.shows), `${row.name}: ${run.stdout}`);
    }
    // What an agent would pipe through base64 -d: the marker, recognisable.
    const value = await kubectl(version, ['get', 'secret', 'db-password', '-o', 'jsonpath={.data.password}'], opts);
    t.is(Buffer.from(value.stdout, 'base64').toString('utf8'), MASK_MARKER);
    // The audit counts what was masked.
    await world.sidecar.auditor.flush();
    const events = world.broker.auditBatches.flatMap((b) => b.events).filter((e) => e.attributes.resource === 'secrets' && e.attributes.verb === 'get');
    t.true(events.length > 0 && events.every((e) => e.masked >= 1), JSON.stringify(events.map((e) => e.masked)));
  });

  test(`kubectl ${version}: get secrets -w shows watch events masked`, async (t) => {
    const world = await maskingWorld(version);
    t.teardown(() => world.close());
    const watch = await startKubectl(version, ['get', 'secrets', '-w', '-o', 'jsonpath={.metadata.name}={.data.password}{"\\n"}'], { kubeconfig: world.kubeconfig });
    t.teardown(async () => void (await watch.stop()));
    await watch.waitFor(/db-password=/);
    world.kube.objects.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api-key', namespace: 'agents' }, type: 'Opaque', data: { password: REAL_B64 } });
    const out = await watch.waitFor(/api-key=/);
    t.false(leaks(out), out);
    t.regex(out, new RegExp(`api-key=${MASK_MARKER_BASE64}`));
  });

  test(`kubectl ${version}: apply of a Secret keeps the value out of the last-applied annotation, and edit cannot write the mask back`, async (t) => {
    const world = await maskingWorld(version);
    t.teardown(() => world.close());
    const opts = { kubeconfig: world.kubeconfig };
    const file = join(world.dir, 'secret.yaml');
    await writeFile(file, `apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  namespace: agents\ntype: Opaque\nstringData:\n  password: ${REAL}\n`);
    const applied = await kubectl(version, ['apply', '-f', file], opts);
    t.is(applied.code, 0, applied.stderr);
    const stored = world.kube.objects.get('secrets', 'agents', 'applied');
    t.is(storedValue(stored), REAL, 'the real value reached the API server');

    const yaml = await kubectl(version, ['get', 'secret', 'applied', '-o', 'yaml'], opts);
    t.is(yaml.code, 0, yaml.stderr);
    t.true(yaml.stdout.includes('kubectl.kubernetes.io/last-applied-configuration'), yaml.stdout);
    t.false(leaks(yaml.stdout), yaml.stdout);

    // kubectl edit sends a two-way patch of what changed: a new label carries no masked value and goes through.
    const labeller = join(world.dir, 'label.sh');
    await writeFile(labeller, '#!/bin/sh\nsed -i "s/^  name: db-password$/  name: db-password\\n  labels: {edited: \\"yes\\"}/" "$1"\n', { mode: 0o755 });
    const labelled = await kubectl(version, ['edit', 'secret', 'db-password'], { ...opts, env: { KUBE_EDITOR: labeller } });
    t.is(labelled.code, 0, labelled.stderr);
    t.is(world.kube.objects.get('secrets', 'agents', 'db-password')?.metadata.labels?.edited, 'yes');
    t.is(storedValue(world.kube.objects.get('secrets', 'agents', 'db-password')), REAL, 'the real value is intact');

    // Renaming a key moves its (masked) value into the patch: refused, nothing changed.
    const renamer = join(world.dir, 'rename.sh');
    await writeFile(renamer, '#!/bin/sh\nsed -i "s/^  password: /  renamed: /" "$1"\n', { mode: 0o755 });
    const edit = await kubectl(version, ['edit', 'secret', 'db-password'], { ...opts, env: { KUBE_EDITOR: renamer } });
    t.not(edit.code, 0, edit.stdout);
    t.regex(edit.stderr, /^error: secrets "db-password" could not be patched: agentgate: a masked value cannot be written back \(MaskedValueWriteBack\)/);
    t.regex(edit.stderr, /agentgate refused this write: its body carries "agentgate-masked-data" \(at data\.renamed\)/);
    const after = world.kube.objects.get('secrets', 'agents', 'db-password');
    t.is(storedValue(after), REAL, 'the real value is intact');
    t.is(storedValue(after, 'renamed'), undefined, 'nothing was changed');

    // get -o yaml | apply of the masked object: refused too.
    const back = await kubectl(version, ['apply', '-f', '-'], { ...opts, input: yaml.stdout });
    t.not(back.code, 0);
    t.regex(back.stderr, /MaskedValueWriteBack/);
    t.is(storedValue(world.kube.objects.get('secrets', 'agents', 'applied')), REAL);
  });

  test(`kubectl ${version}: pod logs, also followed, show tokens masked`, async (t) => {
    const world = await maskingWorld(version);
    t.teardown(() => world.close());
    world.kube.setPodLogs('agents', 'web-0', 'web', ['starting', `GITHUB_TOKEN=${GITHUB_TOKEN}`, 'ready']);
    const logs = await kubectl(version, ['logs', 'web-0'], { kubeconfig: world.kubeconfig });
    t.is(logs.code, 0, logs.stderr);
    t.false(logs.stdout.includes(GITHUB_TOKEN), logs.stdout);
    t.regex(logs.stdout, /^starting\n.*agentgate-masked-data.*\nready\n$/);

    const follow = await startKubectl(version, ['logs', '-f', 'web-0'], { kubeconfig: world.kubeconfig });
    t.teardown(async () => void (await follow.stop()));
    await follow.waitFor(/ready/);
    world.kube.appendPodLog('agents', 'web-0', 'web', [`retrying with password=${REAL} now`, 'done']);
    const out = await follow.waitFor(/done/);
    t.false(out.includes(GITHUB_TOKEN) || out.includes(REAL), out);
    t.regex(out, /retrying with password=agentgate-masked-data now/);
    await until(() => world.sidecar.state.openResponses() === 1, 2000, 'the followed log to be registered');
  });
}

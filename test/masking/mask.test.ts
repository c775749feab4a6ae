// The masker on whole Kubernetes documents: Secrets in every wrapper the API server uses (object,
// typed and mixed lists, Tables in each includeObject form, watch events), last-applied
// annotations, and pattern matches in ConfigMaps, env values and messages.
import test from 'ava';
import { createMasker, defaultMaskingRules, MaskingError, MaskingRulesError, type MaskContext } from '../../src/masking/mask.ts';
import { MASK_MARKER as M, MASK_MARKER_BASE64 as M64, containsMarker } from '../../src/masking/marker.ts';
import { toTable } from '../doubles/kube-api/table.ts';
import { findResource } from '../doubles/kube-api/resources.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import { list, pod, secret, type Json } from './fixtures.ts';

const masker = createMasker(defaultMaskingRules);
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJpc3MiOiJrdWJlcm5ldGVzIiwic3ViIjoic3lzdGVtOnNhIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
const AWS_ID = 'AKIAIOSFODNN7EXAMPLE';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const REAL = ['hunter2', b64('hunter2'), 'aHVudGVy', AWS_ID, AWS_SECRET, JWT, 's3cr3t-p4ss'];

function plainSecret(name: string, extra: Json = {}): Json {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'payments' }, type: 'Opaque', data: { password: b64('hunter2') }, ...extra };
}
function configMap(data: Record<string, string>): Json {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'payments' }, data };
}
const leaks = (o: unknown): string[] => REAL.filter((r) => JSON.stringify(o).includes(r));

interface Row {
  name: string;
  input: () => unknown;
  context?: MaskContext;
  /** Checks on the masked document. */
  expect: (o: Json) => unknown[];
  count: number;
}

const secretsInfo = findResource('', 'secrets');
if (!secretsInfo) throw new Error('the double serves no secrets');
const now = new Date('2025-01-10T12:00:00Z');
const stored = (s: Json): KubeObject => ({ ...s, metadata: { ...(s.metadata as Json), creationTimestamp: '2025-01-10T10:00:00Z' } }) as KubeObject;
const table = (includeObject: 'None' | 'Metadata' | 'Object', objects: Json[]): Json => toTable(secretsInfo, objects.map(stored), { includeObject, resourceVersion: '9', now }) as Json;
const at = (o: unknown, ...path: Array<string | number>): unknown => path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);

const rows: Row[] = [
  // Secrets in every wrapper.
  { name: 'single Secret: data and stringData values become the marker', input: () => plainSecret('db', { stringData: { token: 's3cr3t-p4ss' } }), count: 2, expect: (o) => [at(o, 'data', 'password') === M64, at(o, 'stringData', 'token') === M, at(o, 'type') === 'Opaque'] },
  { name: 'SecretList items without kind are Secrets', input: () => list('SecretList', [secret(0), secret(1), secret(2)]), count: 6, expect: (o) => [at(o, 'items', 0, 'data', 'password') === M64, at(o, 'items', 1, 'data', 'tls.key') === M64, at(o, 'items', 2, 'data', '.dockerconfigjson') === M64, at(o, 'items', 0, 'metadata', 'name') === 'app-secret-0'] },
  { name: 'mixed List: the Secret masked, the ConfigMap and the Pod only where a pattern matches', input: () => ({ apiVersion: 'v1', kind: 'List', metadata: {}, items: [configMap({ mode: 'fast' }), plainSecret('db'), { apiVersion: 'v1', kind: 'Pod', ...pod(1) }] }), count: 1, expect: (o) => [at(o, 'items', 0, 'data', 'mode') === 'fast', at(o, 'items', 1, 'data', 'password') === M64, at(o, 'items', 2, 'spec', 'nodeName') === 'node-1'] },
  { name: 'kind-less item of an untyped list, recognised by its type and data', input: () => ({ kind: 'List', apiVersion: 'v1', items: [{ metadata: { name: 'x' }, type: 'Opaque', data: { a: b64('hunter2') } }] }), count: 1, expect: (o) => [at(o, 'items', 0, 'data', 'a') === M64] },
  { name: 'a lookalike kind-less object without type keeps its data', input: () => ({ kind: 'List', apiVersion: 'v1', items: [{ metadata: { name: 'x' }, data: { mode: 'fast' } }] }), count: 0, expect: (o) => [at(o, 'items', 0, 'data', 'mode') === 'fast'] },
  { name: 'watch event ADDED of a Secret', input: () => ({ type: 'ADDED', object: plainSecret('db') }), count: 1, expect: (o) => [at(o, 'type') === 'ADDED', at(o, 'object', 'data', 'password') === M64] },
  { name: 'watch event with a kind-less object, Secret-like by the request context', context: { resource: 'secrets' }, input: () => ({ type: 'MODIFIED', object: secret(0) }), count: 3, expect: (o) => [at(o, 'object', 'data', 'username') === M64] },
  { name: 'watch ERROR event: the Status message is pattern-scanned', input: () => ({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `token ${JWT} expired`, code: 410 } }), count: 1, expect: (o) => [at(o, 'object', 'message') === `token ${M} expired`] },
  // Tables.
  { name: 'Table includeObject=Object: the embedded Secret masked, core cells kept', input: () => table('Object', [plainSecret('db')]), count: 1, expect: (o) => [at(o, 'rows', 0, 'object', 'data', 'password') === M64, at(o, 'rows', 0, 'cells', 0) === 'db', at(o, 'rows', 0, 'cells', 1) === 'Opaque', at(o, 'rows', 0, 'cells', 2) === 1] },
  { name: 'Table includeObject=Metadata: the last-applied annotation in the metadata is masked', input: () => table('Metadata', [plainSecret('db', { metadata: { name: 'db', annotations: { [LAST_APPLIED]: JSON.stringify(plainSecret('db')) + '\n' } } })]), count: 1, expect: (o) => [at(o, 'rows', 0, 'object', 'kind') === 'PartialObjectMetadata', (at(o, 'rows', 0, 'object', 'metadata', 'annotations', LAST_APPLIED) as string).endsWith('\n')] },
  { name: 'Table of a Secret-like resource: a printer column over data is masked, name kept', input: () => ({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name' }, { name: 'Password' }, { name: 'Data' }, { name: 'Age' }], rows: [{ cells: ['db', 'hunter2', 'aHVudGVy', '2h'], object: plainSecret('db') }] }), count: 3, expect: (o) => [at(o, 'rows', 0, 'cells', 0) === 'db', at(o, 'rows', 0, 'cells', 1) === M, at(o, 'rows', 0, 'cells', 2) === M, at(o, 'rows', 0, 'cells', 3) === '2h'] },
  { name: 'Table without objects, Secret-like by the request context', context: { group: '', resource: 'secrets' }, input: () => ({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name' }, { name: 'Value' }], rows: [{ cells: ['db', 'hunter2'] }] }), count: 1, expect: (o) => [at(o, 'rows', 0, 'cells', 1) === M] },
  { name: 'Table of pods: cells only pattern-scanned', input: () => ({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name' }, { name: 'Status' }], rows: [{ cells: ['web-0', 'Running'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'web-0' } } }] }), count: 0, expect: (o) => [at(o, 'rows', 0, 'cells', 1) === 'Running'] },
  // The last-applied annotation.
  { name: 'last-applied of a Secret: parsed, masked, re-serialized with its newline', input: () => plainSecret('db', { metadata: { name: 'db', annotations: { [LAST_APPLIED]: JSON.stringify(plainSecret('db', { stringData: { extra: 's3cr3t-p4ss' } })) + '\n' } } }), count: 3, expect: (o) => { const a = at(o, 'metadata', 'annotations', LAST_APPLIED) as string; const inner = JSON.parse(a) as Json; return [a.endsWith('\n'), at(inner, 'data', 'password') === M64, at(inner, 'stringData', 'extra') === M]; } },
  { name: 'last-applied of a ConfigMap holding a JWT', input: () => ({ ...configMap({ a: '1' }), metadata: { name: 's', annotations: { [LAST_APPLIED]: JSON.stringify(configMap({ jwt: JWT })) } } }), count: 1, expect: (o) => [(at(o, 'metadata', 'annotations', LAST_APPLIED) as string).includes(M)] },
  { name: 'last-applied that does not parse is masked whole', input: () => plainSecret('db', { metadata: { name: 'db', annotations: { [LAST_APPLIED]: '{"data":{"password":"aHVudGVy' } } }), count: 2, expect: (o) => [at(o, 'metadata', 'annotations', LAST_APPLIED) === M] },
  { name: 'last-applied without secrets is kept byte for byte', input: () => ({ ...configMap({ a: '1' }), metadata: { name: 's', annotations: { [LAST_APPLIED]: '{"kind": "ConfigMap",  "data": {"a": "1"}}\n' } } }), count: 0, expect: (o) => [at(o, 'metadata', 'annotations', LAST_APPLIED) === '{"kind": "ConfigMap",  "data": {"a": "1"}}\n'] },
  // Patterns in other objects.
  { name: 'JWT inside a ConfigMap value', input: () => configMap({ 'client.yaml': `auth:\n  jwt: ${JWT}\n` }), count: 1, expect: (o) => [at(o, 'data', 'client.yaml') === `auth:\n  jwt: ${M}\n`] },
  { name: 'AWS key id and secret in env values of a pod', input: () => ({ kind: 'Pod', apiVersion: 'v1', ...pod(0, [{ name: 'AWS_ACCESS_KEY_ID', value: AWS_ID }, { name: 'AWS_SECRET_ACCESS_KEY', value: AWS_SECRET }]) }), count: 2, expect: (o) => { const env = at(o, 'spec', 'containers', 0, 'env') as Json[]; return [env.at(-2)?.value === M, env.at(-1)?.value === M, env[0]?.value === 'production']; } },
  { name: 'connection string in an env value: only the password', input: () => ({ kind: 'Pod', apiVersion: 'v1', ...pod(0, [{ name: 'DATABASE_URL', value: 'postgres://u:p@h/db' }]) }), count: 1, expect: (o) => [(at(o, 'spec', 'containers', 0, 'env') as Json[]).at(-1)?.value === `postgres://u:${M}@h/db`] },
  { name: 'credential-named ConfigMap key and CRD field are masked whole', input: () => ({ apiVersion: 'x.example.com/v1', kind: 'Db', metadata: { name: 'd' }, spec: { clientSecret: 'abc', secretName: 'db-creds', port: 5432 } }), count: 1, expect: (o) => [at(o, 'spec', 'clientSecret') === M, at(o, 'spec', 'secretName') === 'db-creds'] },
  { name: 'args and annotations', input: () => ({ kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'w', annotations: { 'example.com/hook': 'https://hooks.slack.com/services/T000/B000/XXXXXXXX' } }, spec: { template: { spec: { containers: [{ name: 'a', args: ['--db-password=hunter2', '--port=80'] }] } } } }), count: 2, expect: (o) => [at(o, 'metadata', 'annotations', 'example.com/hook') === `https://hooks.slack.com/services/${M}`, at(o, 'spec', 'template', 'spec', 'containers', 0, 'args', 1) === '--port=80'] },
  { name: 'binaryData of a ConfigMap: decoded, scanned, re-encoded', input: () => ({ ...configMap({}), binaryData: { 'app.env': b64(`PASSWORD=hunter2\nMODE=fast\n`) } }), count: 1, expect: (o) => [Buffer.from(at(o, 'binaryData', 'app.env') as string, 'base64').toString() === `PASSWORD=${M}\nMODE=fast\n`] },
  // Look-alikes that stay.
  { name: 'a pod with typical spec: nothing masked', input: () => list('PodList', [pod(0), pod(1)]), count: 0, expect: (o) => [at(o, 'items', 0, 'status', 'containerStatuses', 0, 'imageID') === (pod(0) as { status: { containerStatuses: Json[] } }).status.containerStatuses[0]?.imageID] },
];

for (const row of rows) {
  test(`maskObject: ${row.name}`, (t) => {
    const { object, count } = masker.maskObject(row.input(), row.context);
    t.deepEqual(leaks(object), [], 'no real value is left');
    t.deepEqual(row.expect(object as Json).map((ok, i) => (ok === true ? true : `check ${i} failed`)), row.expect(object as Json).map(() => true));
    t.is(count, row.count);
    // Masking a masked document changes nothing and counts nothing.
    const again = masker.maskObject(structuredClone(object), row.context);
    t.deepEqual(again.object, object);
    t.is(again.count, 0);
  });
}

test('maskJson returns the original text when nothing is masked, and valid JSON otherwise', (t) => {
  const clean = JSON.stringify(list('PodList', [pod(3)]), null, 1);
  t.is(masker.maskJson(clean).text, clean);
  const masked = masker.maskJson(JSON.stringify(plainSecret('db')));
  t.is(masked.count, 1);
  t.is((JSON.parse(masked.text) as { data: { password: string } }).data.password, M64);
  t.true(containsMarker(masked.text));
});

test('maskJson keeps integers beyond 2^53 exact in a masked document and its last-applied annotation', (t) => {
  const inner = `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","generation":9007199254740993},"data":{"password":"aHVudGVyMg=="}}`;
  const text = `{"apiVersion":"x.example.com/v1","kind":"Secret","metadata":{"name":"db","annotations":{"${LAST_APPLIED}":${JSON.stringify(inner)}}},"spec":{"id":12345678901234567890,"small":42,"ratio":0.25},"data":{"password":"aHVudGVyMg=="}}`;
  const masked = masker.maskJson(text);
  t.is(masked.count, 2);
  t.true(masked.text.includes('"id":12345678901234567890,"small":42,"ratio":0.25'), masked.text);
  t.true(masked.text.includes('\\"generation\\":9007199254740993'), masked.text);
  t.deepEqual(leaks(masked.text), []);
});

test('maskJson keeps integers beyond 2^53 exact wherever the walk keeps them: arrays, list items, Table cells, binaryData', (t) => {
  const secret = '{"kind":"Secret","metadata":{"name":"s"},"data":{"k":"aHVudGVyMg=="}}';
  const rows = [
    `{"kind":"List","apiVersion":"v1","items":[${secret},{"kind":"ConfigMap","metadata":{"name":"c"},"data":{"ids":[1,9007199254740993]}}]}`,
    `{"kind":"Table","apiVersion":"meta.k8s.io/v1","columnDefinitions":[{"name":"Name"},{"name":"Size"}],"rows":[{"cells":["s","x"],"object":${secret}},{"cells":["c",18446744073709551615],"object":{"kind":"ConfigMap","metadata":{"name":"c"}}}]}`,
    `{"kind":"List","apiVersion":"v1","items":[${secret},{"kind":"ConfigMap","metadata":{"name":"c"},"binaryData":{"n":12345678901234567890}}]}`,
  ];
  for (const text of rows) {
    const masked = masker.maskJson(text);
    t.true(masked.count >= 1, text);
    for (const big of ['9007199254740993', '18446744073709551615', '12345678901234567890']) if (text.includes(big)) t.true(masked.text.includes(big), masked.text);
    t.deepEqual(leaks(masked.text), []);
  }
  const plain = '{"kind":"ConfigMap","metadata":{"name":"c"},"data":{"uid":"1234567890123456789012"},"spec":{"n":1234567890123456}}';
  t.is(masker.maskJson(plain).text, plain, 'digits in strings and safe 16-digit integers need no second parse');
});

const failures: Array<{ name: string; text: string; code: MaskingError['code'] }> = [
  { name: 'truncated JSON holding a secret', text: '{"kind":"Secret","data":{"password":"aHVudGVyMg==', code: 'unparseable' },
  { name: 'not JSON at all (an HTML error page with a token)', text: `<html>Bearer ${JWT}</html>`, code: 'unparseable' },
  { name: 'nested deeper than any Kubernetes object', text: '['.repeat(5000) + ']'.repeat(5000), code: 'too-deep' },
];
for (const row of failures) {
  test(`maskJson fails closed: ${row.name}`, (t) => {
    const error = t.throws(() => masker.maskJson(row.text), { instanceOf: MaskingError });
    t.is(error?.code, row.code);
    t.false(error?.message.includes('aHVudGVy') ?? true, 'the error never quotes the body');
    t.false(error?.message.includes(JWT) ?? true);
  });
}

test('rules: a Secret-like custom resource is masked by kind, and patterns can be turned off', (t) => {
  const custom = createMasker({ ...defaultMaskingRules, secretResources: [...defaultMaskingRules.secretResources, { group: 'vault.example.com', resource: 'vaultsecrets', kind: 'VaultSecret' }], patterns: [], sensitiveNames: false });
  const vault = custom.maskObject({ apiVersion: 'vault.example.com/v1', kind: 'VaultSecretList', items: [{ metadata: { name: 'v' }, data: { k: 'x' } }] });
  t.is(at(vault.object, 'items', 0, 'data', 'k'), M64);
  t.is(custom.maskObject(configMap({ jwt: JWT })).count, 0);
  const extra = createMasker({ ...defaultMaskingRules, extraPatterns: [{ name: 'acme-key', regex: 'acme_[0-9a-f]{8}' }] });
  t.deepEqual(extra.maskText('key acme_0123abcd here'), { text: `key ${M} here`, count: 1 });
});

const badRules = [
  { name: 'unknown pattern', rules: { ...defaultMaskingRules, patterns: ['no-such'] }, field: 'patterns[0]' },
  { name: 'resource not a plural name', rules: { ...defaultMaskingRules, secretResources: [{ group: '', resource: 'Secrets', kind: 'Secret' }] }, field: 'secretResources[0].resource' },
  { name: 'extra pattern matching the empty string', rules: { ...defaultMaskingRules, extraPatterns: [{ name: 'empty', regex: 'x*' }] }, field: 'extraPatterns[0].regex' },
  { name: 'extra pattern that does not compile', rules: { ...defaultMaskingRules, extraPatterns: [{ name: 'broken', regex: '(' }] }, field: 'extraPatterns[0].regex' },
  { name: 'extra pattern with a backreference', rules: { ...defaultMaskingRules, extraPatterns: [{ name: 'backref', regex: '(a)\\1' }] }, field: 'extraPatterns[0].regex' },
  { name: 'extra pattern named like a built-in one', rules: { ...defaultMaskingRules, extraPatterns: [{ name: 'jwt', regex: 'abc' }] }, field: 'extraPatterns[0].name' },
];
for (const row of badRules) {
  test(`createMasker refuses rules: ${row.name}`, (t) => {
    const error = t.throws(() => createMasker(row.rules as typeof defaultMaskingRules), { instanceOf: MaskingRulesError });
    t.true(error?.problems.some((p) => p.startsWith(row.field)), error?.message);
  });
}

test('managedFields keys that spell out values (v: set elements, k: list-map keys) are scanned and renamed when they hold a secret', (t) => {
  const GH = `ghp_${'a1B2c3D4e5'.repeat(3)}x9Y8z7`;
  const SLACK = 'xoxb-1234567890-abcdefghij';
  const fieldsV1 = {
    'f:spec': {
      'f:tokens': { [`v:"${GH}"`]: {}, 'v:"plain-value"': {} },
      'f:hooks': { [`k:{"url":"https://hooks.example.com","token":"${SLACK}"}`]: { '.': {}, 'f:url': {} }, 'k:{"name":"app"}': { 'f:image': {} } },
    },
  };
  const object = { apiVersion: 'example.com/v1', kind: 'Integration', metadata: { name: 'ci', namespace: 'payments', managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'example.com/v1', fieldsType: 'FieldsV1', fieldsV1 }] }, spec: { tokens: ['plain-value'] } };
  const masked = masker.maskJson(JSON.stringify(object), { group: 'example.com', resource: 'integrations' });
  t.is(masked.count, 2);
  t.false(masked.text.includes(GH), 'the set element is masked');
  t.false(masked.text.includes(SLACK), 'the list-map key is masked');
  const fields = (JSON.parse(masked.text) as { metadata: { managedFields: Array<{ fieldsV1: { 'f:spec': { 'f:tokens': Json; 'f:hooks': Json } } }> } }).metadata.managedFields[0]?.fieldsV1['f:spec'];
  t.deepEqual(Object.keys(fields?.['f:tokens'] ?? {}).sort(), [`v:"${M}"`, 'v:"plain-value"'].sort());
  t.true(Object.keys(fields?.['f:hooks'] ?? {}).includes('k:{"name":"app"}'), 'clean keys are kept as they are');
  t.deepEqual(fields?.['f:hooks']?.[`k:{"url":"https://hooks.example.com","token":"${M}"}`], { '.': {}, 'f:url': {} }, 'a renamed key keeps its value');
  // A pod's ordinary managedFields hold nothing to mask: the text comes back as it was.
  const plain = JSON.stringify({ kind: 'Pod', apiVersion: 'v1', ...pod(3) });
  t.is(masker.maskJson(plain, { group: '', resource: 'pods' }).text, plain);
});

// Label and field selectors of the API double, table-driven, plus the errors for bad ones.
import test from 'ava';
import { compileSelectors, matchLabels, parseLabelSelector } from '../doubles/kube-api/selectors.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import { StatusError } from '../doubles/kube-api/status.ts';

const labels = { app: 'web', tier: 'front', 'example.com/team': 'a' };

const labelRows: Array<{ name: string; selector: string; match: boolean }> = [
  // equality
  { name: '= matches an equal value', selector: 'app=web', match: true },
  { name: '== is the same as =', selector: 'app==web', match: true },
  { name: '= fails on another value', selector: 'app=db', match: false },
  { name: '!= matches another value', selector: 'app!=db', match: true },
  { name: '!= matches a missing key', selector: 'missing!=x', match: true },
  // sets
  { name: 'in matches a listed value', selector: 'tier in (front, back)', match: true },
  { name: 'in fails on an unlisted value', selector: 'tier in (back)', match: false },
  { name: 'notin matches a missing key', selector: 'missing notin (x)', match: true },
  { name: 'notin fails on a listed value', selector: 'tier notin (front)', match: false },
  // existence
  { name: 'a bare key requires the label', selector: 'app', match: true },
  { name: '! requires its absence', selector: '!app', match: false },
  { name: '! on a missing key matches', selector: '!missing', match: true },
  // combinations and look-alikes
  { name: 'all terms must hold', selector: 'app=web,tier in (front),!missing', match: true },
  { name: 'a prefixed key', selector: 'example.com/team=a', match: true },
  { name: 'a look-alike key does not match', selector: 'App=web', match: false },
  { name: 'the empty selector matches everything', selector: '', match: true },
];

for (const row of labelRows) {
  test(`label selector: ${row.name}`, (t) => {
    t.is(matchLabels(parseLabelSelector(row.selector), labels), row.match);
  });
}

test('label selector: a malformed term is 400', (t) => {
  const error = t.throws(() => parseLabelSelector('app=(web'), { instanceOf: StatusError });
  t.is(error?.status.code, 400);
});

const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1', serviceAccountName: 'sa' }, status: { phase: 'Running' } };
const event: KubeObject = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'ns' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'ns', uid: 'u1' }, reason: 'Pulled', type: 'Normal', source: { component: 'kubelet' } };
const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ns' }, type: 'kubernetes.io/tls' };

const fieldRows: Array<{ name: string; resource: string; object: KubeObject; selector: string; match: boolean }> = [
  { name: 'metadata.name on any resource', resource: 'configmaps', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns' } }, selector: 'metadata.name=c', match: true },
  { name: 'metadata.namespace with !=', resource: 'pods', object: pod, selector: 'metadata.namespace!=ns', match: false },
  { name: 'pod status.phase', resource: 'pods', object: pod, selector: 'status.phase=Running', match: true },
  { name: 'pod spec.nodeName', resource: 'pods', object: pod, selector: 'spec.nodeName=n2', match: false },
  { name: 'pod spec.serviceAccountName', resource: 'pods', object: pod, selector: 'spec.serviceAccountName=sa', match: true },
  { name: 'kubectl describe event selector', resource: 'events', object: event, selector: 'involvedObject.name=p,involvedObject.namespace=ns,involvedObject.kind=Pod,involvedObject.uid=u1', match: true },
  { name: 'event reason and source', resource: 'events', object: event, selector: 'reason=Pulled,source=kubelet,type=Normal', match: true },
  { name: 'secret type', resource: 'secrets', object: secret, selector: 'type=kubernetes.io/tls', match: true },
];

for (const row of fieldRows) {
  test(`field selector: ${row.name}`, (t) => {
    t.is(compileSelectors(row.resource, null, row.selector).matches(row.object), row.match);
  });
}

test('field selector: a field the resource does not index is 400', (t) => {
  const error = t.throws(() => compileSelectors('configmaps', null, 'status.phase=Running'), { instanceOf: StatusError });
  t.is(error?.status.message, 'field label not supported: status.phase');
});

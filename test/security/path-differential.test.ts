// Path and query tricks, checked differentially: for every hostile request target the sidecar
// forwards, the attributes it asked the broker about must equal the attributes the API server
// computes from the target upstream actually received (test/security/helpers.ts transcribes
// requestinfo.go). Any difference is a request authorized as one thing and served as another.
// Targets the sidecar cannot read unambiguously must be refused with a 400 and never forwarded.
import test from 'ava';
import { causeOf, rawBody, serverAttributes, startGate, type Gate } from './helpers.ts';

let gate: Gate;
test.before(async () => {
  gate = await startGate();
});
test.after.always(async () => {
  await gate?.close();
});

const NS = '/api/v1/namespaces/agents';

interface Row {
  name: string;
  method?: string;
  target: string;
  /** Forwarded with these attributes (a subset is enough), or refused with this reason code. */
  expect: { forwarded: Record<string, unknown> } | { refused: string };
}

const rows: Row[] = [
  // --- separators and dot segments
  { name: 'double slash', target: `${NS}//pods`, expect: { refused: 'path-empty-segment' } },
  { name: 'leading double slash', target: `//api/v1/namespaces/other/secrets`, expect: { refused: 'path-empty-segment' } },
  { name: 'encoded slash in a name', target: `${NS}/pods/web-0%2Fexec`, expect: { refused: 'path-encoded-separator' } },
  { name: 'lower-case encoded slash', target: `${NS}/pods/a%2f..%2f..%2fsecrets`, expect: { refused: 'path-encoded-separator' } },
  { name: 'double-encoded slash stays one segment', target: `${NS}/pods/web-0%252Fexec`, expect: { forwarded: { resource: 'pods', name: 'web-0%2Fexec', subresource: '' } } },
  { name: 'encoded dot-dot', target: `${NS}/pods/%2E%2E/secrets`, expect: { refused: 'path-dot-segment' } },
  { name: 'dot segment', target: `${NS}/./secrets`, expect: { refused: 'path-dot-segment' } },
  { name: 'trailing slash on a collection', target: `${NS}/pods/`, expect: { forwarded: { verb: 'list', resource: 'pods', name: '' } } },
  { name: 'trailing slash on a non-resource URL keeps its path', target: '/healthz/', expect: { forwarded: { isResourceRequest: false, path: '/healthz/' } } },
  { name: 'bad percent-encoding', target: `${NS}/pods/%zz`, expect: { refused: 'path-bad-encoding' } },
  { name: 'encoded NUL', target: `${NS}/pods/web-0%00`, expect: { refused: 'path-control-character' } },
  { name: 'backslash encoded', target: `${NS}/pods/..%5Csecrets`, expect: { refused: 'path-encoded-separator' } },

  // --- characters that change meaning between readers
  { name: 'semicolon path parameter stays in the name', target: `${NS}/pods/web-0;x=1`, expect: { forwarded: { name: 'web-0;x=1' } } },
  { name: 'semicolon on the resource', target: `${NS}/secrets;/x`, expect: { refused: 'path-not-kubernetes' } },
  { name: 'upper-case resource', target: `${NS}/Secrets/x`, expect: { refused: 'path-not-kubernetes' } },
  { name: 'a version no API has', target: '/apis/apps/latest/namespaces/agents/deployments', expect: { refused: 'path-not-kubernetes' } },
  { name: 'a name longer than any object can have', target: `${NS}/secrets/${'a'.repeat(254)}`, expect: { refused: 'path-not-kubernetes' } },
  { name: 'trailing dot in a name', target: `${NS}/pods/web-0.`, expect: { forwarded: { name: 'web-0.' } } },
  { name: 'encoded letters are decoded alike', target: `${NS}/%73ecrets/db`, expect: { forwarded: { resource: 'secrets', name: 'db' } } },
  { name: 'encoded API prefix', target: '/%61pi/v1/namespaces/agents/secrets', expect: { forwarded: { isResourceRequest: true, resource: 'secrets', verb: 'list' } } },
  { name: 'upper-case prefix is a non-resource URL for both', target: '/API/v1/namespaces/agents/secrets', expect: { forwarded: { isResourceRequest: false } } },
  { name: 'encoded question mark in a name', target: `${NS}/pods/web-0%3Fwatch=1`, expect: { refused: 'path-reserved-character' } },
  { name: 'encoded hash in a name', target: `${NS}/pods/web-0%23x`, expect: { refused: 'path-reserved-character' } },
  { name: 'encoded space in a name', target: `${NS}/pods/web%200`, expect: { refused: 'path-reserved-character' } },
  { name: 'percent-encoded UTF-8 name', target: `${NS}/configmaps/caf%C3%A9`, expect: { forwarded: { name: 'café' } } },
  { name: 'overlong UTF-8 for a slash', target: `${NS}/pods/a%C0%AFb`, expect: { refused: 'path-bad-encoding' } },

  // --- watch versus list: the masker streams events only for what it knows is a watch
  { name: 'watch=1', target: `${NS}/secrets?watch=1`, expect: { forwarded: { verb: 'watch' } } },
  { name: 'watch=yes is true for the API server', target: `${NS}/secrets?watch=yes`, expect: { forwarded: { verb: 'watch' } } },
  { name: 'watch without a value is true', target: `${NS}/secrets?watch`, expect: { forwarded: { verb: 'watch' } } },
  { name: 'watch=FALSE is false', target: `${NS}/secrets?watch=FALSE`, expect: { forwarded: { verb: 'list' } } },
  { name: 'first of two watch values wins', target: `${NS}/secrets?watch=false&watch=true`, expect: { forwarded: { verb: 'list' } } },
  { name: 'encoded watch key', target: `${NS}/secrets?wat%63h=true`, expect: { forwarded: { verb: 'watch' } } },
  { name: 'semicolon-separated watch', target: `${NS}/secrets?limit=1;watch=true`, expect: { refused: 'selector-invalid' } },
  { name: 'deprecated /watch/ path', target: '/api/v1/watch/namespaces/agents/secrets', expect: { forwarded: { verb: 'watch', resource: 'secrets' } } },
  { name: 'deprecated /watch/ path for one object', target: '/api/v1/watch/namespaces/agents/secrets/db', expect: { forwarded: { verb: 'watch', name: 'db' } } },
  { name: 'watch=true on a named GET is a get', target: `${NS}/secrets/db?watch=true`, expect: { forwarded: { verb: 'get', name: 'db' } } },

  // --- fieldSelector names (RBAC resourceNames)
  { name: 'fieldSelector names the object', target: `${NS}/secrets?fieldSelector=metadata.name%3Ddb`, expect: { forwarded: { verb: 'list', name: 'db' } } },
  { name: 'two name terms: the first after sorting wins', target: `${NS}/secrets?fieldSelector=metadata.name%3Dweb,metadata.name%3Ddb`, expect: { forwarded: { name: 'db' } } },
  { name: 'double-equals name term', target: `${NS}/secrets?fieldSelector=metadata.name%3D%3Ddb&watch=1`, expect: { forwarded: { verb: 'watch', name: 'db' } } },
  { name: 'not-equals does not name', target: `${NS}/secrets?fieldSelector=metadata.name!%3Ddb`, expect: { forwarded: { name: '' } } },
  { name: 'an escaped comma is part of the value', target: `${NS}/secrets?fieldSelector=metadata.name%3Da%5C,b`, expect: { forwarded: { name: 'a,b' } } },
  { name: 'first of two fieldSelector parameters', target: `${NS}/secrets?fieldSelector=metadata.name%3Ddb&fieldSelector=metadata.name%3Dother`, expect: { forwarded: { name: 'db' } } },
  { name: 'an unparsable selector', target: `${NS}/secrets?fieldSelector=metadata.name`, expect: { refused: 'selector-invalid' } },

  // --- subresources, proxy and the namespace object
  { name: 'exec as a GET', target: `${NS}/pods/web-0/exec?command=sh`, expect: { forwarded: { verb: 'get', subresource: 'exec' } } },
  { name: 'exec as a POST', method: 'POST', target: `${NS}/pods/web-0/exec?command=sh`, expect: { forwarded: { verb: 'create', subresource: 'exec' } } },
  { name: 'pod proxy to an API path', target: `${NS}/pods/web-0/proxy/api/v1/secrets`, expect: { forwarded: { subresource: 'proxy', name: 'web-0' } } },
  { name: 'service proxy', target: `${NS}/services/https:kubernetes:443/proxy/api/v1/secrets`, expect: { forwarded: { resource: 'services', subresource: 'proxy' } } },
  { name: 'deprecated /proxy/ verb path', target: '/api/v1/proxy/namespaces/agents/pods/web-0/api/v1/secrets', expect: { forwarded: { verb: 'proxy', name: 'web-0', subresource: '' } } },
  { name: 'extra segments after a subresource', target: `${NS}/pods/web-0/log/../../secrets`, expect: { refused: 'path-dot-segment' } },
  { name: 'the namespace object', target: NS, expect: { forwarded: { resource: 'namespaces', name: 'agents', namespace: 'agents' } } },
  { name: 'namespace finalize', method: 'PUT', target: `${NS}/finalize`, expect: { forwarded: { resource: 'namespaces', subresource: 'finalize' } } },
  { name: 'a cluster-scoped resource under a namespace', target: `${NS}/nodes/n1`, expect: { forwarded: { resource: 'nodes', namespace: 'agents' } } },
  { name: 'group API scale subresource', method: 'PATCH', target: '/apis/apps/v1/namespaces/agents/deployments/d/scale', expect: { forwarded: { apiGroup: 'apps', subresource: 'scale', verb: 'patch' } } },
  { name: 'group without a version is non-resource', target: '/apis/apps/v1', expect: { forwarded: { isResourceRequest: false, path: '/apis/apps/v1' } } },
  { name: 'DELETE without a name is deletecollection', method: 'DELETE', target: `${NS}/secrets`, expect: { forwarded: { verb: 'deletecollection' } } },
  { name: 'HEAD is get', method: 'HEAD', target: `${NS}/secrets/db`, expect: { forwarded: { verb: 'get' } } },
  { name: 'an unknown method on a resource', method: 'PROPFIND', target: `${NS}/secrets`, expect: { refused: 'method-unsupported' } },
];

test.serial('hostile targets: forwarded ones are authorized exactly as the API server reads them; the rest are refused unsent', async (t) => {
  for (const row of rows) {
    const method = row.method ?? 'GET';
    gate.upstream.received.length = 0;
    const decisionsBefore = gate.world.broker.decisions.length;
    const body = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? '' : '{}';
    const answer = await gate.raw(`${method} ${row.target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gate.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    if ('refused' in row.expect) {
      t.true(answer.status === 400 || answer.status === 405, `${row.name}: status ${answer.status}`);
      t.is(causeOf(rawBody(answer)), row.expect.refused, row.name);
      t.is(gate.upstream.received.length, 0, `${row.name}: nothing forwarded`);
      t.is(gate.world.broker.decisions.length, decisionsBefore, `${row.name}: no decision asked`);
      continue;
    }
    t.is(gate.upstream.received.length, 1, `${row.name}: forwarded once (status ${answer.status}, ${answer.text.slice(-200)})`);
    t.is(gate.world.broker.decisions.length, decisionsBefore + 1, `${row.name}: decided once`);
    const received = gate.upstream.received[0];
    const decided = gate.world.broker.decisions.at(-1)?.attributes;
    if (received === undefined || decided === undefined) continue;
    t.is(received.url, row.target, `${row.name}: forwarded byte for byte`);
    t.is(received.method, method, row.name);
    const server = serverAttributes(received.method, received.url);
    t.deepEqual({ ...decided }, { ...server }, `${row.name}: the sidecar decided on what the API server serves`);
    for (const [key, value] of Object.entries(row.expect.forwarded)) t.is((decided as unknown as Record<string, unknown>)[key], value, `${row.name}: ${key}`);
  }
});

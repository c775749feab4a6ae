// The agent's way to ask for access: a small virtual API at /apis/agentgate.io/v1alpha1/accessrequests
// (create, get, list of this pod's own, cluster or own-namespace path) that the sidecar answers
// itself from the broker's /v1/accessrequests, as Kubernetes objects, so kubectl --raw works.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import {
  ACCESS_REQUEST_API_VERSION, BrokerPaths, parseAccessRequest, parseAccessRequestObjectInput, toAccessRequestCreate, toAccessRequestObject,
  type AccessRequest, type AccessRequestObject,
} from '../src/contracts/index.ts';
import { writeStatus, type Status } from '../src/kube/status.ts';
import type { RequestAttributes } from '../src/request/index.ts';
import { readBody } from './body.ts';
import type { BrokerAnswer, BrokerClient, BrokerFailure } from './broker.ts';
import { refusal } from './refusals.ts';

/** What one virtual request came to, for the audit. */
export interface VirtualOutcome {
  outcome: 'allow' | 'deny';
  /** A reason code for the audit (`access-request-created`, or the refusal's). */
  code: string;
  status: number;
  bytes: number;
}

/** The virtual API as the pipeline sees it: claimed before any decision, answered by the sidecar. */
export interface VirtualApi {
  /** True for every path of the agentgate.io group (and its discovery), which never goes upstream. */
  handles(attributes: RequestAttributes): boolean;
  /** Answers the request; never rejects. */
  serve(req: IncomingMessage, res: ServerResponse, attributes: RequestAttributes): Promise<VirtualOutcome>;
}

/** What the virtual API is bound to. */
export interface AccessRequestApiOptions {
  broker: BrokerClient;
  /** The pod's namespace: the objects' namespace, and the only one of the namespaced path. */
  namespace: string;
  /** Bound on the agent's body; default 64 KiB (a spec is a few hundred bytes). */
  bodyLimit?: number;
  bodyTimeoutMs?: number;
}

const GROUP = 'agentgate.io';
const VERSION = 'v1alpha1';
const RESOURCE = 'accessrequests';
/** Ids remembered for list: this pod's recent requests (the broker has no list for agents). */
const MAX_REMEMBERED = 200;
const MAX_ANSWER_BYTES = 1024 * 1024;

/** `GET /apis/agentgate.io`: the group, for `kubectl get --raw` and clients that walk discovery. */
export const ACCESS_REQUEST_API_GROUP = Object.freeze({
  kind: 'APIGroup', apiVersion: 'v1', name: GROUP,
  versions: [{ groupVersion: ACCESS_REQUEST_API_VERSION, version: VERSION }],
  preferredVersion: { groupVersion: ACCESS_REQUEST_API_VERSION, version: VERSION },
});

/** `GET /apis/agentgate.io/v1alpha1`: the one resource and what it supports. */
export const ACCESS_REQUEST_API_RESOURCES = Object.freeze({
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion: ACCESS_REQUEST_API_VERSION,
  resources: [{ name: RESOURCE, singularName: 'accessrequest', namespaced: true, kind: 'AccessRequest', verbs: ['create', 'get', 'list'], shortNames: ['ar'] }],
});

function send(res: ServerResponse, status: number, body: unknown): number {
  const text = JSON.stringify(body);
  const length = Buffer.byteLength(text);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'content-length': length }).end(text);
  return length;
}

/** The Status for a broker call that failed, in kubectl's terms. */
function brokerStatus(failure: BrokerFailure): Status {
  if (failure.kind === 'timeout') return refusal('broker-timeout', failure.detail, { cause: 'broker-unavailable' });
  if (failure.kind === 'unavailable') return refusal('broker-unavailable', failure.detail, { cause: 'broker-unavailable' });
  const message = failure.error?.message ?? failure.detail;
  const cause = failure.error?.code ?? 'broker-refused';
  if (failure.status === 400 || failure.status === 422) return refusal('virtual-invalid', message, { cause });
  if (failure.status === 403) return refusal('decision-deny', message, { cause });
  if (failure.status === 404) return refusal('virtual-not-found', message, { cause });
  return refusal('broker-refused', failure.detail, { cause, ...(failure.error?.retryAfterSeconds !== undefined ? { retryAfterSeconds: failure.error.retryAfterSeconds } : {}) });
}

/** Reads the agent's body as JSON, or YAML (kubectl sends `-f` files as they are). */
function parseBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    try {
      return parseYaml(text, { maxAliasCount: 10 }) as unknown;
    } catch {
      return undefined;
    }
  }
}

/** Builds the virtual API. */
export function createAccessRequestApi(options: AccessRequestApiOptions): VirtualApi {
  const { broker, namespace } = options;
  const bodyLimit = options.bodyLimit ?? 64 * 1024;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const mine: string[] = [];
  const groupPath = `/apis/${GROUP}`;
  const versionPath = `${groupPath}/${VERSION}`;

  /** GET /v1/accessrequests/{id}: the broker's request, undefined when it has none of this agent's. */
  async function fetchOne(id: string): Promise<BrokerAnswer<AccessRequest | undefined>> {
    const signal = AbortSignal.timeout(broker.timeoutMs);
    const opened = await broker.stream(BrokerPaths.accessRequest(id), signal);
    if (!opened.ok) return opened.kind === 'refused' && opened.status === 404 ? { ok: true, value: undefined } : opened;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of opened.res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) throw new Error('the answer is too large');
        chunks.push(chunk);
      }
      const parsed = parseAccessRequest(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      if (!parsed.ok) return { ok: false, kind: 'refused', status: 200, error: undefined, detail: 'the answer does not match the contract' };
      return { ok: true, value: parsed.value };
    } catch (error) {
      opened.res.destroy();
      return signal.aborted ? { ok: false, kind: 'timeout', detail: `no answer within ${broker.timeoutMs} ms` } : { ok: false, kind: 'unavailable', detail: (error as Error).message };
    }
  }

  async function create(req: IncomingMessage, res: ServerResponse): Promise<VirtualOutcome> {
    const read = await readBody(req, bodyLimit, bodyTimeoutMs);
    if (!Buffer.isBuffer(read)) return refuse(res, read, true);
    const input = parseAccessRequestObjectInput(parseBody(read));
    if (!input.ok) {
      const problems = input.errors.map((e) => `${e.path.replace(/^\$\.?/, '') || 'the body'}: ${e.message}`).join('; ');
      return refuse(res, refusal('virtual-invalid', `${problems.slice(0, 900)}. Expected {"apiVersion":"${ACCESS_REQUEST_API_VERSION}","kind":"AccessRequest","spec":{"rules":[...],"namespaces":[...],"duration":"30m","reason":"..."}}`));
    }
    // One id for the call and its retry: the broker answers a repeated id with the same request.
    const message = toAccessRequestCreate(input.value, randomUUID());
    let answer = await broker.post(BrokerPaths.accessRequests, message, parseAccessRequest);
    if (!answer.ok && answer.kind === 'timeout') answer = await broker.post(BrokerPaths.accessRequests, message, parseAccessRequest);
    if (!answer.ok) return refuse(res, brokerStatus(answer));
    remember(answer.value.id);
    return { outcome: 'allow', code: 'access-request-created', status: 201, bytes: send(res, 201, toAccessRequestObject(answer.value)) };
  }

  function remember(id: string): void {
    if (mine.includes(id)) return;
    mine.push(id);
    if (mine.length > MAX_REMEMBERED) mine.shift();
  }

  async function get(res: ServerResponse, id: string): Promise<VirtualOutcome> {
    const answer = await fetchOne(id);
    if (!answer.ok) return refuse(res, brokerStatus(answer));
    if (answer.value === undefined) return refuse(res, refusal('virtual-not-found', `${RESOURCE}.${GROUP} ${JSON.stringify(id)} is not an access request of this agent`));
    return { outcome: 'allow', code: 'access-request-read', status: 200, bytes: send(res, 200, toAccessRequestObject(answer.value)) };
  }

  async function list(res: ServerResponse): Promise<VirtualOutcome> {
    const answers = await Promise.all(mine.map((id) => fetchOne(id)));
    const items: AccessRequestObject[] = [];
    for (const answer of answers) {
      if (!answer.ok) return refuse(res, brokerStatus(answer));
      if (answer.value !== undefined) items.push(toAccessRequestObject(answer.value));
    }
    const body = { apiVersion: ACCESS_REQUEST_API_VERSION, kind: 'AccessRequestList', metadata: { resourceVersion: '' }, items };
    return { outcome: 'allow', code: 'access-request-read', status: 200, bytes: send(res, 200, body) };
  }

  function refuse(res: ServerResponse, status: Status, close = false): VirtualOutcome {
    if (!res.headersSent) writeStatus(res, status, close ? { connection: 'close' } : {});
    return { outcome: 'deny', code: status.details?.causes?.[0]?.reason ?? 'refused', status: status.code, bytes: 0 };
  }

  async function route(req: IncomingMessage, res: ServerResponse, a: RequestAttributes): Promise<VirtualOutcome> {
    if (!a.isResourceRequest) {
      if (a.path === groupPath) return { outcome: 'allow', code: 'discovery', status: 200, bytes: send(res, 200, ACCESS_REQUEST_API_GROUP) };
      if (a.path === versionPath) return { outcome: 'allow', code: 'discovery', status: 200, bytes: send(res, 200, ACCESS_REQUEST_API_RESOURCES) };
      return refuse(res, refusal('virtual-not-found', `${a.path} is not served by agentgate`));
    }
    if (a.apiVersion !== VERSION || a.resource !== RESOURCE || a.subresource !== '') {
      return refuse(res, refusal('virtual-not-found', `the ${GROUP} group serves only ${versionPath}/${RESOURCE}`));
    }
    if (a.namespace !== '' && a.namespace !== namespace) {
      // Another namespace's requests are as absent as missing ones.
      if (a.verb === 'list') return { outcome: 'allow', code: 'access-request-read', status: 200, bytes: send(res, 200, { apiVersion: ACCESS_REQUEST_API_VERSION, kind: 'AccessRequestList', metadata: { resourceVersion: '' }, items: [] }) };
      return refuse(res, refusal('virtual-not-found', `this agent's access requests are in namespace ${namespace}; use ${versionPath}/${RESOURCE}`));
    }
    if (a.verb === 'create' && a.name === '') return create(req, res);
    if (a.verb === 'get' && a.name !== '') return get(res, a.name);
    if (a.verb === 'list') return list(res);
    return refuse(res, refusal('virtual-method', `${a.verb} is not one of them`), req.method !== 'GET' && req.method !== 'HEAD');
  }

  return {
    handles(a) {
      return a.isResourceRequest ? a.apiGroup === GROUP : a.path === groupPath || a.path.startsWith(`${groupPath}/`);
    },
    async serve(req, res, a) {
      try {
        return await route(req, res, a);
      } catch {
        return refuse(res, refusal('broker-unavailable', 'internal error'));
      }
    },
  };
}

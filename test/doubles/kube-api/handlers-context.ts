/**
 * What every handler of the double receives: the server's state (store, admission, table
 * conversion) and the per-request context (parsed request info, resource, user, response).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdmissionAttributes, AdmissionResult, KubeObject, UserInfo } from './types.ts';
import type { ObjectStore } from './store.ts';
import type { ResourceInfo } from './resources.ts';
import type { RequestInfo } from './request-info.ts';
import type { ResponseForm } from './handlers-wire.ts';
import type { PodLogs } from './logs.ts';

/** Converts objects to a meta.k8s.io Table (table.ts), for `as=Table` responses. */
export type TableConvertor = (input: {
  resource: ResourceInfo;
  objects: KubeObject[];
  /** The list's metadata (resourceVersion, continue), or undefined for a single object. */
  listMeta: Record<string, unknown> | undefined;
  tableVersion: string;
  includeObject: string;
  /** Whether column definitions are wanted (watch events after the first omit them). */
  headers: boolean;
}) => unknown;

/** The server-wide state handlers share. */
export interface DoubleState {
  store: ObjectStore;
  admit(attrs: AdmissionAttributes): Promise<AdmissionResult>;
  toTable: TableConvertor;
  /** Runs after a create is stored (the ServiceAccount controller's work on namespaces). */
  afterCreate(key: string, object: KubeObject): void;
  /** The pod log registry (logs.ts). */
  logs: PodLogs;
  /** serviceaccounts/token (the authenticator's TokenRequest). */
  tokenRequest(namespace: string, serviceAccount: string, body: unknown): KubeObject;
}

/** One resource request on its way through the handlers. */
export interface RequestContext {
  state: DoubleState;
  info: RequestInfo;
  resource: ResourceInfo;
  /** The store key of the resource (`pods`, `deployments.apps`). */
  key: string;
  user: UserInfo;
  req: IncomingMessage;
  res: ServerResponse;
  form: ResponseForm;
  /** Warnings for `Warning:` headers. */
  warnings: string[];
}

/**
 * The review APIs of the API double: SubjectAccessReview, LocalSubjectAccessReview,
 * SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview (`can-i --list`),
 * SelfSubjectReview (`kubectl auth whoami`, v1/v1beta1/v1alpha1) and TokenReview. Never stored. Test code only.
 */
import { badRequest, invalid } from './status.ts';
import type { Authenticator } from './authn.ts';
import type { Authorizer } from './rbac.ts';
import type { KubeObject, RequestAttributes, UserInfo } from './types.ts';

/** A review handler: the authenticated caller, the posted body, the URL's namespace and API version. */
export type ReviewHandler = (user: UserInfo, body: unknown, namespace?: string, apiVersion?: string) => KubeObject;

/** Handlers keyed by the resource plural, so the server can dispatch on RequestAttributes.resource. */
export type ReviewHandlers = Record<string, ReviewHandler>;

/** Options of `createReviewHandlers`. */
export interface ReviewOptions {
  authorizer: Authorizer;
  /** When given, `tokenreviews` is served too. */
  authenticator?: Authenticator;
  /** Clock in milliseconds; default `Date.now`. */
  now?: () => number;
}

const AUTHZ = 'authorization.k8s.io';
const AUTHN = 'authentication.k8s.io';
const SELF_REVIEW_VERSIONS = ['v1', 'v1beta1', 'v1alpha1'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Go's `%#v` of the attribute structs, as field.Invalid prints a struct value. */
function goStruct(name: string, value: Record<string, unknown>, fields: string[]): string {
  const inner = fields.map((f) => `${f[0]?.toUpperCase() ?? ''}${f.slice(1)}:${JSON.stringify(text(value[f]))}`).join(', ');
  return `authorization.${name}{${inner}}`;
}

interface ParsedSpec {
  spec: Record<string, unknown>;
  resource?: Record<string, unknown>;
  nonResource?: Record<string, unknown>;
}

function parseSpec(body: unknown): ParsedSpec {
  const review = isRecord(body) ? body : {};
  const spec = isRecord(review.spec) ? review.spec : {};
  const parsed: ParsedSpec = { spec };
  if (isRecord(spec.resourceAttributes)) parsed.resource = spec.resourceAttributes;
  if (isRecord(spec.nonResourceAttributes)) parsed.nonResource = spec.nonResourceAttributes;
  return parsed;
}

/** ValidateSubjectAccessReviewSpec (and its self form, which needs no user). */
function specErrors(parsed: ParsedSpec, needSubject: boolean): Array<{ field: string; message: string }> {
  const errors: Array<{ field: string; message: string }> = [];
  if (parsed.resource && parsed.nonResource) {
    const value = goStruct('NonResourceAttributes', parsed.nonResource, ['path', 'verb']);
    errors.push({ field: 'spec.nonResourceAttributes', message: `Invalid value: ${value}: cannot be specified in combination with resourceAttributes` });
  }
  if (!parsed.resource && !parsed.nonResource) {
    errors.push({ field: 'spec.resourceAttributes', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' });
  }
  if (needSubject) {
    const groups = Array.isArray(parsed.spec.groups) ? parsed.spec.groups : [];
    if (!text(parsed.spec.user) && groups.length === 0) {
      errors.push({ field: 'spec.user', message: `Invalid value: ${JSON.stringify(text(parsed.spec.user))}: at least one of user or group must be specified` });
    }
  }
  return errors;
}

/** AuthorizationAttributesFrom: the request the review asks about. */
function attributesOf(parsed: ParsedSpec): RequestAttributes {
  const base = { apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
  if (parsed.resource) {
    const r = parsed.resource;
    return {
      ...base,
      isResourceRequest: true,
      path: '',
      verb: text(r.verb),
      apiGroup: text(r.group),
      apiVersion: text(r.version) || '*',
      resource: text(r.resource),
      subresource: text(r.subresource),
      namespace: text(r.namespace),
      name: text(r.name),
    };
  }
  const n = parsed.nonResource ?? {};
  return { ...base, isResourceRequest: false, path: text(n.path), verb: text(n.verb) };
}

/** The user a SubjectAccessReview names; no system:authenticated is added, as in the real server. */
function subjectOf(spec: Record<string, unknown>): UserInfo {
  const user: UserInfo = {
    username: text(spec.user),
    groups: Array.isArray(spec.groups) ? spec.groups.filter((g): g is string => typeof g === 'string') : [],
  };
  if (text(spec.uid)) user.uid = text(spec.uid);
  if (isRecord(spec.extra)) {
    const extra: Record<string, string[]> = {};
    for (const [key, values] of Object.entries(spec.extra)) {
      if (Array.isArray(values)) extra[key] = values.filter((v): v is string => typeof v === 'string');
    }
    user.extra = extra;
  }
  return user;
}

function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Create the review handlers over the authorizer (and the authenticator, for TokenReview). */
export function createReviewHandlers(opts: ReviewOptions): ReviewHandlers {
  const { authorizer } = opts;
  const now = opts.now ?? Date.now;

  function accessReview(kind: string, parsed: ParsedSpec, subject: UserInfo, metadata: KubeObject['metadata']): KubeObject {
    const decision = authorizer.authorize(subject, attributesOf(parsed));
    const status: Record<string, unknown> = { allowed: decision.allowed };
    if (decision.reason) status.reason = decision.reason;
    return { kind, apiVersion: `${AUTHZ}/v1`, metadata, spec: parsed.spec, status };
  }

  const handlers: ReviewHandlers = {
    subjectaccessreviews(_user, body) {
      const parsed = parseSpec(body);
      const errors = specErrors(parsed, true);
      if (errors.length > 0) throw invalid('SubjectAccessReview', AUTHZ, '', errors);
      return accessReview('SubjectAccessReview', parsed, subjectOf(parsed.spec), {});
    },
    localsubjectaccessreviews(_user, body, namespace = '') {
      const parsed = parseSpec(body);
      const review = isRecord(body) ? body : {};
      const metadata = isRecord(review.metadata) ? review.metadata : {};
      // The create handler refuses a body of another namespace, and fills an empty one from the URL.
      if (text(metadata.namespace) && text(metadata.namespace) !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      const objectNamespace = namespace;
      const errors = specErrors(parsed, true);
      if (parsed.resource && text(parsed.resource.namespace) !== objectNamespace) {
        errors.push({ field: 'spec.resourceAttributes.namespace', message: `Invalid value: ${JSON.stringify(text(parsed.resource.namespace))}: must match metadata.namespace` });
      }
      if (parsed.nonResource) {
        const value = goStruct('NonResourceAttributes', parsed.nonResource, ['path', 'verb']);
        errors.push({ field: 'spec.nonResourceAttributes', message: `Invalid value: ${value}: disallowed on this kind of request` });
      }
      if (errors.length > 0) throw invalid('LocalSubjectAccessReview', AUTHZ, '', errors);
      if (!namespace) throw badRequest('namespace is required on this type: ');
      return accessReview('LocalSubjectAccessReview', parsed, subjectOf(parsed.spec), { namespace });
    },
    selfsubjectaccessreviews(user, body) {
      const parsed = parseSpec(body);
      const errors = specErrors(parsed, false);
      if (errors.length > 0) throw invalid('SelfSubjectAccessReview', AUTHZ, '', errors);
      return accessReview('SelfSubjectAccessReview', parsed, user, {});
    },
    selfsubjectrulesreviews(user, body) {
      const { spec } = parseSpec(body);
      const namespace = text(spec.namespace);
      if (!namespace) throw badRequest('no namespace on request');
      const rules = authorizer.rulesFor(user, namespace);
      const status: Record<string, unknown> = { resourceRules: rules.resourceRules, nonResourceRules: rules.nonResourceRules, incomplete: rules.incomplete };
      if (rules.evaluationError) status.evaluationError = rules.evaluationError;
      // The real REST answers with a fresh object: the spec does not come back.
      return { kind: 'SelfSubjectRulesReview', apiVersion: `${AUTHZ}/v1`, metadata: {}, spec: {}, status };
    },
    selfsubjectreviews(user, body, _namespace, apiVersion) {
      const asked = (apiVersion ?? (isRecord(body) ? text(body.apiVersion) : '')).replace(`${AUTHN}/`, '');
      const version = SELF_REVIEW_VERSIONS.includes(asked) ? asked : 'v1';
      const userInfo: Record<string, unknown> = { username: user.username };
      if (user.uid) userInfo.uid = user.uid;
      userInfo.groups = user.groups;
      if (user.extra && Object.keys(user.extra).length > 0) userInfo.extra = user.extra;
      return { kind: 'SelfSubjectReview', apiVersion: `${AUTHN}/${version}`, metadata: { creationTimestamp: rfc3339(now()) }, status: { userInfo } };
    },
  };
  const { authenticator } = opts;
  if (authenticator) handlers.tokenreviews = (_user, body) => authenticator.tokenReview(body);
  return handlers;
}

// RequestAttributes: a Kubernetes API request as the API server's request info sees it (verb,
// group, resource, namespace, name…), which is what policy, grants and audit reason about.
import * as z from 'zod';
import { DNS_LABEL } from './names.ts';

/** Verbs a resource request can carry, as the API server derives them from method and URL. */
export const RESOURCE_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy'] as const;

const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const emptyOr = (pattern: RegExp, max: number, what: string) =>
  z.string().max(max, `must be at most ${max} characters`).refine((s) => s === '' || pattern.test(s), `must be empty or ${what}`);

/**
 * The attributes of one request. Non-resource requests (`/healthz`, `/version`, discovery)
 * have `isResourceRequest: false`, a lowercase HTTP method as verb, and empty resource fields.
 * Empty strings, not absent fields, mean "none", as in the API server's RequestInfo.
 */
export const RequestAttributesSchema = z
  .object({
    isResourceRequest: z.boolean(),
    path: z
      .string()
      .max(8192, 'must be at most 8192 characters')
      .regex(/^\/[^\s?#]*$/, 'must be an absolute URL path without query or fragment'),
    verb: z.string().max(32).regex(/^[a-z]+$/, 'must be a lowercase verb such as get or list'),
    apiGroup: emptyOr(subdomain, 253, 'an API group such as apps'),
    apiVersion: emptyOr(/^v[0-9]+((alpha|beta)[0-9]+)?$/, 32, 'a version such as v1'),
    resource: emptyOr(DNS_LABEL, 63, 'a lowercase plural resource such as pods'),
    subresource: emptyOr(DNS_LABEL, 63, 'a subresource such as log or status'),
    namespace: emptyOr(DNS_LABEL, 63, 'a namespace name (DNS-1123 label)'),
    name: z
      .string()
      .max(253, 'must be at most 253 characters')
      .refine((s) => s !== '.' && s !== '..' && !s.includes('/'), "must not be '.' or '..' nor contain '/'"),
    fieldSelector: z.string().max(4096, 'must be at most 4096 characters').optional(),
    labelSelector: z.string().max(4096, 'must be at most 4096 characters').optional(),
  })
  .superRefine((a, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (a.isResourceRequest) {
      if (!(RESOURCE_VERBS as readonly string[]).includes(a.verb)) issue('verb', `must be one of ${RESOURCE_VERBS.join(', ')} for a resource request`);
      if (a.resource === '') issue('resource', 'must be set for a resource request');
      if (a.apiVersion === '') issue('apiVersion', 'must be set for a resource request');
      if (a.subresource !== '' && a.name === '') issue('subresource', 'needs a name: subresources belong to one object');
    } else {
      for (const field of ['resource', 'subresource', 'namespace', 'name'] as const) {
        if (a[field] !== '') issue(field, 'must be empty for a non-resource request');
      }
    }
  });

/** The attributes of one request. */
export type RequestAttributes = z.infer<typeof RequestAttributesSchema>;

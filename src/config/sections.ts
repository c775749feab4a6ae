// The sections of agentgate's configuration, one per role or outside service, with safe defaults.
// Fields without a safe default are optional here; schema.ts makes them required per role.

import * as z from 'zod';
import { defaultPodLayout } from '../contracts/pod-layout.ts';
import { DNS_LABEL } from '../contracts/names.ts';
import {
  bool, byteSize, choice, cpuQuantity, duration, integer, ipAddress, listenHost, memoryQuantity, path, port, stringList, text, url,
} from './fields.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const KUBE_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';
const dnsLabelExpected = "a DNS-1123 label: up to 63 lowercase letters, digits and '-', starting and ending with a letter or digit";

/** Treats an absent section as an empty one, so the defaults inside it apply. */
export function section<S extends z.ZodType>(schema: S) {
  return z.preprocess((value) => (value === undefined ? {} : value), schema);
}

function dnsLabel(description: string) {
  return text(description, { pattern: new RegExp(`(?=^.{1,63}$)${DNS_LABEL.source}`), expected: dnsLabelExpected });
}

/** TLS key pair files of a listener. */
export const tlsSection = z.strictObject({
  certFile: path('PEM certificate chain served by the listener').optional(),
  keyFile: path('PEM private key of the certificate').optional(),
});

/** Logging of every role. */
export const logSection = z.strictObject({
  level: choice(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'lowest level written').default('info'),
  pretty: bool('human-readable lines instead of JSON, for a terminal').default(false),
});

/** The broker: decisions, grants in Redis, approvals, audit. */
export const brokerSection = z.strictObject({
  listen: section(z.strictObject({
    host: listenHost('address of the HTTPS listener').default('0.0.0.0'),
    port: port('port of the HTTPS listener').default(8443),
  })),
  tls: section(tlsSection),
  redisUrl: url('Redis holding grants, queues and audit streams (may carry a password)', { schemes: ['redis', 'rediss'], secret: true }).optional(),
  redisKeyPrefix: text('prefix of every Redis key, so one Redis can serve several installations', {
    pattern: /^[A-Za-z0-9:_.-]{1,64}$/,
    expected: "1 to 64 letters, digits, ':', '_', '.' or '-'",
  }).default('agentgate:'),
  policyFile: path('policy YAML file').default('/etc/agentgate/policy.yaml'),
  defaultGrantTtl: duration('lifetime of a grant when the request names none', MINUTE, 12 * HOUR).prefault('30m'),
  approvalTimeout: duration('how long a request waits for a human decision', 10_000, HOUR).prefault('5m'),
  auditSpoolDir: path('directory where audit events wait when Redis is unreachable').default('/var/lib/agentgate/audit-spool'),
});

const layout = defaultPodLayout;

/** The per-pod proxy (and the gateway, which runs the same proxy as a Deployment). */
export const sidecarSection = z.strictObject({
  api: section(z.strictObject({
    host: listenHost('address of the API listener the agent talks to', { loopbackOnly: true }).default(layout.sidecar.apiHost),
    port: port('port of the API listener').default(layout.sidecar.apiPort),
  })),
  health: section(z.strictObject({
    host: listenHost('address of the health listener; unset: pod.ip, or 0.0.0.0 without it').optional(),
    port: port('port of the health listener, for the kubelet probes').default(layout.sidecar.healthPort),
  })),
  sharedDir: path('volume shared with the agent containers (CA, pod-local token, namespace)').default(layout.sharedVolume.sidecarMountPath),
  brokerUrl: url('the broker', { schemes: ['https'], httpOnLoopback: true }).optional(),
  brokerTokenPath: path('projected token with the broker audience').default(`${layout.brokerToken.mountPath}/${layout.brokerToken.fileName}`),
  upstream: section(z.strictObject({
    url: url('the Kubernetes API server', { schemes: ['https'] }).default('https://kubernetes.default.svc'),
    caFile: path('CA bundle of the API server').default(KUBE_CA),
  })),
  requestBodyLimit: byteSize('largest request body accepted from the agent', 1024, 64 * 1024 * 1024).prefault('3MiB'),
  decisionCache: section(z.strictObject({
    ttl: duration('how long a broker decision is reused (0s: never)', 0, 5 * MINUTE).prefault('10s'),
    maxEntries: integer('most decisions kept', 0, 1_000_000).default(10_000),
  })),
  brokerCaFile: path("CA bundle of the broker's certificate (unset: the system's CAs)").optional(),
  brokerTimeout: duration('bound on each broker call; past it the agent gets a 503', 100, 30_000).prefault('2s'),
  agent: text("the agent's name in the sidecar's audit events (unset: unknown; the broker records the name it verified)", {
    pattern: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    expected: 'a DNS-1123 subdomain such as the pod\'s original service account',
  }).optional(),
  audit: section(z.strictObject({
    // Not in the shared volume: the agent containers can read that one.
    spoolDir: path('writable directory where audit batches wait while the broker is unreachable (an emptyDir of its own)').default('/var/run/agentgate/audit-spool'),
    spoolMaxBytes: byteSize('most bytes of audit batches spooled; when full, requests are refused (503) until the broker takes them', 64 * 1024, 1024 * 1024 * 1024).prefault('16MiB'),
    spoolMaxBatches: integer('most audit batches spooled', 1, 1_000_000).default(1000),
  })),
  masking: section(z.strictObject({
    sensitiveNames: bool('mask whole values of fields and env vars named like credentials (password, token, apiKey, ...)').default(true),
    disabledPatterns: stringList('built-in secret patterns not to run (names as in src/masking/patterns.ts, e.g. password-assignment)').default([]),
    maxBodyBytes: byteSize('largest non-watch response masked at once (parsed whole, it takes about 7 times its size in memory); larger ones get a 502', 1024 * 1024, 1024 * 1024 * 1024).prefault('16MiB'),
    maxStreamedBytes: byteSize('bytes of streamed responses (watch events, followed logs) waiting on agents that read slower than they come, over all requests; past it the stream holding the most is cut (a watch client starts again)', 1024 * 1024, 1024 * 1024 * 1024).prefault('32MiB'),
    maxHeldBytes: byteSize('bytes of responses held whole for masking at once, over all requests; past it a response waits, its upstream connection paused, until older ones are sent (the oldest always goes on; each one\'s first 64 KiB never wait)', 256 * 1024, 1024 * 1024 * 1024).prefault('4MiB'),
    memo: bool('reuse the masked text of a single object read again unchanged (same length and SHA-256 as the answer masked before for its URL; at most 256 objects, 1 MiB); false masks every answer anew').default(true),
  })),
});

const imagePattern = /^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** One rule exempting pods from injection; every field given must match. */
const optOutRule = z.strictObject({
  namespace: dnsLabel('namespace of the exempted pods').optional(),
  serviceAccount: text('service account of the exempted pods').optional(),
  podLabels: z.record(z.string(), z.string()).optional(),
});

/** A projected service-account token the operator allows in agent pods (AWS IRSA's aws-iam-token). */
const allowedTokenVolume = z.strictObject({
  volumeName: dnsLabel('name of the allowed projected token volume'),
  audience: text('audience of the allowed projected token'),
});

/** The mutating and validating admission webhook. */
export const webhookSection = z.strictObject({
  listen: section(z.strictObject({
    host: listenHost('address of the HTTPS listener').default('0.0.0.0'),
    port: port('port of the HTTPS listener').default(9443),
  })),
  tls: section(tlsSection),
  sidecarImage: text('image of the injected sidecar', {
    pattern: imagePattern,
    expected: 'a container image reference such as ghcr.io/example/agentgate:0.1.0',
  }).optional(),
  sidecarResources: section(z.strictObject({
    requests: section(z.strictObject({
      // Below 100m the sidecar's TLS handshakes and masking make every agent call visibly slow.
      cpu: cpuQuantity('CPU request of the sidecar', 100).default('100m'),
      memory: memoryQuantity('memory request of the sidecar').default('64Mi'),
    })),
    limits: section(z.strictObject({
      cpu: cpuQuantity('CPU limit of the sidecar (unset: none)', 100).optional(),
      memory: memoryQuantity('memory limit of the sidecar').default('256Mi'),
    })),
  })),
  optOut: z.array(optOutRule).default([]),
  namespace: dnsLabel('namespace agentgate runs in').default('agentgate-system'),
  brokerUrl: url('the broker, as injected sidecars reach it (unset: https://agentgate-broker.<namespace>.svc:8443)', { schemes: ['https'], httpOnLoopback: true }).optional(),
  injectionVersion: text('written to the agentgate.io/injected-version annotation (unset: this build\'s version)').optional(),
  policyProfile: dnsLabel('policy profile written to injected pods').default('default'),
  allowedTokenVolumes: z.array(allowedTokenVolume).default([]),
  eksSessionPrefix: text('Kubernetes username prefix of grant sessions on EKS (guardrails apply to them)').default('agentgate:grant:'),
  configurations: section(z.strictObject({
    mutating: dnsLabel('name of agentgate\'s MutatingWebhookConfiguration').default('agentgate'),
    validating: dnsLabel('name of agentgate\'s ValidatingWebhookConfiguration').default('agentgate'),
  })),
  serviceName: dnsLabel('Service in front of the webhook (the self-bootstrapped certificate names <service>.<namespace>.svc)').default('agentgate-webhook'),
  tlsSecret: dnsLabel('Secret holding the self-bootstrapped CA and certificate (used when tls.certFile is unset)').default('agentgate-webhook-tls'),
  leaderElection: bool('elect one replica (a coordination.k8s.io Lease) for the controller and certificate rotation').default(true),
  leaseName: dnsLabel('Lease of the leader election').default('agentgate-webhook'),
  clusterVersionInterval: duration('how often the cluster version is read again', 10_000, 24 * HOUR).prefault('10m'),
  kubeconfig: path('kubeconfig to reach the API server (unset: the in-cluster service account)').optional(),
});

/** The cluster this process serves. */
export const connectionSection = z.strictObject({
  name: dnsLabel('name of the connection, part of every grant key').default('in-cluster'),
  server: url('API server of the cluster', { schemes: ['https'] }).default('https://kubernetes.default.svc'),
  caFile: path('CA bundle of the API server').default(KUBE_CA),
  mode: choice(['eks', 'tokenrequest'], 'how grant credentials are minted').default('tokenrequest'),
  roleArn: text('IAM role assumed for grants (eks)', {
    pattern: /^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
    expected: 'an IAM role ARN such as arn:aws:iam::123456789012:role/agentgate',
  }).optional(),
  region: text('AWS region (eks)', { pattern: /^[a-z]{2}(?:-[a-z]+)+-\d+$/, expected: 'an AWS region such as eu-west-1' }).optional(),
  clusterName: text('EKS cluster name (eks)', {
    pattern: /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/,
    expected: "an EKS cluster name: up to 100 letters, digits, '-' and '_', starting with a letter or digit",
  }).optional(),
  stsEndpoint: url('STS endpoint for AssumeRole and for the presigned URL in EKS tokens, which the cluster must accept (eks; unset: https://sts.<region>.amazonaws.com)', { schemes: ['https'] }).optional(),
  // Must say what the access entry says: the broker binds the user it renders, the cluster maps the session to it.
  eksUsernameTemplate: text("username template of the connection role's EKS access entry; grant RoleBindings name the user it renders (eks)", {
    pattern: /^(?:[^{}]|\{\{AccountID\}\})*\{\{SessionName(?:Raw)?\}\}(?:[^{}]|\{\{AccountID\}\})*$/,
    expected: 'a username template with exactly one {{SessionName}} (or {{SessionNameRaw}}) and no other placeholder than {{AccountID}}, such as agentgate:grant:{{SessionName}}',
  }).default('agentgate:grant:{{SessionName}}'),
});

/** The Slack app that asks approvers. */
export const slackSection = z.strictObject({
  botToken: text('bot token of the Slack app', { pattern: /^xoxb-[A-Za-z0-9-]+$/, expected: 'a Slack bot token (xoxb-...)', secret: true }).optional(),
  signingSecret: text('signing secret of the Slack app', { pattern: /^[a-f0-9]{16,}$/, expected: 'a Slack signing secret (hexadecimal)', secret: true }).optional(),
  channel: text('channel where approval requests are posted').optional(),
  apiUrl: url('Slack Web API base URL', { schemes: ['https'], httpOnLoopback: true }).default('https://slack.com/api/'),
});

/** The organisation's identity provider, for agents with OIDC tokens. */
export const oidcSection = z.strictObject({
  issuer: url('OIDC issuer', { schemes: ['https'], httpOnLoopback: true }).optional(),
  clientId: text('client id registered at the issuer').optional(),
  audience: text('audience the tokens must carry').optional(),
});

/** Facts about the pod this process runs in, from the downward API (the webhook sets AGENTGATE_POD_*). */
export const podSection = z.strictObject({
  name: text('name of this pod').optional(),
  namespace: dnsLabel('namespace of this pod').optional(),
  uid: text('uid of this pod').optional(),
  ip: ipAddress('IP address of this pod').optional(),
});

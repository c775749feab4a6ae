// Builders for the audit tests: valid audit events with a few fields varied, a Redis client
// set up as the broker's should be (no offline queue), and a collector standing in for stdout.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import type { AuditEvent } from '../../src/contracts/audit.ts';

/** The fields a test varies; everything else is a plausible `get pods` by agent coder. */
export interface EventShape {
  agent?: string;
  connection?: string;
  namespace?: string;
  targetNamespace?: string;
  verb?: string;
  resource?: string;
  outcome?: AuditEvent['decision']['outcome'];
  code?: string;
  time?: string;
  command?: string;
}

/** A valid audit event with a fresh id. */
export function auditEvent(shape: EventShape = {}): AuditEvent {
  const namespace = shape.namespace ?? 'team-a';
  const target = shape.targetNamespace ?? namespace;
  const outcome = shape.outcome ?? 'allow';
  return {
    id: randomUUID(),
    time: shape.time ?? new Date().toISOString(),
    identity: {
      connection: shape.connection ?? 'prod-eu',
      namespace,
      agent: shape.agent ?? 'coder',
      originalServiceAccount: shape.agent ?? 'coder',
      owner: { kind: 'Deployment', name: shape.agent ?? 'coder', apiVersion: 'apps/v1' },
      podUid: '0c6f5a9e-3d2b-4f7a-9b1e-5a8c7d6e4f21',
      podName: 'coder-7d9f8b6c5d-x2k4p',
    },
    requestId: `req-${randomUUID().slice(0, 8)}`,
    attributes: {
      isResourceRequest: true,
      path: `/api/v1/namespaces/${target}/${shape.resource ?? 'pods'}`,
      verb: shape.verb ?? 'list',
      apiGroup: '',
      apiVersion: 'v1',
      resource: shape.resource ?? 'pods',
      subresource: '',
      namespace: target,
      name: '',
    },
    decision: { outcome, code: shape.code ?? (outcome === 'allow' ? 'grant-live' : outcome === 'deny' ? 'policy-deny' : 'approval-pending') },
    response: { code: outcome === 'allow' ? 200 : 403, bytes: 100, durationMs: 3 },
    command: shape.command ?? 'kubectl get',
    masked: 0,
  };
}

/** `n` events of one shape. */
export function auditEvents(n: number, shape: EventShape = {}): AuditEvent[] {
  return Array.from({ length: n }, () => auditEvent(shape));
}

/** A client configured as the broker's: commands fail at once while disconnected, reconnects fast. */
export function brokerRedis(url: string): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
  return redis;
}

/** Resolves when the client is ready again (after a restart), or rejects at the deadline. */
export async function untilReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (redis.status !== 'ready') {
    if (Date.now() > deadline) throw new Error(`redis client not ready within ${timeoutMs} ms (status ${redis.status})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A writable that keeps what was written, standing in for stdout. */
export function collector(): { stream: Writable; text: () => string; lines: () => unknown[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const text = () => chunks.join('');
  return { stream, text, lines: () => text().split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown) };
}

/** A key prefix of its own per test, so tests sharing one redis-server never see each other. */
export function prefix(): string {
  return `t-${randomUUID().slice(0, 8)}:`;
}

// Request bodies: read whole (they are checked before forwarding and replayed on a credential
// retry), bounded in size (413 above the limit, like the API server's 3 MiB) and in time.
import type { IncomingMessage } from 'node:http';
import type { Status } from '../src/kube/status.ts';
import { refusal } from './refusals.ts';

/** Whether a method carries a body worth reading. */
export function hasBody(req: IncomingMessage): boolean {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return false;
  return req.headers['content-length'] !== '0' || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Reads the body up to `limit` bytes within `timeoutMs`. Refuses at once, without reading, when
 * Content-Length announces more; stops reading (and the caller closes the connection) when a
 * chunked body grows past the limit.
 */
export async function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer | Status> {
  const tooLarge = (): Status => refusal('body-too-large', `at most ${limit} bytes are accepted`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise((resolve) => {
    const done = (value: Buffer | Status): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(value);
    };
    const timer = setTimeout(() => done(refusal('body-timeout', `the whole body must arrive within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        done(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => done(Buffer.concat(chunks, size));
    const onError = (): void => done(refusal('body-timeout', 'the connection failed while the body was sent'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * The sidecar's transport alone, for the sidecar benchmark: the node:https server the sidecar
 * listens with and its own upstream client (sidecar/upstream-pool.ts), forwarding each request
 * with a fixed credential and sending the answer back held whole, as the sidecar sends an
 * ordinary answer. No authentication, attributes, decision, scope, masking or audit: the
 * sidecar's figure minus this one is what its per-request work costs. Run bundled with the image's
 * Node flags, as the sidecar runs. Usage: transport.js UPSTREAM_URL TLS_DIR; prints {"port"} once it listens.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { UpstreamPool } from '../../sidecar/upstream-pool.ts';

const [upstreamUrl = '', tlsDir = ''] = process.argv.slice(2);
const target = new URL(upstreamUrl);
const pool = new UpstreamPool({ host: target.hostname, port: Number(target.port), servername: 'localhost', ca: readFileSync(join(tlsDir, 'ca.crt')) });
const server = createServer({ cert: readFileSync(join(tlsDir, 'server.crt')), key: readFileSync(join(tlsDir, 'server.key')) }, (req, res) => {
  const parts: Buffer[] = [];
  let code = 502;
  let type = 'application/json';
  const exchange = pool.request({ method: req.method ?? 'GET', path: req.url ?? '/', headers: { accept: 'application/json', authorization: 'Bearer bench-grant-token' }, timeoutMs: 65_000 }, {
    head: (head) => {
      code = head.status;
      type = String(head.headers['content-type'] ?? type);
    },
    data: (chunk) => parts.push(chunk),
    end: () => {
      const length = parts.reduce((sum, part) => sum + part.length, 0);
      res.writeHead(code, { 'content-type': type, 'content-length': length });
      for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
      res.end(parts.at(-1));
    },
    error: () => res.destroy(),
  });
  res.on('close', () => {
    if (!res.writableFinished) exchange.abort();
  });
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));

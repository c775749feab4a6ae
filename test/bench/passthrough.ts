/**
 * The bare Node.js TLS pass-through of the sidecar benchmark: https server → keep-alive
 * https.request to the upstream, body piped, the least any Node proxy does. Node built-ins only,
 * so its memory is Node's own; the benchmark runs it bundled with the image's Node flags, as the
 * sidecar runs. Usage: passthrough.js UPSTREAM_URL TLS_DIR; prints {"port"} once it listens.
 */
import { readFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const [upstreamUrl = '', tlsDir = ''] = process.argv.slice(2);
const target = new URL(upstreamUrl);
const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: readFileSync(join(tlsDir, 'ca.crt')) });
const server = createServer({ cert: readFileSync(join(tlsDir, 'server.crt')), key: readFileSync(join(tlsDir, 'server.key')) }, (req, res) => {
  const up = request({ agent, host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { accept: 'application/json', authorization: 'Bearer bench-grant-token' } }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  up.on('error', () => res.destroy());
  // A client that hangs up mid-answer (wrk at the end of a run) frees its upstream connection;
  // piping alone would leave it stalled and, after 64 of them, the pool exhausted.
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));

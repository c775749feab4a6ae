// A recording, scriptable stand-in for a misbehaving API server (redirects, gzip it was not asked
// for, unparseable bodies, refused credentials): what the sidecar sent upstream is kept, so tests
// can check that hostile headers never got there. Not a double of the API: the API double is.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const tls = new URL('../fixtures/tls/', import.meta.url);

/** One request as the upstream received it. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** A running scripted upstream. */
export interface ScriptedUpstream {
  url: string;
  received: Received[];
  /** Answers every request; default 200 `{"kind":"PodList","apiVersion":"v1","items":[]}`. */
  respond: (req: Received, res: ServerResponse) => void;
  close(): Promise<void>;
}

/** Starts the scripted upstream on a free port with the fixture certificate. */
export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const [cert, key] = await Promise.all([readFile(new URL('server.crt', tls)), readFile(new URL('server.key', tls))]);
  const sockets = new Set<Socket>();
  const upstream: ScriptedUpstream = {
    url: '',
    received: [],
    respond: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}');
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer({ cert, key }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') };
      upstream.received.push(received);
      upstream.respond(received, res);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return upstream;
}

// node:http without its ES module facade. An `import … from 'node:http'` makes Node read every
// export of the module, and Node 24's lazy ones (WebSocket, CloseEvent, MessageEvent) load undici,
// http2 and perf_hooks: about 5 MiB of resident memory, code and heap, that the sidecar never uses.
// process.getBuiltinModule hands over the module itself and reads nothing. Types stay `import type`.

/** The node:http module, loaded without touching its lazy exports. */
export const http = process.getBuiltinModule('node:http');

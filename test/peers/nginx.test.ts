// nginx (Debian's nginx-light) as a reverse proxy in front of an Upshift server, with the usual
// WebSocket configuration (docs/proxy.md): echo, close codes and reasons both ways, messages of
// several MiB, permessage-deflate through the proxy, the headers the server sees, and nginx's
// read timeout against the server's heartbeat. Skipped where nginx is missing, except under CI.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { connect, WebSocketServer, type WebSocketConnection } from '../../src/index.js';
import { binaryOfBytes, nextEvent, sha256, startUpshiftEcho, textOfBytes, withTimeout } from './support/peers.js';
import { NGINX, startNginx, type RunningNginx } from './support/nginx.js';

const missing = !existsSync(NGINX);
const underCi = process.env.CI === 'true';
const skip = missing && !underCi ? `${NGINX} is not installed (apt-get install nginx-light)` : false;
if (skip) console.log(`# skipping the nginx tests: ${skip}`);

/** What the server saw of one connection. */
interface Seen {
  headers: IncomingMessage['headers'];
  remoteAddress: string | undefined;
  ws: WebSocketConnection;
  closed: Promise<[code: number, reason: string]>;
}

function nextClose(ws: WebSocketConnection, ms = 5000): Promise<[code: number, reason: string]> {
  return nextEvent<[number, string]>(ws, 'close', ms);
}

function nextMessage(ws: WebSocketConnection, ms = 20_000): Promise<[data: Buffer, isBinary: boolean]> {
  return nextEvent<[Buffer, boolean]>(ws, 'message', ms);
}

describe('Upshift behind nginx', { skip, timeout: 60_000 }, () => {
  let server: WebSocketServer;
  let deflateServer: WebSocketServer;
  let quietServer: WebSocketServer;
  let heartbeatServer: WebSocketServer;
  let nginx: RunningNginx;
  const seen: Seen[] = [];

  before(async () => {
    if (missing) assert.fail(`${NGINX} is missing under CI=true: .ci/run installs nginx-light`);
    const echo = await startUpshiftEcho({ protocols: ['chat.v1'] });
    server = echo.server;
    server.on('connection', (ws, req) => {
      seen.push({ headers: req.headers, remoteAddress: req.socket.remoteAddress, ws, closed: nextClose(ws, 20_000) });
      // /server-closes?code=…&reason=…: the server starts the closing handshake.
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/server-closes') ws.close(Number(url.searchParams.get('code')), url.searchParams.get('reason') ?? '');
    });
    deflateServer = (await startUpshiftEcho({ perMessageDeflate: true })).server;
    // For nginx's read timeout (1.5 s): one server that never pings, one that pings every 300 ms.
    quietServer = (await startUpshiftEcho({ pingInterval: 0, idleTimeout: 0 })).server;
    heartbeatServer = (await startUpshiftEcho({ pingInterval: 300, idleTimeout: 0 })).server;
    const portOf = (s: WebSocketServer): number => (s.address() as { port: number }).port;
    nginx = await startNginx([
      { path: '/', upstreamPort: portOf(server) },
      { path: '/deflate', upstreamPort: portOf(deflateServer) },
      { path: '/quiet', upstreamPort: portOf(quietServer), readTimeout: '1500ms' },
      { path: '/heartbeat', upstreamPort: portOf(heartbeatServer), readTimeout: '1500ms' },
    ]);
  });

  after(async () => {
    await nginx?.stop();
    for (const s of [server, deflateServer, quietServer, heartbeatServer]) await s?.close({ timeout: 200 });
  });

  it('echoes text and binary messages of every length form, up to several MiB', async () => {
    const ws = await connect(nginx.url('/echo'));
    try {
      for (const size of [0, 125, 126, 65535, 65536, 1024 * 1024, 6 * 1024 * 1024]) {
        const text = textOfBytes(size);
        ws.send(text);
        const [echoedText, textIsBinary] = await nextMessage(ws);
        assert.equal(textIsBinary, false);
        assert.equal(echoedText.length, size);
        assert.equal(sha256(echoedText), sha256(text), `text of ${size} bytes`);
        const binary = binaryOfBytes(size);
        ws.send(binary);
        const [echoedBinary, binaryIsBinary] = await nextMessage(ws);
        assert.equal(binaryIsBinary, true);
        assert.equal(sha256(echoedBinary), sha256(binary), `binary of ${size} bytes`);
      }
    } finally {
      ws.terminate();
    }
  });

  it('passes Host, X-Forwarded-For, X-Forwarded-Proto and the Sec-WebSocket-* headers', async () => {
    const before = seen.length;
    // A client-supplied X-Forwarded-For is kept and nginx appends the address it saw.
    const ws = await connect(nginx.url('/headers?x=1'), { protocols: ['chat.v2', 'chat.v1'], headers: { 'X-Forwarded-For': '203.0.113.7' } });
    try {
      assert.equal(ws.protocol, 'chat.v1', 'Sec-WebSocket-Protocol went through both ways');
      const { headers, remoteAddress } = seen[before]!;
      assert.equal(headers.host, `127.0.0.1:${nginx.port}`);
      assert.equal(headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
      assert.equal(headers['x-forwarded-proto'], 'http');
      assert.equal(headers.upgrade, 'websocket');
      assert.match(String(headers.connection), /upgrade/i);
      assert.equal(headers['sec-websocket-version'], '13');
      assert.equal(typeof headers['sec-websocket-key'], 'string');
      assert.equal(remoteAddress, '127.0.0.1', 'the TCP peer is nginx');
    } finally {
      ws.terminate();
    }
  });

  it('carries close codes and reasons from the client to the server and back', async () => {
    const cases: [code: number | undefined, reason: string][] = [
      [1000, ''],
      [4001, 'client says bye'],
      [3000, 'é€😀'.repeat(10)],
      [undefined, ''],
    ];
    for (const [code, reason] of cases) {
      const before = seen.length;
      const ws = await connect(nginx.url('/echo'));
      const clientClosed = nextClose(ws);
      ws.close(code, reason);
      const [serverCode, serverReason] = await withTimeout(seen[before]!.closed, 5000, 'the server to see the close');
      // §7.1.5: no code in the frame is reported as 1005.
      assert.deepEqual([serverCode, serverReason], [code ?? 1005, reason]);
      const [clientCode] = await clientClosed;
      assert.equal(clientCode, code ?? 1005, 'the server echoed the code (§5.5.1)');
    }
  });

  it('carries close codes and reasons from the server to the client', async () => {
    for (const [code, reason] of [
      [1001, 'going away'],
      [4002, 'server says bye'],
      [1011, ''],
    ] as const) {
      const ws = await connect(nginx.url(`/server-closes?code=${code}&reason=${encodeURIComponent(reason)}`));
      const [clientCode, clientReason] = await nextClose(ws);
      assert.deepEqual([clientCode, clientReason], [code, reason]);
    }
  });

  it('negotiates permessage-deflate through the proxy and sends compressed frames across it', async () => {
    const ws = await connect(nginx.url('/deflate'), { perMessageDeflate: true });
    try {
      assert.match(ws.extensions, /^permessage-deflate/);
      const text = 'All work and no play makes Jack a dull boy. '.repeat(24 * 1024); // ~1 MiB
      const socket = ws.rawTransport as Socket;
      const readBefore = socket.bytesRead;
      ws.send(text);
      const [echoed] = await nextMessage(ws);
      assert.equal(echoed.toString(), text);
      const wire = socket.bytesRead - readBefore;
      assert.ok(wire < text.length / 20, `${wire} bytes on the wire for a ${text.length}-byte message`);
    } finally {
      ws.terminate();
    }
  });

  it("closes an idle connection at proxy_read_timeout, and the server's heartbeat keeps one open", async () => {
    // Taken before the connect: nginx's timer starts once it has connected upstream, later.
    const opened = Date.now();
    const quiet = await connect(nginx.url('/quiet'));
    const busy = await connect(nginx.url('/heartbeat'));
    try {
      // nginx drops the upstream and client connections without a close frame: 1006.
      const [code] = await nextClose(quiet, 5000);
      assert.equal(code, 1006);
      assert.ok(Date.now() - opened >= 1400, 'not before the 1.5 s proxy_read_timeout');
      // Deliberately let the timeout pass once more for the connection the server pings.
      await new Promise((resolve) => setTimeout(resolve, 1700));
      assert.equal(busy.readyState, 1, 'still open after more than twice the read timeout');
      busy.send('still there');
      const [echoed] = await nextMessage(busy, 2000);
      assert.equal(echoed.toString(), 'still there');
    } finally {
      quiet.terminate();
      busy.terminate();
    }
  });
});

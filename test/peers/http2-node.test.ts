// RFC 8441 against Node.js's own HTTP/2 client (node:http2, i.e. nghttp2), which knows nothing of
// Upshift: the test sends the extended CONNECT itself and frames WebSocket messages with the
// independent codec of test/helpers/frames.ts. Many WebSockets share one session, over TLS and
// over cleartext prior knowledge.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session, Http2SecureServer, Http2Server, ServerHttp2Stream } from 'node:http2';
import { WebSocketServer, type WebSocketConnection } from '../../src/index.js';
import { encodeFrame, OP } from '../helpers/frames.js';
import { collectEvents } from '../helpers/events.js';
import { makeTestCertificate, openSession, RawStreamSocket, startH2cServer, startH2Server, type StartedH2 } from '../http2/support/h2.js';
import { requirePeers } from './support/requirements.js';

const MANY = 100;

async function manyOnOneSession(h2: StartedH2<Http2Server | Http2SecureServer>, openClient: () => Promise<ClientHttp2Session>): Promise<void> {
  // The endpoint exists before the client connects: the server's first SETTINGS must carry
  // ENABLE_CONNECT_PROTOCOL (RFC 8441 §3).
  const wss = new WebSocketServer({ server: h2.server, path: '/echo' });
  const session = await openClient();
  assert.equal(session.remoteSettings.enableConnectProtocol, true);
  const serverSessions = new Set<unknown>();
  wss.on('connection', (ws: WebSocketConnection) => {
    serverSessions.add((ws.rawTransport as ServerHttp2Stream).session);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const connections = collectEvents<WebSocketConnection>(wss, 'connection', MANY, 10_000);
  try {
    const sockets = await Promise.all(Array.from({ length: MANY }, () => RawStreamSocket.open(session, '/echo')));
    await connections;
    assert.ok(sockets.every((socket) => socket.status === 200));
    assert.equal(wss.clients.size, MANY);
    assert.equal(serverSessions.size, 1, 'every WebSocket on the one session');
    assert.equal(h2.sessions.size, 1);

    // A text message each, a fragmented one, a ping: all answered per stream.
    for (const [i, socket] of sockets.entries()) socket.sendText(`message ${i}`);
    const replies = await Promise.all(sockets.map((socket) => socket.readFrame(5000)));
    assert.deepEqual(
      replies.map((frame) => frame.payload.toString()),
      sockets.map((_, i) => `message ${i}`),
    );
    const fragmented = sockets[7]!;
    fragmented.stream.write(encodeFrame(OP.TEXT, 'frag', { fin: false }));
    fragmented.stream.write(encodeFrame(OP.PING, 'are you there'));
    fragmented.stream.write(encodeFrame(OP.CONT, 'mented', { fin: true }));
    const pong = await fragmented.readFrame();
    assert.equal(pong.opcode, OP.PONG);
    assert.equal(pong.payload.toString(), 'are you there');
    assert.equal((await fragmented.readFrame()).payload.toString(), 'fragmented');

    // Half of them close (client first); the other half still echo.
    const closing = sockets.slice(0, MANY / 2);
    for (const socket of closing) socket.sendClose(1000, 'done');
    for (const socket of closing) {
      const frame = await socket.readFrame();
      assert.equal(frame.opcode, OP.CLOSE);
      await socket.waitForEnd();
      socket.stream.end();
    }
    await Promise.all(closing.map((socket) => socket.waitForClose()));
    const remaining = sockets.slice(MANY / 2);
    for (const socket of remaining) socket.sendText('still open');
    for (const frame of await Promise.all(remaining.map((socket) => socket.readFrame(5000)))) {
      assert.equal(frame.payload.toString(), 'still open');
    }
    assert.equal(wss.clients.size, MANY / 2);
    assert.equal(session.closed, false);
  } finally {
    session.destroy();
    await wss.close({ timeout: 500 });
  }
}

describe("Node's http2 client as the peer", { timeout: 60_000 }, () => {
  it(`${MANY} WebSockets on one cleartext (prior knowledge) session`, async () => {
    const h2 = await startH2cServer();
    try {
      await manyOnOneSession(h2, () => openSession(h2.port));
    } finally {
      await h2.stop();
    }
  });

  requirePeers('openssl').it(`${MANY} WebSockets on one TLS (ALPN h2) session`, async () => {
    const tls = makeTestCertificate();
    if ('skip' in tls) assert.fail(tls.skip);
    const h2 = await startH2Server(tls);
    try {
      await manyOnOneSession(h2, async () => {
        const session = await openSession(h2.port, { secure: true, ca: tls.cert });
        assert.equal(session.alpnProtocol, 'h2');
        return session;
      });
    } finally {
      await h2.stop();
    }
  });
});

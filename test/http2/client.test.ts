// connect(url, { http2: true }): WebSockets over HTTP/2 streams (RFC 8441) from the client side,
// one pooled session per origin, clear failures, and the same connection API.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { constants, type ClientHttp2Stream, type Http2SecureServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { connect, HandshakeError } from '../../src/client/connect.js';
import { pooledSessions } from '../../src/client/http2-transport.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { perMessageDeflate, perMessageDeflateClient } from '../../src/extensions/permessage-deflate/index.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { collectEvents, EVENT_WAIT_MS, nextEvent, within } from '../helpers/events.js';
import { startHttpServer } from '../helpers/server.js';
import { requirePeers } from '../peers/support/requirements.js';
import { HOST, makeTestCertificate, startH2cServer, startH2Server, type StartedH2 } from './support/h2.js';

function echo(ws: WebSocketConnection<any>): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

async function roundTrip(ws: WebSocketConnection, text: string): Promise<string> {
  const reply = nextEvent<[Buffer]>(ws, 'message');
  ws.send(text);
  return (await reply)[0].toString();
}

async function closeAndWait(ws: WebSocketConnection): Promise<[number, string]> {
  const closed = nextEvent<[number, string]>(ws, 'close');
  ws.close(1000);
  return closed;
}

function isHandshakeError(pattern: RegExp, status?: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${String(error)}`);
    assert.match(error.message, pattern);
    if (status !== undefined) assert.equal(error.statusCode, status);
    return true;
  };
}

describe('connect({ http2: true }) over cleartext HTTP/2', { timeout: 20_000 }, () => {
  let h2: StartedH2<Http2Server>;
  let wss: WebSocketServer;
  let base: string;

  before(async () => {
    h2 = await startH2cServer();
    wss = new WebSocketServer({
      server: h2.server,
      path: '/ws',
      protocols: ['b', 'a'],
      verify: (req) => (req.headers['x-deny'] === '1' ? { accept: false, status: 403, body: 'not you' } : true),
    });
    wss.on('connection', echo);
    base = `ws://${HOST}:${h2.port}`;
  });

  after(async () => {
    await wss.close({ timeout: 200 });
    await h2.stop();
  });

  it('shares one session between WebSockets to the same origin and closes it after the last', async () => {
    const origin = `http://${HOST}:${h2.port}`;
    const sockets = await Promise.all([1, 2, 3, 4, 5].map(() => connect(`${base}/ws`, { http2: true })));
    const sessions = new Set(sockets.map((ws) => (ws.rawTransport as ClientHttp2Stream).session));
    assert.equal(sessions.size, 1, 'one HTTP/2 session for the five WebSockets');
    assert.equal(pooledSessions(origin).length, 1);
    assert.equal(h2.sessions.size, 1, 'the server saw one connection');
    const replies = await Promise.all(sockets.map((ws, i) => roundTrip(ws, `message ${i}`)));
    assert.deepEqual(replies, ['message 0', 'message 1', 'message 2', 'message 3', 'message 4']);
    // Closing some leaves the others (and the session) working.
    assert.deepEqual(await closeAndWait(sockets[0]!), [1000, '']);
    assert.deepEqual(await closeAndWait(sockets[1]!), [1000, '']);
    assert.equal(await roundTrip(sockets[4]!, 'still'), 'still');
    const [session] = sessions;
    assert.equal(session!.closed, false);
    // A new WebSocket joins the same session.
    const late = await connect(`${base}/ws`, { http2: true });
    assert.equal((late.rawTransport as ClientHttp2Stream).session, session);
    for (const ws of [sockets[2]!, sockets[3]!, sockets[4]!, late]) await closeAndWait(ws);
    await within(once(session!, 'close'), EVENT_WAIT_MS, 'the idle session to close');
    assert.equal(pooledSessions(origin).length, 0);
  });

  it('negotiates the subprotocol and reports HTTP refusals with their status and body', async () => {
    const ws = await connect(`${base}/ws`, { http2: true, protocols: ['a', 'b'] });
    assert.equal(ws.protocol, 'b');
    await assert.rejects(connect(`${base}/missing`, { http2: true }), isHandshakeError(/404.*No WebSocket endpoint at \/missing/, 404));
    await assert.rejects(connect(`${base}/ws`, { http2: true, headers: { 'X-Deny': '1' } }), isHandshakeError(/403 \(not you\)/, 403));
    assert.equal(await roundTrip(ws, 'after refusals'), 'after refusals', 'refused streams do not disturb the session');
    await closeAndWait(ws);
  });

  it('negotiates permessage-deflate on the stream, and compressed messages round-trip', async () => {
    const h2c = await startH2cServer();
    const deflating = new WebSocketServer({ server: h2c.server, extensions: [perMessageDeflate()] });
    const arrived = nextEvent<[WebSocketConnection]>(deflating, 'connection');
    deflating.on('connection', echo);
    try {
      const ws = await connect(`ws://${HOST}:${h2c.port}/`, { http2: true, extensions: [perMessageDeflateClient()] });
      assert.match(ws.extensions, /^permessage-deflate/);
      const [serverSide] = await arrived;
      assert.equal(serverSide.extensions, ws.extensions);
      const text = 'squeeze this over HTTP/2 '.repeat(5000);
      let wire = 0;
      (ws.rawTransport as ClientHttp2Stream).on('data', (chunk: Buffer) => (wire += chunk.length));
      assert.equal(await roundTrip(ws, text), text);
      assert.ok(wire < text.length / 10, `the echo came compressed (${wire} bytes on the stream)`);
      await closeAndWait(ws);
    } finally {
      await deflating.close({ timeout: 200 });
      await h2c.stop();
    }
  });

  it('refuses handshake headers it sets itself', async () => {
    await assert.rejects(connect(`${base}/ws`, { http2: true, headers: { Connection: 'keep-alive' } }), TypeError);
    await assert.rejects(connect(`${base}/ws`, { http2: true, headers: { 'Sec-WebSocket-Version': '8' } }), TypeError);
  });

  it('closes every WebSocket of a session with 1006 when the session dies', async () => {
    const serverSide = collectEvents<WebSocketConnection>(wss, 'connection', 2);
    const a = await connect(`${base}/ws`, { http2: true });
    const b = await connect(`${base}/ws`, { http2: true });
    await serverSide;
    const closes = Promise.all([nextEvent<[number]>(a, 'close'), nextEvent<[number]>(b, 'close')]);
    for (const session of h2.sessions) session.destroy();
    assert.deepEqual((await closes).map(([code]) => code), [1006, 1006]);
    // The pool opens a fresh session for the next WebSocket.
    const c = await connect(`${base}/ws`, { http2: true });
    assert.equal(await roundTrip(c, 'fresh'), 'fresh');
    await closeAndWait(c);
  });

  it('terminate() resets only its stream with CANCEL', async () => {
    const serverSide = nextEvent<[WebSocketConnection]>(wss, 'connection');
    const a = await connect(`${base}/ws`, { http2: true });
    const b = await connect(`${base}/ws`, { http2: true });
    const [serverA] = await serverSide;
    const serverClosed = nextEvent<[number]>(serverA, 'close');
    const stream = serverA.rawTransport as ServerHttp2Stream;
    a.terminate();
    assert.equal((await serverClosed)[0], 1006);
    assert.equal(stream.rstCode, constants.NGHTTP2_CANCEL);
    assert.equal(await roundTrip(b, 'unaffected'), 'unaffected');
    await closeAndWait(b);
  });
});

describe('connect({ http2: true }) failures', { timeout: 20_000 }, () => {
  it('fails clearly when the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL, without sending a stream', async () => {
    const h2 = await startH2cServer();
    let streams = 0;
    h2.server.on('stream', (stream) => {
      streams++;
      stream.respond({ ':status': 200 });
    });
    try {
      await assert.rejects(connect(`ws://${HOST}:${h2.port}/`, { http2: true }), isHandshakeError(/SETTINGS_ENABLE_CONNECT_PROTOCOL/));
      assert.equal(streams, 0, 'RFC 8441 §3: no extended CONNECT before the setting');
    } finally {
      await h2.stop();
    }
  });

  it('times out a handshake the server never answers, and cancels its stream', async () => {
    const h2 = await startH2cServer({ settings: { enableConnectProtocol: true } });
    const stream = new Promise<ServerHttp2Stream>((resolve) => h2.server.once('stream', (s: ServerHttp2Stream) => resolve(s)));
    try {
      await assert.rejects(connect(`ws://${HOST}:${h2.port}/`, { http2: true, handshakeTimeout: 200 }), isHandshakeError(/timed out/));
      const serverStream = await within(stream, EVENT_WAIT_MS, 'the stream');
      if (!serverStream.closed) await within(once(serverStream, 'close'), EVENT_WAIT_MS, 'the stream to close');
      assert.equal(serverStream.rstCode, constants.NGHTTP2_CANCEL);
    } finally {
      await h2.stop();
    }
  });

  it('rejects a subprotocol the client did not offer', async () => {
    const h2 = await startH2cServer({ settings: { enableConnectProtocol: true } });
    h2.server.on('stream', (stream) => stream.respond({ ':status': 200, 'sec-websocket-protocol': 'zzz' }));
    try {
      await assert.rejects(connect(`ws://${HOST}:${h2.port}/`, { http2: true, protocols: ['a'] }), isHandshakeError(/not requested/));
    } finally {
      await h2.stop();
    }
  });

  it('fails clearly against a cleartext server that only speaks HTTP/1.1', async () => {
    const http = await startHttpServer((_req, res) => res.end('http/1.1'));
    const wss = new WebSocketServer({ server: http.server });
    try {
      await assert.rejects(connect(`ws://${HOST}:${http.port}/`, { http2: true }), isHandshakeError(/prior knowledge/));
    } finally {
      await wss.close({ timeout: 200 });
      await http.stop();
    }
  });

  it('follows a redirect when asked to', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({
      server: h2.server,
      verify: (req) => (req.url === '/old' ? { accept: false, status: 308, headers: { Location: '/new' } } : true),
    });
    const arrived = nextEvent<[WebSocketConnection, { url?: string }]>(wss, 'connection');
    try {
      await assert.rejects(connect(`ws://${HOST}:${h2.port}/old`, { http2: true }), isHandshakeError(/308/, 308));
      const ws = await connect(`ws://${HOST}:${h2.port}/old`, { http2: true, followRedirects: true });
      assert.equal((await arrived)[1].url, '/new');
      await closeAndWait(ws);
    } finally {
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('fails clearly when nothing listens', async () => {
    const h2 = await startH2cServer();
    const port = h2.port;
    await h2.stop();
    await assert.rejects(connect(`ws://${HOST}:${port}/`, { http2: true, handshakeTimeout: 2000 }), isHandshakeError(/ECONNREFUSED/));
  });
});

describe('connect({ http2: true }): streams, pooling and cancelling', { timeout: 20_000 }, () => {
  const sessionOf = (ws: WebSocketConnection): unknown => (ws.rawTransport as ClientHttp2Stream).session;

  it('sends the origin and the extra headers on the extended CONNECT', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const arrived = nextEvent<[WebSocketConnection, { headers: Record<string, unknown> }]>(wss, 'connection');
    try {
      const ws = await connect(`ws://${HOST}:${h2.port}/`, { http2: true, origin: 'https://app.example', headers: { 'X-Api-Key': 'k', Cookie: 'a=b' } });
      const [, req] = await arrived;
      assert.equal(req.headers['origin'], 'https://app.example');
      assert.equal(req.headers['x-api-key'], 'k');
      assert.equal(req.headers['cookie'], 'a=b');
      await closeAndWait(ws);
    } finally {
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('fails with the HTTP/2 error of a stream the server resets, and when it closes one unanswered', async () => {
    const h2 = await startH2cServer({ settings: { enableConnectProtocol: true } });
    h2.server.on('stream', (stream: ServerHttp2Stream, headers) => {
      stream.on('error', () => {});
      stream.close(headers[':path'] === '/refuse' ? constants.NGHTTP2_REFUSED_STREAM : constants.NGHTTP2_NO_ERROR);
    });
    try {
      await assert.rejects(connect(`ws://${HOST}:${h2.port}/refuse`, { http2: true }), isHandshakeError(/^The WebSocket stream failed: .*REFUSED_STREAM/));
      await assert.rejects(connect(`ws://${HOST}:${h2.port}/close`, { http2: true }), isHandshakeError(/^The server closed the WebSocket stream \(HTTP\/2 error code 0\)/));
    } finally {
      await h2.stop();
    }
  });

  it("opens another session when the first is at the server's stream limit", async () => {
    const h2 = await startH2cServer({ settings: { maxConcurrentStreams: 1 } });
    const wss = new WebSocketServer({ server: h2.server });
    const origin = `http://${HOST}:${h2.port}`;
    try {
      const a = await connect(`ws://${HOST}:${h2.port}/`, { http2: true });
      const b = await connect(`ws://${HOST}:${h2.port}/`, { http2: true });
      assert.notEqual(sessionOf(a), sessionOf(b));
      assert.equal(pooledSessions(origin).length, 2);
      assert.ok(pooledSessions().includes(sessionOf(a) as never), 'pooledSessions() lists every origin');
      // A session closes with its last WebSocket; b's is still full, so c gets a third one.
      const sessionA = sessionOf(a) as { once(event: 'close', listener: () => void): void };
      const closedA = new Promise<void>((resolve) => sessionA.once('close', resolve));
      await closeAndWait(a);
      await within(closedA, EVENT_WAIT_MS, "a's session to close");
      const c = await connect(`ws://${HOST}:${h2.port}/`, { http2: true });
      assert.equal(new Set([a, b, c].map(sessionOf)).size, 3);
      assert.equal(pooledSessions(origin).length, 2);
      await closeAndWait(b);
      await closeAndWait(c);
      assert.equal(pooledSessions(origin).length, 0);
    } finally {
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('an abort before the session is ready gives up its place; the session serves the others', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const origin = `http://${HOST}:${h2.port}`;
    try {
      const kept = connect(`ws://${HOST}:${h2.port}/`, { http2: true });
      const controller = new AbortController();
      const aborted = connect(`ws://${HOST}:${h2.port}/`, { http2: true, signal: controller.signal });
      controller.abort();
      await assert.rejects(aborted, isHandshakeError(/^Opening handshake aborted$/));
      const ws = await kept;
      assert.equal(pooledSessions(origin).length, 1);
      assert.equal(h2.sessions.size, 1);
      const session = sessionOf(ws) as { once(event: 'close', listener: () => void): void };
      const sessionClosed = new Promise<void>((resolve) => session.once('close', resolve));
      await closeAndWait(ws);
      await within(sessionClosed, EVENT_WAIT_MS, 'the session to close after its last WebSocket');
      assert.equal(pooledSessions(origin).length, 0);
    } finally {
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('an abort while the response is awaited resets the stream with CANCEL', async () => {
    const h2 = await startH2cServer({ settings: { enableConnectProtocol: true } });
    const stream = new Promise<ServerHttp2Stream>((resolve) => h2.server.once('stream', (s: ServerHttp2Stream) => resolve(s)));
    try {
      const controller = new AbortController();
      const pending = connect(`ws://${HOST}:${h2.port}/`, { http2: true, signal: controller.signal });
      const serverStream = await within(stream, EVENT_WAIT_MS, 'the stream');
      controller.abort(new Error('changed my mind'));
      await assert.rejects(pending, (error: unknown) => {
        isHandshakeError(/aborted/)(error);
        assert.match(String((error as HandshakeError).cause), /changed my mind/);
        return true;
      });
      if (!serverStream.closed) await within(once(serverStream, 'close'), EVENT_WAIT_MS, 'the stream to close');
      assert.equal(serverStream.rstCode, constants.NGHTTP2_CANCEL);
    } finally {
      await h2.stop();
    }
  });
});

const certificate = makeTestCertificate();
const openssl = requirePeers('openssl');

describe('connect({ http2: true }) over TLS', { timeout: 20_000 }, () => {
  const tls = 'skip' in certificate ? undefined : certificate;

  openssl.it('one secure server takes the same endpoint over HTTP/2 and over HTTP/1.1 at once', async () => {
    const h2: StartedH2<Http2SecureServer> = await startH2Server(tls!);
    const wss = new WebSocketServer({ server: h2.server, path: '/ws' });
    const versions: string[] = [];
    wss.on('connection', (ws, req) => {
      versions.push(`${req.httpVersion} ${req.method}`);
      echo(ws);
    });
    const clientTls = { ca: tls!.cert };
    try {
      const url = `wss://${HOST}:${h2.port}/ws`;
      const overH2 = await connect(url, { http2: true, tls: clientTls });
      const overH1 = await connect(url, { tls: clientTls });
      assert.equal(await roundTrip(overH2, 'h2'), 'h2');
      assert.equal(await roundTrip(overH1, 'h1'), 'h1');
      assert.deepEqual(versions.sort(), ['1.1 GET', '2.0 CONNECT']);
      assert.equal((overH2.rawTransport as ClientHttp2Stream).session?.alpnProtocol, 'h2');
      // Plain HTTP/1.1 requests to the WebSocket-only path still get 426 on the secure server.
      await closeAndWait(overH2);
      await closeAndWait(overH1);
    } finally {
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  openssl.it('pools by the value of the TLS settings: equal settings in separate literals share one session', async () => {
    const h2: StartedH2<Http2SecureServer> = await startH2Server(tls!);
    const wss = new WebSocketServer({ server: h2.server });
    const url = `wss://${HOST}:${h2.port}/`;
    const origin = `https://${HOST}:${h2.port}`;
    const sessionOf = (ws: WebSocketConnection): unknown => (ws.rawTransport as ClientHttp2Stream).session;
    const opened: WebSocketConnection[] = [];
    const open = async (settings: TlsConnectionOptions): Promise<WebSocketConnection> => {
      const ws = await connect(url, { http2: true, tls: settings });
      opened.push(ws);
      return ws;
    };
    try {
      const a = await open({ ca: tls!.cert });
      // The same certificate in another Buffer, keys in another order, an undefined member.
      const b = await open({ ca: Buffer.from(tls!.cert) });
      const c = await open({ minVersion: 'TLSv1.2', ca: [tls!.cert] });
      const d = await open({ ca: [Buffer.from(tls!.cert)], servername: undefined, minVersion: 'TLSv1.2' });
      assert.equal(sessionOf(b), sessionOf(a), 'equal settings, one session');
      assert.equal(sessionOf(d), sessionOf(c));
      // Different settings get their own session.
      const e = await open({ ca: tls!.cert, servername: 'localhost' });
      assert.equal(new Set([a, c, e].map(sessionOf)).size, 3);
      // A function is compared by identity.
      const check = (): undefined => undefined;
      const f = await open({ ca: tls!.cert, checkServerIdentity: check });
      const g = await open({ ca: tls!.cert, checkServerIdentity: check });
      const h = await open({ ca: tls!.cert, checkServerIdentity: () => undefined });
      assert.equal(sessionOf(g), sessionOf(f));
      assert.equal(new Set([a, c, e, f, h].map(sessionOf)).size, 5);
      assert.equal(pooledSessions(origin).length, 5);
      assert.equal(h2.sessions.size, 5, 'the server saw five connections');
      for (const ws of opened) await closeAndWait(ws);
      assert.equal(pooledSessions(origin).length, 0);
    } finally {
      for (const ws of opened) ws.terminate();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  openssl.it('fails clearly against a TLS server that negotiates no protocol, or closes before its SETTINGS', async () => {
    const silent = createTlsServer({ ...tls! }, (socket) => socket.on('error', () => {}));
    const closing = createTlsServer({ ...tls!, ALPNProtocols: ['h2'] }, (socket) => socket.destroy());
    const ports: number[] = [];
    const sockets = new Set<Socket>();
    for (const server of [silent, closing]) {
      // In one process the server may never see this client's hang-up (the handshake is cut
      // short), so the test closes its side itself.
      server.on('connection', (socket: Socket) => sockets.add(socket));
      server.listen(0, HOST);
      await within(once(server, 'listening'), EVENT_WAIT_MS, 'listening');
      ports.push((server.address() as AddressInfo).port);
    }
    try {
      await assert.rejects(connect(`wss://${HOST}:${ports[0]}/`, { http2: true, tls: { ca: tls!.cert } }), isHandshakeError(/did not negotiate HTTP\/2 over TLS \(ALPN h2\)/));
      await assert.rejects(connect(`wss://${HOST}:${ports[1]}/`, { http2: true, tls: { ca: tls!.cert } }), isHandshakeError(/closed before the server's SETTINGS arrived|failed/));
    } finally {
      for (const socket of sockets) socket.destroy();
      for (const server of [silent, closing]) await within(new Promise((resolve) => server.close(resolve)), EVENT_WAIT_MS, 'the TLS servers to close');
    }
  });

  openssl.it('fails clearly against a TLS server that does not speak HTTP/2', async () => {
    const server = createHttpsServer({ ...tls! }, (_req, res) => res.end('http/1.1 only'));
    server.listen(0, HOST);
    await within(once(server, 'listening'), EVENT_WAIT_MS, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      await assert.rejects(connect(`wss://${HOST}:${port}/`, { http2: true, tls: { ca: tls!.cert } }), isHandshakeError(/ALPN h2/));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

// WebSocketServer on node:http2 servers (RFC 8441), driven by Node's own HTTP/2 client with
// hand-made WebSocket frames: the handshake decision shared with HTTP/1.1, refusals as HTTP/2
// statuses, close semantics per stream, session failures, and stream-level flow control.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants, type ClientHttp2Session, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { WebSocketServer, type HandshakeRequest, type VerifyResult } from '../../src/server/websocket-server.js';
import { ExtendedConnectRequest } from '../../src/server/http2-stream.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { OP } from '../helpers/frames.js';
import { collectEvents, deferred, EVENT_WAIT_MS, nextEvent, waitUntil, within } from '../helpers/events.js';
import { openSession, RawStreamSocket, startH2cServer, webSocketConnectHeaders, type StartedH2 } from './support/h2.js';

function echo(ws: WebSocketConnection<any>): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

/** Ends a test: the client session, then the endpoint (briefly), then the HTTP/2 server. */
async function stopAll(session: ClientHttp2Session, wss: WebSocketServer<any>, h2: StartedH2<Http2Server>): Promise<void> {
  session.destroy();
  await wss.close({ timeout: 200 });
  await h2.stop();
}

describe('WebSocketServer over HTTP/2: handshake', { timeout: 15_000 }, () => {
  let h2: StartedH2<Http2Server>;
  let wss: WebSocketServer<{ user: string }>;
  let session: ClientHttp2Session;
  const requests: HandshakeRequest[] = [];

  before(async () => {
    h2 = await startH2cServer();
    wss = new WebSocketServer<{ user: string }>({
      server: h2.server,
      path: '/ws',
      protocols: ['v2.chat', 'v1.chat'],
      origins: (origin) => origin !== 'https://evil.example',
      verify: async (req): Promise<VerifyResult<{ user: string }>> => {
        const token = req.headers['x-token'];
        if (token === 'deny') return { accept: false, status: 401, body: 'who are you', headers: { 'WWW-Authenticate': 'Bearer', Connection: 'close' } };
        if (token === 'throw') throw new Error('boom');
        return { accept: true, data: { user: String(token ?? 'anon') }, headers: { 'X-Welcome': 'yes' } };
      },
    });
    wss.on('connection', (ws, req) => {
      requests.push(req);
      echo(ws);
    });
    session = await openSession(h2.port);
  });

  after(async () => {
    session.destroy();
    await wss.close({ timeout: 200 });
    await h2.stop();
  });

  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)', () => {
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
  });

  it('answers :status 200 with the chosen subprotocol, and runs the same connection API', async () => {
    const connected = nextEvent<[WebSocketConnection<{ user: string }>, HandshakeRequest]>(wss, 'connection');
    const socket = await RawStreamSocket.open(session, '/ws?room=1', { 'sec-websocket-protocol': 'v1.chat, v2.chat', 'x-token': 'ann' });
    assert.equal(socket.status, 200);
    assert.equal(socket.response['sec-websocket-protocol'], 'v2.chat');
    assert.equal(socket.response['x-welcome'], 'yes');
    assert.equal(socket.response['sec-websocket-accept'], undefined, 'RFC 8441 §5: no Sec-WebSocket-Accept');
    const [ws, req] = await connected;
    assert.equal(ws.protocol, 'v2.chat');
    assert.equal(ws.data.user, 'ann');
    assert.equal(req.method, 'CONNECT');
    assert.equal(req.httpVersion, '2.0');
    assert.equal(req.url, '/ws?room=1');
    assert.equal(req.headers['x-token'], 'ann');
    assert.ok(req instanceof ExtendedConnectRequest);
    assert.equal(req.socket.remoteAddress, '127.0.0.1');
    assert.equal(req.authority, '127.0.0.1');
    assert.equal(req.scheme, 'http');
    assert.equal(req.connection, req.socket);
    assert.deepEqual(req.rawHeaders.slice(0, 2), [':method', 'CONNECT']);
    assert.deepEqual(
      req.rawHeaders.filter((_, i, all) => all[i - (i % 2)] === 'x-token'),
      ['x-token', 'ann'],
    );
    assert.equal(ws.remoteAddress, '127.0.0.1');
    assert.equal((ws.rawTransport as ServerHttp2Stream).session?.constructor.name, 'ServerHttp2Session');

    socket.sendText('hello over h2');
    const frame = await socket.readFrame();
    assert.equal(frame.opcode, OP.TEXT);
    assert.equal(frame.masked, false, 'server frames stay unmasked (RFC 8441 §5 changes no masking rule)');
    assert.equal(frame.payload.toString(), 'hello over h2');
    socket.stream.close();
  });

  it('rawHeaders lists a field Node.js keeps as a list once per value', async () => {
    const connected = nextEvent<[WebSocketConnection<{ user: string }>, HandshakeRequest]>(wss, 'connection');
    const socket = await RawStreamSocket.open(session, '/ws', { 'set-cookie': 'a=1' });
    assert.equal(socket.status, 200);
    const [, req] = await connected;
    assert.deepEqual(req.headers['set-cookie'], ['a=1']);
    const at = req.rawHeaders.indexOf('set-cookie');
    assert.deepEqual(req.rawHeaders.slice(at, at + 2), ['set-cookie', 'a=1']);
    socket.stream.close();
  });

  for (const [label, extra, status, headerName, headerValue] of [
    ['a missing sec-websocket-version', { 'sec-websocket-version': '' }, 400, undefined, undefined],
    ['version 8', { 'sec-websocket-version': '8' }, 400, 'sec-websocket-version', '13'],
    ['a malformed subprotocol list', { 'sec-websocket-protocol': 'a b' }, 400, undefined, undefined],
    ['an origin the predicate refuses', { origin: 'https://evil.example' }, 403, undefined, undefined],
    ['a verify rejection (with its own status and headers)', { 'x-token': 'deny' }, 401, 'www-authenticate', 'Bearer'],
    ['a verify hook that throws', { 'x-token': 'throw' }, 500, undefined, undefined],
  ] as const) {
    it(`refuses ${label} with ${status}`, async () => {
      const socket = await RawStreamSocket.open(session, '/ws', extra);
      assert.equal(socket.status, status);
      if (headerName !== undefined) assert.equal(socket.response[headerName], headerValue);
      assert.equal(socket.response['connection'], undefined, 'no connection-specific header in HTTP/2');
      assert.ok((await socket.readBody()).length > 0, 'the refusal says why');
    });
  }

  it('answers 404 for a path without an endpoint, and keeps the session', async () => {
    const socket = await RawStreamSocket.open(session, '/nope');
    assert.equal(socket.status, 404);
    assert.match(await socket.readBody(), /\/nope/);
    assert.equal(session.closed, false);
  });

  it('leaves other requests on the HTTP/2 server to the application', async () => {
    const appStream = once(h2.server, 'stream');
    const request = session.request({ ':path': '/page' });
    request.on('error', () => {});
    const [stream] = (await within(appStream, EVENT_WAIT_MS, "the application's stream")) as [ServerHttp2Stream];
    stream.respond({ ':status': 204 });
    stream.end();
    const [headers] = (await within(once(request, 'response'), EVENT_WAIT_MS, 'the response')) as [Record<string, unknown>];
    assert.equal(headers[':status'], 204);
  });
});

describe('WebSocketServer over HTTP/2: limits and closing', { timeout: 15_000 }, () => {
  it('counts HTTP/2 WebSockets against maxConnections (503 + retry-after)', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server, maxConnections: 1 });
    const session = await openSession(h2.port);
    try {
      const first = await RawStreamSocket.open(session, '/');
      assert.equal(first.status, 200);
      const second = await RawStreamSocket.open(session, '/');
      assert.equal(second.status, 503);
      assert.equal(second.response['retry-after'], '5');
    } finally {
      session.destroy();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('a close ends only its stream with END_STREAM; the session and its other WebSockets go on', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const connections = collectEvents<WebSocketConnection>(wss, 'connection', 2);
    wss.on('connection', echo);
    const session = await openSession(h2.port);
    try {
      const a = await RawStreamSocket.open(session, '/a');
      const b = await RawStreamSocket.open(session, '/b');
      const [serverA] = await connections;
      const closed = nextEvent<[number, string]>(serverA!, 'close');
      // The server starts the closing handshake.
      serverA!.close(1000, 'done with a');
      const closeFrame = await a.readFrame();
      assert.equal(closeFrame.opcode, OP.CLOSE);
      assert.equal(closeFrame.payload.readUInt16BE(0), 1000);
      a.sendClose(1000);
      // RFC 8441 §5: the orderly close of the tunnel is END_STREAM, not a reset.
      await a.waitForEnd();
      a.stream.end();
      await a.waitForClose();
      assert.equal(a.stream.rstCode, constants.NGHTTP2_NO_ERROR);
      assert.deepEqual(await closed, [1000, '']);

      b.sendText('still here');
      assert.equal((await b.readFrame()).payload.toString(), 'still here');
      assert.equal(session.closed, false);
      assert.equal(wss.clients.size, 1);
    } finally {
      session.destroy();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('answers a client close on the stream and ends it', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const connected = nextEvent<[WebSocketConnection]>(wss, 'connection');
    const session = await openSession(h2.port);
    try {
      const socket = await RawStreamSocket.open(session, '/');
      const [ws] = await connected;
      const closed = nextEvent<[number, string]>(ws, 'close');
      socket.sendClose(4001, 'client leaving');
      const reply = await socket.readFrame();
      assert.equal(reply.opcode, OP.CLOSE);
      assert.equal(reply.payload.readUInt16BE(0), 4001);
      await socket.waitForEnd();
      socket.stream.end();
      assert.deepEqual(await closed, [4001, 'client leaving']);
    } finally {
      session.destroy();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('terminate() resets the stream with CANCEL (RFC 8441 §5), 1006 on the server side', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const connected = nextEvent<[WebSocketConnection]>(wss, 'connection');
    const session = await openSession(h2.port);
    try {
      const socket = await RawStreamSocket.open(session, '/');
      const [ws] = await connected;
      const closed = nextEvent<[number, string]>(ws, 'close');
      ws.terminate();
      await socket.waitForClose();
      assert.equal(socket.stream.rstCode, constants.NGHTTP2_CANCEL);
      assert.equal((await closed)[0], 1006);
    } finally {
      session.destroy();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('a session that dies closes all of its WebSockets with 1006', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const connections = collectEvents<WebSocketConnection>(wss, 'connection', 3);
    const session = await openSession(h2.port);
    const other = await openSession(h2.port);
    try {
      await RawStreamSocket.open(session, '/1');
      await RawStreamSocket.open(session, '/2');
      const survivor = await RawStreamSocket.open(other, '/3');
      const [one, two, three] = await connections;
      const closes = Promise.all([nextEvent<[number]>(one!, 'close'), nextEvent<[number]>(two!, 'close')]);
      let thirdClosed = false;
      three!.on('close', () => (thirdClosed = true));
      three!.on('message', (data) => three!.send(data));
      // The client's connection drops without a close frame on any stream.
      session.destroy();
      const codes = (await closes).map(([code]) => code);
      assert.deepEqual(codes, [1006, 1006]);
      // Another session's WebSocket is untouched.
      survivor.sendText('alive');
      assert.equal((await survivor.readFrame()).payload.toString(), 'alive');
      assert.equal(thirdClosed, false);
      assert.equal(wss.clients.size, 1);
    } finally {
      session.destroy();
      other.destroy();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('graceful close() closes HTTP/2 WebSockets with 1001', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const connected = nextEvent<[WebSocketConnection]>(wss, 'connection');
    const session = await openSession(h2.port);
    try {
      const socket = await RawStreamSocket.open(session, '/');
      await connected;
      const closing = wss.close({ timeout: 2000 });
      const frame = await socket.readFrame();
      assert.equal(frame.opcode, OP.CLOSE);
      assert.equal(frame.payload.readUInt16BE(0), 1001);
      socket.sendClose(1001);
      socket.stream.end();
      await within(closing, EVENT_WAIT_MS, 'close()');
      assert.equal(wss.clients.size, 0);
    } finally {
      session.destroy();
      await h2.stop();
    }
  });
});

describe('WebSocketServer over HTTP/2: shutdown during a handshake', { timeout: 15_000 }, () => {
  it('at its deadline, close() drops connections that did not close and streams whose verify never settled', async () => {
    const h2 = await startH2cServer();
    let verifying!: () => void;
    const verifyStarted = new Promise<void>((resolve) => (verifying = resolve));
    const wss = new WebSocketServer({
      server: h2.server,
      verify: (req) => {
        if (req.url !== '/stuck') return true;
        verifying();
        return new Promise<boolean>(() => {});
      },
    });
    const session = await openSession(h2.port);
    try {
      // A client that never answers the close frame keeps close() waiting until its deadline.
      const deaf = await RawStreamSocket.open(session, '/deaf');
      const stuck = session.request(webSocketConnectHeaders('/stuck'), { endStream: false });
      stuck.on('error', () => {});
      await within(verifyStarted, EVENT_WAIT_MS, 'verify to start');
      await within(wss.close({ timeout: 100 }), EVENT_WAIT_MS, 'close()');
      await deaf.waitForClose();
      if (!stuck.closed) await within(once(stuck, 'close'), EVENT_WAIT_MS, 'the undecided stream to be dropped');
      assert.equal(session.closed, false, 'only the streams go');
    } finally {
      session.destroy();
      await h2.stop();
    }
  });
});

describe('WebSocketServer over HTTP/2: handshakes cut short or answered wrongly', { timeout: 15_000 }, () => {
  /** An HTTP/2 server whose verify hook waits on `gate` for /slow (telling `entered`), true otherwise. */
  async function gatedServer(options: { maxConnections?: number } = {}) {
    const h2 = await startH2cServer();
    const gate = deferred<boolean>();
    const entered = deferred<ServerHttp2Stream>();
    const wss = new WebSocketServer({
      server: h2.server,
      perMessageDeflate: true,
      ...options,
      verify: (req) => {
        if (req.url !== '/slow') return true;
        assert.ok(req instanceof ExtendedConnectRequest);
        entered.resolve(req.stream);
        return gate.promise;
      },
    });
    const session = await openSession(h2.port);
    return { wss, session, gate, entered, stop: () => stopAll(session, wss, h2) };
  }

  for (const [offer, code] of [
    ['permessage-deflate', constants.NGHTTP2_CANCEL],
    ['', constants.NGHTTP2_INTERNAL_ERROR],
  ] as const) {
    it(`a stream reset (code ${code}) during an async verify: no connection, no crash, the slot is given back${offer === '' ? '' : ` (${offer} offered)`}`, async () => {
      const { wss, session, gate, entered, stop } = await gatedServer({ maxConnections: 1 });
      let connections = 0;
      wss.on('connection', () => connections++);
      try {
        const stream = session.request(webSocketConnectHeaders('/slow', { 'sec-websocket-extensions': offer }), { endStream: false });
        stream.on('error', () => {});
        const serverStream = await within(entered.promise, EVENT_WAIT_MS, 'verify');
        const serverClosed = new Promise((resolve) => serverStream.once('close', resolve));
        stream.close(code);
        await within(serverClosed, EVENT_WAIT_MS, 'the server stream to close');
        gate.resolve(true);
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(connections, 0);
        assert.equal(wss.clients.size, 0);
        // maxConnections is 1: the slot the reset handshake held is free again.
        const next = await RawStreamSocket.open(session, '/fast');
        assert.equal(next.status, 200);
        assert.equal(connections, 1);
        assert.equal(session.closed, false);
      } finally {
        await stop();
      }
    });
  }

  it('a verify hook returning a header HTTP/2 cannot send gets 500, and the session goes on', async () => {
    const h2 = await startH2cServer();
    const answers: Record<string, VerifyResult<unknown>> = {
      // Node refuses two values for a single-value field (ERR_HTTP2_HEADER_SINGLE_VALUE).
      '/twice': { accept: true, headers: { location: ['/a', '/b'] } },
      // A CR or LF would go out in HPACK as it is: refused before anything is sent.
      '/crlf': { accept: true, headers: { 'x-a': 'a\r\nx-evil: 1' } },
      '/bad-name': { accept: true, headers: { 'x a': '1' } },
      '/refuse-crlf': { accept: false, status: 401, headers: { 'x-a': 'a\r\nx-evil: 1' } },
      '/refuse-200': { accept: false, status: 200 },
    };
    const wss = new WebSocketServer({ server: h2.server, perMessageDeflate: true, verify: (req) => answers[req.url!] });
    let connections = 0;
    wss.on('connection', () => connections++);
    const session = await openSession(h2.port);
    try {
      for (const path of Object.keys(answers)) {
        for (const extensions of ['permessage-deflate', '']) {
          const socket = await RawStreamSocket.open(session, path, { 'sec-websocket-extensions': extensions });
          assert.equal(socket.status, 500, path);
          assert.equal(socket.response['x-evil'], undefined);
          assert.equal(socket.response['x-a'], undefined);
          assert.ok((await socket.readBody()).length > 0);
        }
      }
      assert.equal(connections, 0);
      assert.equal(wss.clients.size, 0);
      assert.equal(session.closed, false);
    } finally {
      await stopAll(session, wss, h2);
    }
  });

  it('shutdown during an HTTP/2 handshake: new streams get 503, and so does the one in verify when it settles', async () => {
    const { wss, session, gate, entered, stop } = await gatedServer();
    let connections = 0;
    wss.on('connection', () => connections++);
    try {
      const slow = session.request(webSocketConnectHeaders('/slow', { 'sec-websocket-extensions': 'permessage-deflate' }), { endStream: false });
      slow.on('error', () => {});
      const response = once(slow, 'response');
      await within(entered.promise, EVENT_WAIT_MS, 'verify');
      const closing = wss.close({ timeout: 5000 });
      const late = await RawStreamSocket.open(session, '/fast');
      assert.equal(late.status, 503);
      assert.match(await late.readBody(), /shutting down/);
      gate.resolve(true);
      const [headers] = (await within(response, EVENT_WAIT_MS, 'the answer to the stream in verify')) as [Record<string, unknown>];
      assert.equal(headers[':status'], 503);
      assert.equal(headers['sec-websocket-extensions'], undefined);
      await within(closing, EVENT_WAIT_MS, 'close()');
      assert.equal(connections, 0);
      assert.equal(session.closed, false);
    } finally {
      await stop();
    }
  });

  it('a stream handed over by hand after it was reset is left alone', async () => {
    // No router on this server: it advertises extended CONNECT itself (RFC 8441 §3).
    const h2 = await startH2cServer({ settings: { enableConnectProtocol: true } });
    const wss = new WebSocketServer({ noServer: true });
    const handled = deferred<void>();
    h2.server.on('stream', (stream: ServerHttp2Stream, headers) => {
      stream.on('error', () => {});
      stream.close(constants.NGHTTP2_CANCEL);
      stream.once('close', () => {
        wss.handleStream(stream, headers);
        handled.resolve();
      });
    });
    const session = await openSession(h2.port);
    try {
      const request = session.request(webSocketConnectHeaders('/'), { endStream: false });
      request.on('error', () => {});
      await within(handled.promise, EVENT_WAIT_MS, 'handleStream');
      assert.equal(wss.clients.size, 0);
      assert.equal(session.closed, false);
    } finally {
      await stopAll(session, wss, h2);
    }
  });

  it('negotiates permessage-deflate on the stream (RFC 8441 §5 keeps RFC 7692)', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server, perMessageDeflate: true });
    const connected = nextEvent<[WebSocketConnection]>(wss, 'connection');
    const session = await openSession(h2.port);
    try {
      const socket = await RawStreamSocket.open(session, '/', { 'sec-websocket-extensions': 'permessage-deflate' });
      assert.equal(socket.status, 200);
      assert.equal(socket.response['sec-websocket-extensions'], 'permessage-deflate; server_max_window_bits=13');
      const [ws] = await connected;
      assert.equal(ws.extensions, 'permessage-deflate; server_max_window_bits=13');
    } finally {
      await stopAll(session, wss, h2);
    }
  });
});

describe('WebSocketServer over HTTP/2: flow control', { timeout: 15_000 }, () => {
  it('a paused WebSocket exhausts only its stream window; the session keeps serving the others', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server });
    const connections = collectEvents<WebSocketConnection>(wss, 'connection', 2);
    const session = await openSession(h2.port);
    try {
      const slow = await RawStreamSocket.open(session, '/slow');
      const fast = await RawStreamSocket.open(session, '/fast');
      const [serverSlow, serverFast] = await connections;
      serverSlow!.pause();
      echo(serverFast!);
      const received: Buffer[] = [];
      serverSlow!.on('message', (data) => received.push(data));
      const big = Buffer.alloc(1024 * 1024, 7);
      let written = false;
      slow.stream.write(Buffer.concat([Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0]), big]), () => (written = true));
      // The client sends until the paused stream's window (64 KiB) is used up.
      const serverStream = serverSlow!.rawTransport as ServerHttp2Stream;
      await waitUntil(() => (serverStream.state.localWindowSize ?? Infinity) < 1024, EVENT_WAIT_MS, "the paused stream's window to fill");
      // The other stream's round trip proves the connection itself is not blocked.
      fast.sendText('ping');
      assert.equal((await fast.readFrame()).payload.toString(), 'ping');
      assert.equal(written, false, 'the paused stream still holds the client back');
      assert.ok(slow.stream.writableLength > 0);
      assert.equal(received.length, 0);
      serverSlow!.resume();
      await within(
        new Promise<void>((resolve) => serverSlow!.once('message', () => resolve())),
        5000,
        'the large message after resume',
      );
      assert.equal(received[0]!.length, big.length);
    } finally {
      session.destroy();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });

  it('send() reports backpressure when the client stops reading, and drain follows', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server, highWaterMark: 64 * 1024 });
    const connected = nextEvent<[WebSocketConnection]>(wss, 'connection');
    const session = await openSession(h2.port);
    try {
      const socket = await RawStreamSocket.open(session, '/');
      const [ws] = await connected;
      socket.stream.pause();
      socket.stream.removeAllListeners('data');
      const chunk = Buffer.alloc(32 * 1024, 1);
      let sent = 0;
      while (ws.send(chunk) && sent < 1000) sent++;
      assert.ok(sent < 1000, 'send() eventually returned false');
      assert.ok(ws.bufferedAmount >= 64 * 1024);
      const drained = nextEvent(ws, 'drain', 5000);
      let bytes = 0;
      socket.stream.on('data', (data: Buffer) => (bytes += data.length));
      socket.stream.resume();
      await drained;
      assert.ok(bytes > 0);
    } finally {
      session.destroy();
      await wss.close({ timeout: 200 });
      await h2.stop();
    }
  });
});

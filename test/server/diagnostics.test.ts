// The diagnostics_channel events (DIAGNOSTICS_CHANNELS): each channel subscribed to, and its
// messages checked for real handshakes, refusals, closes, protocol errors and backpressure, over
// HTTP/1.1 and over HTTP/2 (RFC 8441, cleartext and TLS).

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientHttp2Session, Http2SecureServer, Http2Server } from 'node:http2';
import {
  connect,
  DIAGNOSTICS_CHANNELS,
  ExtendedConnectRequest,
  HandshakeError,
  WebSocketServer,
  type BackpressureMessage,
  type ClientHandshakeErrorMessage,
  type ClientHandshakeMessage,
  type ConnectionCloseMessage,
  type ConnectionOpenMessage,
  type HandshakeAcceptedMessage,
  type HandshakeRefusedMessage,
  type ProtocolErrorMessage,
  type WebSocketConnection,
} from '../../src/index.js';
import { destroyRawClients, RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { encodeFrame, OP, parseClosePayload } from '../helpers/frames.js';
import { collectEvents, EVENT_WAIT_MS, nextEvent, within } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { makeTestCertificate, openSession, RawStreamSocket, startH2cServer, startH2Server, type StartedH2 } from '../http2/support/h2.js';

/** Collects the messages published on one channel until stopped. */
class Recorder<T> {
  readonly messages: T[] = [];
  #waiters: (() => void)[] = [];
  readonly #listener = (message: unknown): void => {
    this.messages.push(message as T);
    for (const wake of this.#waiters.splice(0)) wake();
  };

  constructor(readonly name: string) {
    subscribe(name, this.#listener);
    recorders.push(this);
  }

  /** The first message (from `from` on) that `match` accepts, waiting for it if need be. */
  async next(match: (message: T) => boolean = () => true, ms = EVENT_WAIT_MS): Promise<T> {
    const find = (): T | undefined => this.messages.find(match);
    return within(
      (async () => {
        for (;;) {
          const found = find();
          if (found !== undefined) return found;
          await new Promise<void>((resolve) => this.#waiters.push(resolve));
        }
      })(),
      ms,
      `a message on ${this.name}`,
    );
  }

  stop(): void {
    unsubscribe(this.name, this.#listener);
  }
}

const recorders: Recorder<unknown>[] = [];

function record<T>(name: string): Recorder<T> {
  return new Recorder<T>(name);
}

function stopRecording(): void {
  for (const recorder of recorders.splice(0)) recorder.stop();
}

describe('diagnostics channels: names', () => {
  it('are prefixed upshift: and distinct', () => {
    const names = Object.values(DIAGNOSTICS_CHANNELS);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^upshift:[a-z]+:[a-z_]+$/);
    assert.equal(DIAGNOSTICS_CHANNELS.handshakeAccepted, 'upshift:handshake:accepted');
    assert.equal(DIAGNOSTICS_CHANNELS.close, 'upshift:connection:close');
  });
});

describe('diagnostics channels over HTTP/1.1', { timeout: 20_000 }, () => {
  let server: StartedServer<unknown>;

  before(async () => {
    server = await startServer({
      path: '/ws',
      protocols: ['chat'],
      perMessageDeflate: true,
      origins: (origin) => origin !== 'http://evil.example',
      highWaterMark: 16 * 1024,
      verify: (req) => {
        if (req.headers['x-token'] === 'deny') return { accept: false, status: 401, body: 'who are you' };
        // Valid on its own, but the handshake sets it: building the 101 fails (500).
        if (req.headers['x-token'] === 'bad-header') return { accept: true, headers: { 'Sec-WebSocket-Accept': 'x' } };
        return true;
      },
    });
  });
  afterEach(() => {
    stopRecording();
    destroyRawClients();
  });
  after(() => server.stop());

  it('an accepted handshake: server and client side, and both opens', async () => {
    const accepted = record<HandshakeAcceptedMessage>(DIAGNOSTICS_CHANNELS.handshakeAccepted);
    const opened = record<ConnectionOpenMessage>(DIAGNOSTICS_CHANNELS.open);
    const client = record<ClientHandshakeMessage>(DIAGNOSTICS_CHANNELS.clientHandshake);
    const connection = server.nextConnection();
    const ws = await connect(server.url('/ws?room=1'), { protocols: ['chat'], perMessageDeflate: true });
    const serverSide = await connection;
    const message = await accepted.next();
    assert.equal(message.server, server.wss);
    assert.equal(message.connection, serverSide);
    assert.equal(message.path, '/ws');
    assert.equal(message.request.url, '/ws?room=1');
    assert.equal(message.protocol, 'chat');
    assert.match(message.extensions, /^permessage-deflate/);
    assert.equal(message.transport, 'http/1.1');
    assert.equal(accepted.messages.length, 1);
    const handshake = await client.next();
    assert.equal(handshake.connection, ws);
    assert.equal(handshake.url, server.url('/ws?room=1'));
    assert.equal(handshake.protocol, 'chat');
    assert.match(handshake.extensions, /^permessage-deflate/);
    assert.equal(handshake.transport, 'http/1.1');
    assert.deepEqual(
      opened.messages.map((m) => m.role).sort(),
      ['client', 'server'],
    );
    assert.equal((await opened.next((m) => m.role === 'server')).connection, serverSide);
    assert.equal((await opened.next((m) => m.role === 'client')).connection, ws);
    ws.close(1000);
    await nextEvent(ws, 'close');
  });

  it('refusals: bad version (426), missing key (400), origin (403), verify (401), unsendable headers (500)', async () => {
    const refused = record<HandshakeRefusedMessage>(DIAGNOSTICS_CHANNELS.handshakeRefused);
    const answers = [
      await rawRequest(server.port, upgradeRequest('/ws?q', { 'Sec-WebSocket-Version': '8' })),
      await rawRequest(server.port, upgradeRequest('/ws', { 'Sec-WebSocket-Key': '' })),
      await rawRequest(server.port, upgradeRequest('/ws', { Origin: 'http://evil.example' })),
      await rawRequest(server.port, upgradeRequest('/ws', { 'X-Token': 'deny' })),
      await rawRequest(server.port, upgradeRequest('/ws', { 'X-Token': 'bad-header' })),
    ];
    assert.deepEqual(
      answers.map((a) => a.status),
      [426, 400, 403, 401, 500],
    );
    const seen = refused.messages.map((m) => [m.status, m.stage, m.path, m.transport, m.remoteAddress, m.server === server.wss]);
    assert.deepEqual(seen, [
      [426, 'request', '/ws', 'http/1.1', '127.0.0.1', true],
      [400, 'request', '/ws', 'http/1.1', '127.0.0.1', true],
      [403, 'policy', '/ws', 'http/1.1', '127.0.0.1', true],
      [401, 'verify', '/ws', 'http/1.1', '127.0.0.1', true],
      [500, 'response', '/ws', 'http/1.1', '127.0.0.1', true],
    ]);
    // The reason is the body the client got.
    for (let i = 0; i < answers.length; i++) assert.equal(refused.messages[i]!.reason.trim(), answers[i]!.body.trim());
    assert.equal(refused.messages[3]!.reason, 'who are you');
  });

  it('a client whose handshake is refused publishes the failure with the status', async () => {
    const failed = record<ClientHandshakeErrorMessage>(DIAGNOSTICS_CHANNELS.clientHandshakeError);
    await assert.rejects(connect(server.url('/ws'), { origin: 'http://evil.example' }), HandshakeError);
    const message = await failed.next();
    assert.equal(message.url, server.url('/ws'));
    assert.equal(message.status, 403);
    assert.ok(message.error instanceof HandshakeError);
    await assert.rejects(connect(server.url('/ws'), { handshakeTimeout: 5000, signal: AbortSignal.abort() }), HandshakeError);
    assert.equal((await failed.next((m) => m.status === undefined)).url, server.url('/ws'));
  });

  it('a clean close: code, reason, wasClean and duration, on both sides', async () => {
    const closed = record<ConnectionCloseMessage>(DIAGNOSTICS_CHANNELS.close);
    const connection = server.nextConnection();
    const started = Date.now();
    const ws = await connect(server.url('/ws'));
    const serverSide = await connection;
    ws.close(4001, 'bye');
    await nextEvent(ws, 'close');
    // The server's side may finish after the client's 'close': its message is the end of the span.
    const onServer = await closed.next((m) => m.role === 'server');
    const elapsed = Date.now() - started;
    assert.equal(onServer.connection, serverSide);
    assert.equal(onServer.code, 4001);
    assert.equal(onServer.reason, 'bye');
    assert.equal(onServer.wasClean, true);
    assert.ok(onServer.durationMs >= 0 && onServer.durationMs <= elapsed, `${onServer.durationMs} ms of ${elapsed}`);
    const onClient = await closed.next((m) => m.role === 'client');
    assert.equal(onClient.connection, ws);
    assert.equal(onClient.code, 4001);
    assert.equal(onClient.wasClean, true);
  });

  it('a dropped connection: 1006, not clean', async () => {
    const closed = record<ConnectionCloseMessage>(DIAGNOSTICS_CHANNELS.close);
    const connection = server.nextConnection();
    const ws = await connect(server.url('/ws'));
    const serverSide = await connection;
    ws.terminate();
    const onServer = await closed.next((m) => m.connection === serverSide);
    assert.equal(onServer.code, 1006);
    assert.equal(onServer.reason, '');
    assert.equal(onServer.wasClean, false);
  });

  it('a protocol error: an unmasked client frame fails the connection with 1002', async () => {
    const errors = record<ProtocolErrorMessage>(DIAGNOSTICS_CHANNELS.protocolError);
    const closed = record<ConnectionCloseMessage>(DIAGNOSTICS_CHANNELS.close);
    const connection = server.nextConnection();
    const { client, response } = await RawClient.open(server.port, '/ws');
    assert.equal(response.status, 101);
    const serverSide = await connection;
    serverSide.on('error', () => {});
    // RFC 6455 §5.1: a server must fail the connection on an unmasked frame.
    await client.write(encodeFrame(OP.TEXT, 'hello', { mask: false }));
    const message = await errors.next();
    assert.equal(message.connection, serverSide);
    assert.equal(message.role, 'server');
    assert.equal(message.error.code, 'WS_ERR_EXPECTED_MASK');
    assert.equal(message.error.closeCode, 1002);
    const frame = await client.readFrameOf(OP.CLOSE);
    assert.equal(parseClosePayload(frame.frame.payload).code, 1002);
    client.destroy();
    const close = await closed.next((m) => m.connection === serverSide);
    assert.equal(close.wasClean, false);
  });

  it('backpressure: high once when send() says wait, low when the peer has read it all', async () => {
    const high = record<BackpressureMessage>(DIAGNOSTICS_CHANNELS.backpressureHigh);
    const low = record<BackpressureMessage>(DIAGNOSTICS_CHANNELS.backpressureLow);
    const connection = server.nextConnection();
    const ws = await connect(server.url('/ws'));
    const serverSide = await connection;
    // The client stops reading: what the server sends piles up in its buffers.
    ws.pause();
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    do sent++;
    while (serverSide.send(chunk, { compress: false }));
    // More sends while over the mark are the same episode.
    serverSide.send(chunk, { compress: false });
    sent++;
    assert.equal(high.messages.length, 1);
    const message = high.messages[0]!;
    assert.equal(message.connection, serverSide);
    assert.equal(message.role, 'server');
    assert.equal(message.highWaterMark, 16 * 1024);
    assert.ok(message.bufferedAmount >= message.highWaterMark);
    const drained = nextEvent(serverSide, 'drain', 5000);
    const everything = collectEvents(ws, 'message', sent, 5000);
    ws.resume();
    await drained;
    const lowered = await low.next((m) => m.connection === serverSide);
    assert.ok(lowered.bufferedAmount < lowered.highWaterMark);
    assert.equal(high.messages.filter((m) => m.connection === serverSide).length, 1);
    await everything;
    ws.close(1000);
    await nextEvent(ws, 'close');
  });

  it('the listener of a server Upshift created: 503 before the request head is read', async () => {
    const full = await startServer({ maxConnections: 1 });
    try {
      const refused = record<HandshakeRefusedMessage>(DIAGNOSTICS_CHANNELS.handshakeRefused);
      const ws = await connect(full.url('/'));
      const answer = await rawRequest(full.port, upgradeRequest('/'));
      assert.equal(answer.status, 503);
      const message = await refused.next();
      assert.deepEqual([message.status, message.stage, message.path, message.transport, message.remoteAddress], [503, 'listener', '', 'http/1.1', '127.0.0.1']);
      assert.equal(message.server, full.wss);
      ws.close();
    } finally {
      await full.stop();
    }
  });
});

describe('diagnostics channels over HTTP/2 (RFC 8441)', { timeout: 20_000 }, () => {
  let h2: StartedH2<Http2Server>;
  let wss: WebSocketServer;
  let session: ClientHttp2Session;

  before(async () => {
    h2 = await startH2cServer();
    wss = new WebSocketServer({
      server: h2.server,
      path: '/ws',
      origins: ['http://good.example'],
      // Node refuses two values for a single-value field when responding (500).
      verify: (req) => (req.headers['x-token'] === 'bad-header' ? { accept: true, headers: { location: ['/a', '/b'] } } : true),
    });
    session = await openSession(h2.port);
  });
  afterEach(() => stopRecording());
  after(async () => {
    session.destroy();
    await wss.close({ timeout: 200 });
    await h2.stop();
  });

  it('accepted over h2c: the ExtendedConnectRequest, the transport', async () => {
    const accepted = record<HandshakeAcceptedMessage>(DIAGNOSTICS_CHANNELS.handshakeAccepted);
    const connection = nextEvent<[WebSocketConnection]>(wss, 'connection');
    const socket = await RawStreamSocket.open(session, '/ws?a=b', { origin: 'http://good.example' });
    assert.equal(socket.status, 200);
    const [serverSide] = await connection;
    const message = await accepted.next();
    assert.equal(message.transport, 'h2c');
    assert.equal(message.path, '/ws');
    assert.equal(message.connection, serverSide);
    assert.ok(message.request instanceof ExtendedConnectRequest);
    assert.equal(wss.stats().connections.byTransport.h2c, 1);
    socket.sendClose(1000);
    await socket.waitForEnd();
  });

  it('refused over h2c: bad version (400, request), origin (403, policy), headers (500, response)', async () => {
    const refused = record<HandshakeRefusedMessage>(DIAGNOSTICS_CHANNELS.handshakeRefused);
    const statuses: number[] = [];
    for (const extra of [
      { 'sec-websocket-version': '8', origin: 'http://good.example' },
      { origin: 'http://evil.example' },
      { origin: 'http://good.example', 'x-token': 'bad-header' },
    ]) {
      const socket = await RawStreamSocket.open(session, '/ws', extra);
      statuses.push(socket.status);
      await socket.readBody();
    }
    assert.deepEqual(statuses, [400, 403, 500]);
    assert.deepEqual(
      refused.messages.map((m) => [m.status, m.stage, m.path, m.transport, m.remoteAddress, m.server === wss]),
      [
        [400, 'request', '/ws', 'h2c', '127.0.0.1', true],
        [403, 'policy', '/ws', 'h2c', '127.0.0.1', true],
        [500, 'response', '/ws', 'h2c', '127.0.0.1', true],
      ],
    );
  });

  it('a client over HTTP/2 publishes its handshake with transport h2', async () => {
    const client = record<ClientHandshakeMessage>(DIAGNOSTICS_CHANNELS.clientHandshake);
    const ws = await connect(`ws://127.0.0.1:${h2.port}/ws`, { http2: true, origin: 'http://good.example' });
    const message = await client.next();
    assert.equal(message.connection, ws);
    assert.equal(message.transport, 'h2');
    ws.close(1000);
    await nextEvent(ws, 'close');
  });
});

describe('diagnostics channels over HTTP/2 with TLS', { timeout: 30_000 }, () => {
  const certificate = makeTestCertificate();
  const skip = 'skip' in certificate ? certificate.skip : false;
  let h2: StartedH2<Http2SecureServer>;
  let wss: WebSocketServer;

  before(async () => {
    if ('skip' in certificate) return;
    h2 = await startH2Server(certificate);
    wss = new WebSocketServer({ server: h2.server, path: '/ws' });
  });
  after(async () => {
    if ('skip' in certificate) return;
    await wss.close({ timeout: 200 });
    await h2.stop();
  });
  afterEach(() => stopRecording());

  it('accepted over h2, and over HTTP/1.1 on the same TLS server', { skip }, async () => {
    if ('skip' in certificate) return;
    const accepted = record<HandshakeAcceptedMessage>(DIAGNOSTICS_CHANNELS.handshakeAccepted);
    const tls = { ca: certificate.cert };
    const overH2 = await connect(`wss://127.0.0.1:${h2.port}/ws`, { http2: true, tls });
    const overH1 = await connect(`wss://127.0.0.1:${h2.port}/ws`, { tls });
    await accepted.next((m) => m.transport === 'http/1.1');
    assert.deepEqual(accepted.messages.map((m) => m.transport).sort(), ['h2', 'http/1.1']);
    const stats = wss.stats();
    assert.deepEqual(stats.connections.byTransport, { 'http/1.1': 1, h2: 1, h2c: 0 });
    assert.deepEqual(stats.handshakes.acceptedByTransport, { 'http/1.1': 1, h2: 1, h2c: 0 });
    for (const ws of [overH2, overH1]) {
      ws.close(1000);
      await nextEvent(ws, 'close');
    }
  });
});

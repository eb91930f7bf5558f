// What an idle connection keeps once its handshake is over (issue 13): nothing of the listener's
// head reading on the socket and no property of the connection's either, one 'error' listener
// (the connection's), no idle timer, a listener table in V8's fast mode, three own properties on
// the connection, and settings shared between the connections of a server without one server's
// limits leaking into another's connections.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { connect } from '../../src/client/connect.js';
import { activityOf, type WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';
import { HOST, startHttpServer, startServer, type StartedServer } from '../helpers/server.js';

setFlagsFromString('--allow-natives-syntax');
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- V8's %HasFastProperties needs a function compiled after the flag.
const hasFastProperties = new Function('object', 'return %HasFastProperties(object)') as (object: object) => boolean;

async function pair(server: StartedServer<unknown>, options: Parameters<typeof connect>[1] = {}): Promise<{ server: WebSocketConnection; client: WebSocketConnection }> {
  const accepted = server.nextConnection();
  const client = await connect(server.url(), { handshakeTimeout: 2000, ...options });
  return { server: await accepted, client };
}

async function closeBoth(client: WebSocketConnection): Promise<void> {
  const closed = once(client, 'close');
  client.close();
  await within(closed, EVENT_WAIT_MS, 'the client to close');
}

describe('an idle server connection', { timeout: 15_000 }, () => {
  let server: StartedServer<unknown>;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('keeps nothing of the listener on its socket: no head state, one error listener, no timeout', async () => {
    const { server: ws, client } = await pair(server);
    const socket = ws.rawTransport as Socket;
    const symbols = Object.getOwnPropertySymbols(socket).map((symbol) => symbol.description);
    assert.ok(!symbols.includes('upshift.head'), `socket symbols: ${symbols.join(', ')}`);
    // Nothing of the connection either: the socket has net.Socket's own properties and no more.
    // One more would not fit the socket's shape and cost a PropertyArray (40 bytes) per connection.
    const own = new Set(Reflect.ownKeys(new Socket()).map(String));
    assert.deepEqual(Reflect.ownKeys(socket).map(String).filter((key) => !own.has(key)), []);
    // The connection's own listener only: the listener's and the router's were removed.
    assert.equal(socket.listenerCount('error'), 1);
    assert.equal(socket.listenerCount('data'), 1);
    // No socket.setTimeout(0) on a socket that never had a timeout (it adds a property).
    assert.equal(Object.hasOwn(socket, 'timeout'), false);
    await closeBoth(client);
  });

  it('has a listener table in fast mode that behaves like EventEmitter’s', async () => {
    const { server: ws, client } = await pair(server);
    const table = (ws as unknown as { _events: object })._events;
    // Any event name: the typed API only knows the connection's own events.
    const emitter = ws as unknown as NodeJS.EventEmitter;
    const calls: string[] = [];
    const onMessage = (): void => void calls.push('message');
    ws.on('message', onMessage);
    ws.on('error', () => calls.push('error'));
    assert.ok(hasFastProperties(table), 'the listener table is in dictionary mode');
    // Names of Object.prototype members are ordinary event names: no listener until added.
    assert.equal(ws.listenerCount('toString'), 0);
    assert.equal(ws.listenerCount('constructor'), 0);
    emitter.on('toString', () => calls.push('toString'));
    assert.equal(emitter.emit('toString'), true);
    assert.equal(emitter.emit('hasOwnProperty'), false);
    assert.deepEqual(ws.eventNames(), ['message', 'error', 'toString']);
    ws.emit('message', Buffer.alloc(0), false);
    ws.off('message', onMessage);
    assert.equal(ws.listenerCount('message'), 0);
    ws.removeAllListeners('toString');
    assert.deepEqual(ws.eventNames(), ['error']);
    assert.deepEqual(calls, ['toString', 'message']);
    await closeBoth(client);
  });

  it('keeps no output batch or parser state once a message went both ways, and no close state before closing', async () => {
    const { server: ws, client } = await pair(server);
    // Private state of the connection's link and its protocol core (null: none kept).
    const link = activityOf(ws) as unknown as { out: unknown; extra: unknown; core: { rx: unknown; tx: unknown } };
    for (const field of ['out', 'extra', 'core'] as const) assert.ok(field in link, `the link has no '${field}' any more; update this test`);
    // Its fields (issue 13): each one more is 8 bytes on every connection. Bytes held while input
    // is held live in `extra`, which only such connections have.
    assert.ok(Reflect.ownKeys(link).length <= 10, `the link has ${Reflect.ownKeys(link).length} fields`);
    assert.equal(link.out, null);
    assert.equal(link.extra, null);
    ws.on('message', (data) => ws.send(data));
    // A message large enough to come in several socket reads, then a small one.
    for (const size of [300_000, 10]) {
      const echoed = once(client, 'message');
      client.send(Buffer.alloc(size, 7));
      const [data] = (await within(echoed, 5000, 'the echo')) as [Buffer];
      assert.equal(data.length, size);
    }
    assert.equal(link.out, null);
    assert.equal(link.core.rx, null);
    assert.equal(link.core.tx, null);
    assert.equal(ws.closeCode, 1006);
    assert.equal(ws.droppedMessages, 0);
    const closed = once(ws, 'close');
    client.close(4001, 'bye');
    const [code, reason] = (await within(closed, EVENT_WAIT_MS, 'the server side to close')) as [number, string];
    assert.deepEqual([code, reason, ws.closeCode, ws.closeReason], [4001, 'bye', 4001, 'bye']);
    assert.equal(link.out, null);
  });

  it("has one 'end' listener on its socket, and still closes at the peer's FIN", async () => {
    const http = await startHttpServer();
    const attached = new WebSocketServer({ server: http.server });
    try {
      // A standalone server's socket refuses half-open connections, an HTTP server's allows them.
      for (const kind of ['standalone', 'attached'] as const) {
        let ws: WebSocketConnection;
        let client: WebSocketConnection;
        if (kind === 'standalone') {
          ({ server: ws, client } = await pair(server));
        } else {
          const accepted = new Promise<WebSocketConnection>((resolve) => attached.once('connection', resolve));
          client = await connect(`ws://${HOST}:${http.port}/`, { handshakeTimeout: 2000 });
          ws = await within(accepted, EVENT_WAIT_MS, 'a connection');
        }
        const socket = ws.rawTransport as Socket;
        assert.equal(socket.allowHalfOpen, kind === 'attached');
        // One listener, no array: net's own (which ends our side) or ours in place of net's no-op.
        assert.equal(socket.listenerCount('end'), 1, `${kind}: 'end' listeners`);
        const closed = once(ws, 'close');
        // The peer half-closes without a close frame: the server ends its side too (no lingering
        // half-open socket) and the connection closes abnormally (RFC 6455 §7.1.5).
        (client.rawTransport as Socket).end();
        const [code] = (await within(closed, EVENT_WAIT_MS, `${kind}: the server side to close`)) as [number];
        assert.equal(code, 1006);
        await within(once(client, 'close'), EVENT_WAIT_MS, `${kind}: the client to see the close`);
      }
    } finally {
      await within(attached.close({ timeout: 200 }), EVENT_WAIT_MS, 'the WebSocket server to close');
      await http.stop();
    }
  });

  it("finds net's 'end' listener without copying the listener list for every connection", async () => {
    const rawListeners = Socket.prototype.rawListeners;
    let copies = 0;
    Socket.prototype.rawListeners = function (this: Socket, event: string | symbol) {
      if (event === 'end') copies++;
      return rawListeners.call(this, event);
    } as typeof rawListeners;
    const pairs: { server: WebSocketConnection; client: WebSocketConnection }[] = [];
    try {
      for (let i = 0; i < 4; i++) pairs.push(await pair(server));
    } finally {
      Socket.prototype.rawListeners = rawListeners;
    }
    // At most once per process (the first connection's socket shows net's listener).
    assert.ok(copies <= 1, `${copies} copies for 4 connections`);
    for (const { server: ws } of pairs) assert.equal((ws.rawTransport as Socket).listenerCount('end'), 1);
    for (const { client } of pairs) await closeBoth(client);
  });

  it('has three own properties: the listener table, its count and data', async () => {
    const { server: ws, client } = await pair(server);
    // EventEmitter's other fields (_maxListeners, the capture flag, the shape mode) are read from
    // EventEmitter.prototype; protocol and extensions from the settings the server's connections share.
    assert.deepEqual(Reflect.ownKeys(ws), ['_events', '_eventsCount', 'data']);
    assert.ok(ws instanceof EventEmitter);
    assert.equal(ws.getMaxListeners(), EventEmitter.defaultMaxListeners);
    ws.setMaxListeners(3);
    assert.equal(ws.getMaxListeners(), 3);
    const { server: other, client: otherClient } = await pair(server);
    assert.equal(other.getMaxListeners(), EventEmitter.defaultMaxListeners);
    await closeBoth(otherClient);
    await closeBoth(client);
  });

  it('keeps heartbeat times as they were set', async () => {
    const before = Date.now();
    const { server: ws, client } = await pair(server);
    const activity = activityOf(ws);
    assert.ok(activity.lastReceived >= before - 1 && activity.lastReceived <= Date.now() + 1, `lastReceived ${activity.lastReceived}`);
    for (const at of [Date.now() + 12_345, Date.now() - 12_345, Date.now() + 40 * 86_400_000]) {
      // The last one is past the small-integer range of the epoch (24.8 days): kept exactly too.
      activity.lastPing = at;
      assert.equal(activity.lastPing, at);
    }
    await closeBoth(client);
  });
});

describe('settings shared between connections', { timeout: 15_000 }, () => {
  it('each connection keeps its own server’s limits when two servers take turns', async () => {
    const small = await startServer({ maxPayload: 16, highWaterMark: 64 });
    const large = await startServer({ maxPayload: 4096, highWaterMark: 1 << 20 });
    try {
      const pairs: { limit: 'small' | 'large'; server: WebSocketConnection; client: WebSocketConnection }[] = [];
      for (let i = 0; i < 4; i++) {
        const limit = i % 2 === 0 ? 'small' : 'large';
        pairs.push({ limit, ...(await pair(limit === 'small' ? small : large)) });
      }
      for (const { limit, server: ws, client } of pairs) {
        // highWaterMark: 100 bytes buffered is over the small server's mark only.
        assert.equal(ws.send(Buffer.alloc(100)), limit === 'large', `send() on a ${limit} connection`);
        // maxPayload: 100 bytes is over the small server's limit only (1009, RFC 6455 §7.4.1).
        const closed = once(client, 'close');
        const echoed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
        client.send(Buffer.alloc(100));
        if (limit === 'small') {
          const [code] = (await within(closed, EVENT_WAIT_MS, 'the small server to refuse')) as [number];
          assert.equal(code, 1009);
        } else {
          await within(echoed, EVENT_WAIT_MS, 'the large server to take the message');
          await closeBoth(client);
        }
      }
    } finally {
      await small.stop();
      await large.stop();
    }
  });

  it('connections with different subprotocols each keep theirs; those alike share their settings', async () => {
    const chat = await startServer({ protocols: ['chat', 'feed', 'log'] });
    try {
      const pairs: { protocol: string; server: WebSocketConnection; client: WebSocketConnection }[] = [];
      // Four kinds in turn, each twice (with their clients' in this process: the 8 remembered).
      for (const protocol of ['chat', 'feed', 'log', '', 'chat', 'feed', 'log', '']) {
        pairs.push({ protocol, ...(await pair(chat, protocol === '' ? {} : { protocols: [protocol] })) });
      }
      for (const { protocol, server: ws, client } of pairs) {
        assert.equal(ws.protocol, protocol);
        assert.equal(client.protocol, protocol);
        assert.equal(ws.extensions, '');
      }
      const settingsOf = (ws: WebSocketConnection): unknown => (activityOf(ws) as unknown as { settings: unknown }).settings;
      assert.ok(settingsOf(pairs[0]!.server) !== undefined, "the link has no 'settings' any more; update this test");
      for (let i = 0; i < 4; i++) assert.equal(settingsOf(pairs[i]!.server), settingsOf(pairs[i + 4]!.server), pairs[i]!.protocol);
      assert.notEqual(settingsOf(pairs[0]!.server), settingsOf(pairs[1]!.server));
      for (const { client } of pairs) await closeBoth(client);
    } finally {
      await chat.stop();
    }
  });

  it('an attached server’s idle timeout is cleared on the upgraded socket', async () => {
    const http = await startHttpServer();
    http.server.setTimeout(60_000);
    const wss = new WebSocketServer({ server: http.server });
    try {
      const accepted = new Promise<WebSocketConnection>((resolve) => wss.once('connection', resolve));
      const client = await connect(`ws://${HOST}:${http.port}/`, { handshakeTimeout: 2000 });
      const socket = (await within(accepted, EVENT_WAIT_MS, 'a connection')).rawTransport as Socket;
      assert.equal(socket.timeout, 0);
      assert.equal(socket.listenerCount('error'), 1);
      await closeBoth(client);
    } finally {
      await within(wss.close({ timeout: 200 }), EVENT_WAIT_MS, 'the WebSocket server to close');
      await http.stop();
    }
  });
});

describe('the process around the connections', { timeout: 15_000 }, () => {
  it('the library does not load node:http2 until HTTP/2 is used', async () => {
    // Loading node:http2 opens process.stderr (through node:assert); a pipe there is a net.Socket
    // made while V8 still sizes sockets, and every later socket is 40 bytes larger (issue 13).
    const modules = ['index.js'].map((m) => new URL(`../../src/${m}`, import.meta.url).href);
    const script = `for (const m of ${JSON.stringify(modules)}) await import(m); console.log(JSON.stringify(process.moduleLoadList.filter((m) => m === 'NativeModule http2' || m === 'NativeModule assert')));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const [code] = (await within(once(child, 'exit'), 10_000, 'the child process')) as [number];
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), []);
  });
});

// The WebSocketConnection API between a server and a Node client over loopback.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { collectEvents, nextEvent, within } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';

/** A connected pair: the server's side and the client's side of one connection. */
async function pair(server: StartedServer<unknown>, options: Parameters<typeof connect>[1] = {}): Promise<{ server: WebSocketConnection; client: WebSocketConnection }> {
  const accepted = server.nextConnection();
  const client = await connect(server.url(), { handshakeTimeout: 2000, ...options });
  return { server: await accepted, client };
}

describe('WebSocketConnection over loopback', { timeout: 15_000 }, () => {
  let server: StartedServer<unknown>;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('text stays text and binary stays binary, both ways', async () => {
    const { server: s, client: c } = await pair(server);
    const atClient = collectEvents<[Buffer, boolean]>(c, 'message', 4);
    const clientMessages: [Buffer, boolean][] = [];
    c.on('message', (data, isBinary) => clientMessages.push([data, isBinary]));
    s.send('héllo');
    s.send(Buffer.from([0, 1, 2]));
    s.send(new Uint8Array([3, 4]).buffer);
    s.send('forced binary', { binary: true });
    await atClient;
    assert.deepEqual(
      clientMessages.map(([data, isBinary]) => [isBinary ? [...data] : data.toString(), isBinary]),
      [['héllo', false], [[0, 1, 2], true], [[3, 4], true], [[...Buffer.from('forced binary')], true]],
    );

    const serverMessages: [Buffer, boolean][] = [];
    s.on('message', (data, isBinary) => serverMessages.push([data, isBinary]));
    const atServer = collectEvents(s, 'message', 3);
    c.send('from client');
    c.send(Buffer.from('bytes'));
    c.send(new Uint16Array([0x0102]));
    await atServer;
    assert.deepEqual(serverMessages.map(([data, isBinary]) => [data.toString('latin1'), isBinary]), [
      ['from client', false],
      ['bytes', true],
      [Buffer.from(new Uint16Array([0x0102]).buffer).toString('latin1'), true],
    ]);
    c.terminate();
  });

  it('a fragmented send (fin: false) arrives as one message', async () => {
    const { server: s, client: c } = await pair(server);
    const message = nextEvent<[Buffer, boolean]>(c, 'message');
    s.send('part one, ', { fin: false });
    s.send('part two, ', { fin: false });
    s.send('end');
    const [data, isBinary] = await message;
    assert.equal(data.toString(), 'part one, part two, end');
    assert.equal(isBinary, false);
    c.terminate();
  });

  it("send() returns false at the high-water mark and 'drain' follows (mark below the socket's own)", async () => {
    const small = await startServer({ highWaterMark: 1024 });
    try {
      const { server: s, client: c } = await pair(small);
      const received = nextEvent<[Buffer]>(c, 'message');
      assert.equal(s.send(Buffer.alloc(100)), true, 'under the mark');
      assert.equal(s.send(Buffer.alloc(4096, 7)), false, 'over the mark');
      assert.ok(s.bufferedAmount >= 4096, `bufferedAmount ${s.bufferedAmount}`);
      await nextEvent(s, 'drain');
      assert.equal(s.bufferedAmount, 0);
      await received;
      c.terminate();
    } finally {
      await small.stop();
    }
  });

  it("'drain' follows backpressure from a peer that stopped reading", async () => {
    const { server: s, client: c } = await pair(server);
    c.pause();
    const chunk = Buffer.alloc(1024 * 1024, 1);
    const count = 8;
    let accepted = 0;
    for (let i = 0; i < count; i++) if (s.send(chunk)) accepted++;
    assert.equal(accepted, 0, 'every 1 MiB send is over the 64 KiB mark');
    assert.ok(s.bufferedAmount >= count * chunk.length, `bufferedAmount ${s.bufferedAmount}`);
    const drained = nextEvent(s, 'drain', 5000);
    const all = collectEvents<Buffer>(c, 'message', count, 5000);
    c.resume();
    await drained;
    assert.ok(s.bufferedAmount < 64 * 1024);
    const messages = await all;
    assert.equal(messages.reduce((sum, data) => sum + data.length, 0), count * chunk.length);
    c.terminate();
  });

  it("ping and pong events, with automatic pongs echoing the payload (RFC 6455 §5.5.2)", async () => {
    const { server: s, client: c } = await pair(server);
    const clientPing = nextEvent<[Buffer]>(c, 'ping');
    const serverPong = nextEvent<[Buffer]>(s, 'pong');
    s.ping('heartbeat');
    assert.equal((await clientPing)[0].toString(), 'heartbeat');
    assert.equal((await serverPong)[0].toString(), 'heartbeat');

    const serverPing = nextEvent<[Buffer]>(s, 'ping');
    const clientPong = nextEvent<[Buffer]>(c, 'pong');
    c.ping(Buffer.from([1, 2, 3]));
    assert.deepEqual([...(await serverPing)[0]], [1, 2, 3]);
    assert.deepEqual([...(await clientPong)[0]], [1, 2, 3]);

    // An unsolicited pong is just an event.
    const unsolicited = nextEvent<[Buffer]>(c, 'pong');
    s.pong('u');
    assert.equal((await unsolicited)[0].toString(), 'u');
    assert.throws(() => s.ping(Buffer.alloc(126)), RangeError);
    c.terminate();
  });

  it('close(code, reason) from the server: the client sees both, the server sees the echoed code', async () => {
    const { server: s, client: c } = await pair(server);
    const clientClosed = nextEvent<[number, string]>(c, 'close');
    const serverClosed = nextEvent<[number, string]>(s, 'close');
    s.close(4001, 'server says bye');
    assert.equal(s.readyState, WebSocketConnection.CLOSING);
    assert.deepEqual(await clientClosed, [4001, 'server says bye']);
    const [code] = await serverClosed;
    assert.equal(code, 4001, 'the client echoes the status code (§5.5.1)');
    assert.equal(s.readyState, WebSocketConnection.CLOSED);
    assert.equal(c.readyState, WebSocketConnection.CLOSED);
  });

  it('close(code, reason) from the client: the server sees both', async () => {
    const { server: s, client: c } = await pair(server);
    const clientClosed = nextEvent<[number, string]>(c, 'close');
    const serverClosed = nextEvent<[number, string]>(s, 'close');
    c.close(4002, 'client says bye');
    assert.deepEqual(await serverClosed, [4002, 'client says bye']);
    assert.equal((await clientClosed)[0], 4002);
    assert.equal(s.closeCode, 4002);
    assert.equal(s.closeReason, 'client says bye');
  });

  it('close() without a code: 1005 on both sides (no status in the frame)', async () => {
    const { server: s, client: c } = await pair(server);
    const serverClosed = nextEvent<[number, string]>(s, 'close');
    const clientClosed = nextEvent<[number, string]>(c, 'close');
    c.close();
    assert.deepEqual(await serverClosed, [1005, '']);
    assert.deepEqual(await clientClosed, [1005, '']);
  });

  it('close() refuses invalid codes and reasons', async () => {
    const { server: s, client: c } = await pair(server);
    for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000]) assert.throws(() => s.close(code), RangeError, `code ${code}`);
    assert.throws(() => s.close(1000, 'x'.repeat(124)), RangeError);
    assert.throws(() => s.close(undefined, 'reason without code'), TypeError);
    assert.equal(s.readyState, WebSocketConnection.OPEN, 'a refused close() changes nothing');
    c.terminate();
  });

  it('terminate() drops TCP at once: 1006 on both sides', async () => {
    const { server: s, client: c } = await pair(server);
    const clientClosed = nextEvent<[number, string]>(c, 'close');
    const serverClosed = nextEvent<[number, string]>(s, 'close');
    s.terminate();
    assert.deepEqual(await serverClosed, [1006, '']);
    assert.deepEqual(await clientClosed, [1006, '']);
    assert.equal(server.wss.clients.has(s), false);
  });

  it('async iteration yields every message in order and ends on close', async () => {
    const { server: s, client: c } = await pair(server);
    const collected = (async () => {
      const out: [string, boolean][] = [];
      for await (const { data, isBinary } of s) {
        out.push([data.toString(), isBinary]);
        // A slow consumer: the iterator pauses the socket behind it, nothing is lost.
        if (out.length % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      return out;
    })();
    const total = 500;
    for (let i = 0; i < total; i++) c.send(i % 2 === 0 ? `m${i}` : Buffer.from(`m${i}`));
    c.close(1000);
    const out = await within(collected, 5000, 'the iteration to end');
    assert.equal(out.length, total);
    for (let i = 0; i < total; i++) assert.deepEqual(out[i], [`m${i}`, i % 2 === 1]);
  });

  it('iteration over a closed connection ends at once', async () => {
    const { server: s, client: c } = await pair(server);
    const closed = nextEvent(s, 'close');
    c.close(1000);
    await closed;
    const seen: unknown[] = [];
    for await (const message of s) seen.push(message);
    assert.deepEqual(seen, []);
  });

  it('readyState goes OPEN → CLOSING → CLOSED; sending after close returns false', async () => {
    const { server: s, client: c } = await pair(server);
    assert.equal(c.readyState, WebSocketConnection.OPEN);
    assert.equal(s.readyState, 1);
    const closed = nextEvent(c, 'close');
    c.close(1000);
    assert.equal(c.readyState, 2);
    assert.equal(c.send('late'), false);
    await closed;
    assert.equal(c.readyState, 3);
    assert.equal(c.send('later'), false);
    c.ping(); // no-op, no throw
    c.close(1000); // no-op
  });

  it('bufferedAmount counts bytes waiting to be written and returns to 0', async () => {
    const { server: s, client: c } = await pair(server, { highWaterMark: 1024 });
    assert.equal(c.bufferedAmount, 0);
    const arrived = nextEvent<[Buffer]>(s, 'message');
    c.send(Buffer.alloc(100_000));
    assert.ok(c.bufferedAmount >= 100_000, `bufferedAmount ${c.bufferedAmount}`);
    await nextEvent(c, 'drain');
    assert.equal(c.bufferedAmount, 0);
    assert.equal((await arrived)[0].length, 100_000);
    c.terminate();
  });

  it('broadcast reaches every client the filter keeps', async () => {
    const pairs = [await pair(server), await pair(server), await pair(server)];
    pairs[1]!.server.data = 'skip';
    const skipped: Buffer[] = [];
    pairs[1]!.client.on('message', (data) => skipped.push(data));
    const kept = [0, 2].map((i) => collectEvents<Buffer>(pairs[i]!.client, 'message', 2));
    server.wss.broadcast('to all', { filter: (ws) => ws.data !== 'skip' });
    server.wss.broadcast(Buffer.alloc(20_000, 1), { filter: (ws) => ws.data !== 'skip' });
    for (const messages of await Promise.all(kept)) {
      assert.equal(messages[0]!.toString(), 'to all');
      assert.ok(messages[1]!.equals(Buffer.alloc(20_000, 1)));
    }
    // A ping round trip on the skipped client proves nothing was merely late.
    const pong = nextEvent(pairs[1]!.client, 'pong');
    pairs[1]!.client.ping();
    await pong;
    assert.deepEqual(skipped, []);
    for (const { client } of pairs) client.terminate();
  });
});

// createWebSocketStream: a Duplex over a connection, with backpressure both ways and errors and
// closes carried across.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect } from '../../src/client/connect.js';
import { createWebSocketStream } from '../../src/index.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { WebSocketError } from '../../src/protocol/errors.js';
import { RawClient, destroyRawClients } from '../helpers/raw-client.js';
import { encodeFrame, OP, parseClosePayload } from '../helpers/frames.js';
import { collectEvents, EVENT_WAIT_MS, nextEvent, within } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';

let server: StartedServer<unknown> | null = null;
afterEach(async () => {
  destroyRawClients();
  await server?.stop();
  server = null;
});

async function pair(): Promise<{ s: WebSocketConnection; c: WebSocketConnection }> {
  server = await startServer();
  const accepted = server.nextConnection();
  const c = await connect(server.url());
  return { s: await accepted, c };
}

/** Resolves once `check` holds, looking after every turn of the event loop; bounded. */
function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  return within(
    (async () => {
      while (!check()) await new Promise((resolve) => setImmediate(resolve));
    })(),
    ms,
    what,
  );
}

describe('createWebSocketStream', { timeout: 30_000 }, () => {
  it('carries bytes both ways: writes become binary messages, messages become readable bytes', async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(c);
    s.on('message', (data, isBinary) => s.send(data, { binary: isBinary }));
    const sent = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const received: Buffer[] = [];
    const reading = (async () => {
      let total = 0;
      for await (const chunk of stream) {
        received.push(chunk as Buffer);
        total += (chunk as Buffer).length;
        if (total === sent.length) return;
      }
    })();
    const binary = nextEvent<[Buffer, boolean]>(s, 'message');
    await pipeline(Readable.from([sent.subarray(0, 100_000), sent.subarray(100_000)]), new Writable({
      write(chunk, _encoding, callback) {
        if (stream.write(chunk)) callback();
        else stream.once('drain', () => callback());
      },
    }));
    assert.equal((await binary)[1], true, 'a Buffer write is a binary message');
    await within(reading, 5000, 'the echo');
    assert.ok(Buffer.concat(received).equals(sent));
    stream.destroy();
  });

  it('a readable side nobody reads holds input: the transport stops reading, and nothing is lost', async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(s, { highWaterMark: 1024 });
    const chunk = Buffer.alloc(16 * 1024, 7);
    const count = 400;
    for (let i = 0; i < count; i++) c.send(chunk);
    await until(() => s.rawTransport.isPaused(), "the server's transport to pause");
    assert.equal(s.isPaused, false, "the application's pause is not used");
    assert.ok(stream.readableLength <= 2 * chunk.length, `readable buffer ${stream.readableLength}`);
    await until(() => c.bufferedAmount > 0, 'the sender to be held back');
    let total = 0;
    for await (const data of stream) {
      total += (data as Buffer).length;
      if (total === count * chunk.length) break;
    }
    assert.equal(total, count * chunk.length);
    c.terminate();
  });

  it("writes wait for the connection's 'drain': a peer that does not read holds the writer back", async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(s);
    c.pause();
    const chunk = Buffer.alloc(256 * 1024, 1);
    let received = 0;
    c.on('message', () => received++);
    // Write until the stream stays blocked (the kernel's buffers take a few MB first).
    let writes = 0;
    let blocked = false;
    while (!blocked) {
      writes++;
      assert.ok(writes < 400, 'backpressure never came');
      if (stream.write(chunk)) continue;
      const drained = once(stream, 'drain').then(() => true);
      const turns = (async () => {
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        return false;
      })();
      blocked = !(await Promise.race([drained, turns]));
    }
    assert.ok(stream.writableLength > 0, 'a write waits');
    // send() said "wait" and the stream waited: the connection holds about its mark, not every write.
    assert.ok(s.bufferedAmount >= 64 * 1024, `bufferedAmount ${s.bufferedAmount}`);
    assert.ok(s.bufferedAmount <= 64 * 1024 + 2 * chunk.length, `bufferedAmount ${s.bufferedAmount}`);
    const drained = once(stream, 'drain');
    c.resume();
    await within(drained, 10_000, "the stream's drain");
    await until(() => received === writes, 'every message to arrive');
    c.terminate();
  });

  it("the peer's close ends the readable side; end() then closes; 'close' follows", async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(s);
    const ended = once(stream, 'end');
    stream.resume();
    c.close(1000);
    await within(ended, EVENT_WAIT_MS, "the stream's end");
    const closed = once(stream, 'close');
    stream.end();
    await within(closed, EVENT_WAIT_MS, "the stream's close");
    assert.equal(s.readyState, s.CLOSED);
  });

  it('end() closes the connection with 1000 after the data written before it', async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(c);
    const received = collectEvents<Buffer>(s, 'message', 2);
    const closed = nextEvent<[number, string]>(s, 'close');
    const finished = once(stream, 'finish');
    stream.write('first');
    stream.end(Buffer.from('second'));
    assert.deepEqual((await received).map((data) => data.toString()), ['first', 'second']);
    assert.equal((await closed)[0], 1000);
    await within(finished, EVENT_WAIT_MS, "the stream's finish");
  });

  it('destroy() drops the connection: 1006 on the other side', async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(c);
    const closed = nextEvent<[number, string]>(s, 'close');
    const streamClosed = once(stream, 'close');
    stream.destroy();
    assert.equal((await closed)[0], 1006);
    await within(streamClosed, EVENT_WAIT_MS, "the stream's close");
    assert.equal(c.readyState, c.CLOSED);
  });

  it("a protocol error destroys the stream with the connection's error, and the close frame still goes out", async () => {
    server = await startServer();
    const accepted = server.nextConnection();
    const { client } = await RawClient.open(server.port);
    const ws = await accepted;
    const stream = createWebSocketStream(ws);
    const failed = nextEvent<[Error]>(stream, 'error');
    await client.write(encodeFrame(OP.TEXT, 'unmasked', { mask: false }));
    const [error] = await failed;
    assert.ok(error instanceof WebSocketError);
    assert.equal(error.code, 'WS_ERR_EXPECTED_MASK');
    const { frame } = await client.readFrameOf(OP.CLOSE);
    assert.equal(parseClosePayload(frame.payload).code, 1002);
  });

  it('readableObjectMode: one chunk per message, text as a string, binary as a Buffer', async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(s, { readableObjectMode: true });
    c.send('text');
    c.send(Buffer.from([1, 2, 3]));
    const chunks: unknown[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (chunks.length === 2) break;
    }
    assert.deepEqual(chunks, ['text', Buffer.from([1, 2, 3])]);
  });

  it('with decodeStrings: false a string write is a text message; by default it is binary', async () => {
    const { s, c } = await pair();
    const received = collectEvents<[Buffer, boolean]>(s, 'message', 2);
    const messages: [string, boolean][] = [];
    s.on('message', (data, isBinary) => messages.push([data.toString(), isBinary]));
    createWebSocketStream(c, { decodeStrings: false }).write('as text');
    createWebSocketStream(c).write('as bytes');
    await received;
    assert.deepEqual(messages, [
      ['as text', false],
      ['as bytes', true],
    ]);
    c.terminate();
  });

  it('writing after the connection closed fails with WS_ERR_CLOSED', async () => {
    const { s, c } = await pair();
    const stream = createWebSocketStream(s);
    stream.on('data', () => {});
    const closed = nextEvent(s, 'close');
    c.close(1000);
    await closed;
    const failed = nextEvent<[Error]>(stream, 'error');
    stream.write('too late');
    assert.equal(((await failed)[0] as WebSocketError).code, 'WS_ERR_CLOSED');
  });
});

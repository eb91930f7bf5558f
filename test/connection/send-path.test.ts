// The send path over a real socket (127.0.0.1): a large payload goes out as its header and the
// caller's own bytes in one writev (no copy), and frames leave in send order whatever path each
// takes — copied next to its header or written as is, straight to the socket or through its write
// queue, compressed (waiting for zlib) or not.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { connect } from '../../src/client/connect.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { perMessageDeflate } from '../../src/extensions/permessage-deflate/index.js';
import { COPY_PAYLOAD_LIMIT } from '../../src/protocol/frame-writer.js';
import { RawClient, destroyRawClients } from '../helpers/raw-client.js';
import { OP } from '../helpers/frames.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { collectEvents, nextEvent } from '../helpers/events.js';

let server: StartedServer<unknown> | null = null;
const clients: WebSocketConnection[] = [];
afterEach(async () => {
  destroyRawClients();
  for (const client of clients.splice(0)) client.terminate();
  await server?.stop();
  server = null;
});

async function openRaw(): Promise<{ client: RawClient; ws: WebSocketConnection }> {
  server = await startServer();
  const accepted = server.nextConnection();
  const { client } = await RawClient.open(server.port);
  return { client, ws: (await accepted) as WebSocketConnection };
}

/** What the socket is asked to write: each write() chunk, and each writev's chunks. */
function spyOnWrites(socket: Socket): { writes: Buffer[]; writevs: Buffer[][] } {
  const writes: Buffer[] = [];
  const writevs: Buffer[][] = [];
  const s = socket as Socket & { _writev(chunks: { chunk: Buffer }[], cb: (error?: Error | null) => void): void };
  const write = s.write;
  const writev = s._writev;
  s.write = function (this: Socket, chunk: Buffer, ...rest: never[]) {
    writes.push(chunk);
    return write.call(this, chunk, ...rest);
  } as typeof s.write;
  s._writev = function (this: Socket, chunks, cb) {
    writevs.push(chunks.map((c) => c.chunk));
    return writev.call(this, chunks, cb);
  };
  return { writes, writevs };
}

/** Deterministic bytes: message i of a test is recognisable by its content and length. */
function payload(i: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let k = 0; k < length; k++) out[k] = (i * 31 + k * 7) & 0xff;
  return out;
}

/** Lengths around the copy limit and the 16-/64-bit length forms (RFC 6455 §5.2). */
const LENGTHS = [5, 200_000, 0, COPY_PAYLOAD_LIMIT, COPY_PAYLOAD_LIMIT + 1, 125, 70_000, 126, 65_536, 1 << 20, 3];

describe('the send path', { timeout: 30_000 }, () => {
  it('writes a large payload as header + the Buffer itself, in one writev', async () => {
    const { client, ws } = await openRaw();
    const socket = ws.rawTransport as Socket;
    const spy = spyOnWrites(socket);
    const data = payload(1, 1 << 20);
    ws.send(data);
    const frame = await client.readFrame(5000);
    assert.equal(frame.opcode, OP.BINARY);
    assert.ok(frame.payload.equals(data), 'arrives intact');
    // The payload was handed to the socket as is: not a copy, not a merge with the header.
    assert.equal(spy.writes.length, 2);
    assert.equal(spy.writes[0]!.length, 10, 'a 64-bit-length header (§5.2)');
    assert.equal(spy.writes[1], data);
    // Corked together: one writev of both.
    assert.equal(spy.writevs.length, 1);
    assert.deepEqual(spy.writevs[0]!.map((c) => c.length), [10, data.length]);
    assert.equal(spy.writevs[0]![1], data);
  });

  it('writes a view of a larger ArrayBuffer from its own memory, and only its bytes', async () => {
    const { client, ws } = await openRaw();
    const spy = spyOnWrites(ws.rawTransport as Socket);
    const backing = new ArrayBuffer(300_000);
    const view = new Uint8Array(backing, 1000, 200_000);
    view.set(payload(2, 200_000));
    ws.send(view);
    const frame = await client.readFrame(5000);
    assert.ok(frame.payload.equals(payload(2, 200_000)));
    const body = spy.writes.find((chunk) => chunk.length === view.length)!;
    assert.equal(body.buffer, backing, 'the same memory');
    assert.equal(body.byteOffset, 1000);
  });

  it('copies a small payload next to its header: one write', async () => {
    const { client, ws } = await openRaw();
    const spy = spyOnWrites(ws.rawTransport as Socket);
    ws.send(payload(3, COPY_PAYLOAD_LIMIT));
    const frame = await client.readFrame();
    assert.ok(frame.payload.equals(payload(3, COPY_PAYLOAD_LIMIT)));
    assert.deepEqual(spy.writes.map((c) => c.length), [4 + COPY_PAYLOAD_LIMIT]);
  });

  it('merges the small frames of one turn into one write, in order', async () => {
    const { client, ws } = await openRaw();
    const spy = spyOnWrites(ws.rawTransport as Socket);
    for (let i = 0; i < 50; i++) ws.send(payload(i, 10 + i));
    for (let i = 0; i < 50; i++) {
      const frame = await client.readFrame();
      assert.ok(frame.payload.equals(payload(i, 10 + i)), `message ${i}`);
    }
    assert.equal(spy.writes.length, 1);
  });

  it('calls the send callbacks of a burst in send order, each once its frame is written', async () => {
    const { client, ws } = await openRaw();
    const lengths = [1, 2, COPY_PAYLOAD_LIMIT + 1, 3, 4, 200_000, 5];
    const order: number[] = [];
    const all = new Promise<void>((resolve, reject) => {
      lengths.forEach((length, i) =>
        ws.send(payload(i, length), (error) => {
          if (error) reject(error);
          order.push(i);
          if (order.length === lengths.length) resolve();
        }),
      );
    });
    for (let i = 0; i < lengths.length; i++) {
      assert.ok((await client.readFrame(5000)).payload.equals(payload(i, lengths[i]!)), `message ${i}`);
    }
    await all;
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6]);
  });

  it("merges a client's small masked frames of one turn into one write, in order", async () => {
    server = await startServer();
    const accepted = server.nextConnection();
    const client = await connect(server.url());
    clients.push(client);
    const ws = (await accepted) as WebSocketConnection;
    const received = collectEvents<Buffer>(ws, 'message', 30, 5000);
    const spy = spyOnWrites(client.rawTransport as Socket);
    for (let i = 0; i < 30; i++) client.send(payload(i, 20 + i * 10));
    const messages = await received;
    for (let i = 0; i < 30; i++) assert.ok(messages[i]!.equals(payload(i, 20 + i * 10)), `message ${i}`);
    assert.equal(spy.writes.length, 1);
  });

  it('keeps small and large messages in send order, on an idle socket', async () => {
    const { client, ws } = await openRaw();
    for (let i = 0; i < LENGTHS.length; i++) ws.send(payload(i, LENGTHS[i]!));
    for (let i = 0; i < LENGTHS.length; i++) {
      const frame = await client.readFrame(5000);
      assert.ok(frame.payload.equals(payload(i, LENGTHS[i]!)), `message ${i} (${LENGTHS[i]} bytes)`);
    }
  });

  it('keeps small and large messages in send order through the write queue (backpressure)', async () => {
    const { client, ws } = await openRaw();
    client.socket.pause();
    const socket = ws.rawTransport as Socket;
    let sent = 0;
    // Rounds of interleaved sends until the socket queues (the peer does not read), then two
    // more rounds: those are written from behind the queue.
    let queuedRounds = 0;
    for (let round = 0; round < 200 && queuedRounds < 2; round++) {
      if (socket.writableLength > 0) queuedRounds++;
      for (const length of LENGTHS) ws.send(payload(sent++, length));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    assert.equal(queuedRounds, 2, 'the socket queued writes');
    assert.ok(ws.bufferedAmount > 0);
    client.socket.resume();
    for (let i = 0; i < sent; i++) {
      const frame = await client.readFrame(10_000);
      const length = LENGTHS[i % LENGTHS.length]!;
      assert.equal(frame.payload.length, length, `message ${i}`);
      assert.ok(frame.payload.equals(payload(i, length)), `message ${i} (${length} bytes)`);
    }
    // Drained: a queued send callback and 'drain' are not what this checks, bufferedAmount is.
    assert.equal(ws.bufferedAmount, 0);
  });

  it('keeps compressed and uncompressed messages in send order (permessage-deflate)', async () => {
    server = await startServer({ extensions: [perMessageDeflate({ threshold: 1024 })] });
    const accepted = server.nextConnection();
    const client = await connect(server.url(), { perMessageDeflate: true });
    clients.push(client);
    const ws = (await accepted) as WebSocketConnection;
    const count = LENGTHS.length * 3;
    const received = collectEvents<Buffer>(client, 'message', count, 10_000);
    for (let i = 0; i < count; i++) {
      // Below the threshold: uncompressed; above it: compressed, except every third message.
      ws.send(payload(i, LENGTHS[i % LENGTHS.length]!), i % 3 === 2 ? { compress: false } : {});
    }
    const messages = await received;
    for (let i = 0; i < count; i++) {
      assert.ok(messages[i]!.equals(payload(i, LENGTHS[i % LENGTHS.length]!)), `message ${i}`);
    }
    const done = nextEvent(client, 'close', 5000);
    ws.close(1000);
    await done;
  });
});

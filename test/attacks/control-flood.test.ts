// A control-frame flood: 100k pings from a peer that never reads. Each ping asks for a pong; if
// every pong were queued, memory would grow with the flood. The server coalesces pongs once the
// peer stops reading (RFC 6455 §5.5.3 allows answering only the latest ping).

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, OP } from '../helpers/frames.js';
import { collectEvents, nextEvent } from '../helpers/events.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { connect } from '../../src/client/connect.js';

afterEach(destroyRawClients);

describe('attack: ping flood without reading', { timeout: 30_000 }, () => {
  it("100k pings: the server's buffered output stays bounded and it keeps serving", async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      client.socket.pause(); // never read: the pongs pile up at the server
      let maxBuffered = 0;
      let maxWritable = 0;
      ws.rawTransport.on('data', () => {
        maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
        maxWritable = Math.max(maxWritable, ws.rawTransport.writableLength);
      });
      const total = 100_000;
      const pingsSeen = collectEvents(ws, 'ping', total, 25_000);
      // 125-byte payloads: 12.5 MB of pongs if all were answered, more than loopback buffers hold.
      const ping = encodeFrame(OP.PING, Buffer.alloc(125, 0x70));
      const perBatch = 500;
      const batch = Buffer.concat(Array.from({ length: perBatch }, () => ping));
      for (let sent = 0; sent < total; sent += perBatch) await client.write(batch);
      await pingsSeen;
      assert.ok(maxBuffered < 1024 * 1024, `server bufferedAmount peaked at ${maxBuffered} bytes`);
      assert.ok(maxWritable < 1024 * 1024, `server writableLength peaked at ${maxWritable} bytes`);
      assert.equal(ws.readyState, 1, 'a ping flood is not a protocol error');

      // Once the peer reads again it gets the pongs the server kept (far fewer than the pings),
      // then a fresh ping from the server: the connection still works.
      client.socket.resume();
      ws.ping('after the flood');
      const { frame, skipped } = await client.readFrameOf(OP.PING, 10_000);
      assert.equal(frame.payload.toString(), 'after the flood');
      assert.ok(skipped.every((f) => f.opcode === OP.PONG));
      assert.ok(skipped.length < total, `${skipped.length} pongs for ${total} pings`);
      client.destroy();

      const other = await connect(server.url());
      other.terminate();
    } finally {
      await server.stop();
    }
  });
});

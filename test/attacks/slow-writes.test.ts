// A message trickled in 1-byte TCP writes (headers split at every byte) arrives intact.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { encodeFrame, OP } from '../helpers/frames.js';
import { collectEvents } from '../helpers/events.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

describe('attack: 1-byte writes', { timeout: 20_000 }, () => {
  it('a 64 KiB message (64-bit length header) and a fragmented text message sent one byte at a time', async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      client.socket.setNoDelay(true);
      const ws = await accepted;
      let chunks = 0;
      ws.rawTransport.on('data', () => chunks++);
      const received: [Buffer, boolean][] = [];
      ws.on('message', (data, isBinary) => received.push([Buffer.from(data), isBinary]));

      const binary = randomBytes(64 * 1024 + 1); // > 65535: the 8-byte length form
      const text = 'héllo wörld, '.repeat(20);
      const textBytes = Buffer.from(text);
      // Split the text inside a multi-byte character, across three fragments with a ping between.
      const wire = Buffer.concat([
        encodeFrame(OP.BINARY, binary),
        encodeFrame(OP.TEXT, textBytes.subarray(0, 2), { fin: false }),
        encodeFrame(OP.PING, 'p'),
        encodeFrame(OP.CONT, textBytes.subarray(2, 100), { fin: false }),
        encodeFrame(OP.CONT, textBytes.subarray(100)),
      ]);
      const done = collectEvents(ws, 'message', 2, 15_000);
      for (let i = 0; i < wire.length; i++) {
        client.socket.write(wire.subarray(i, i + 1));
        // Let the event loop run now and then so the bytes really go out in separate segments.
        if (i % 64 === 0 || i < 32) await new Promise((resolve) => setImmediate(resolve));
      }
      await done;
      assert.equal(received.length, 2);
      assert.ok(received[0]![0].equals(binary), 'binary message intact');
      assert.equal(received[0]![1], true);
      assert.equal(received[1]![0].toString(), text);
      assert.equal(received[1]![1], false);
      assert.ok(chunks > 500, `the server really read in small pieces (${chunks} reads)`);
      // The ping in the middle was answered.
      const { frame } = await client.readFrameOf(OP.PONG);
      assert.equal(frame.payload.toString(), 'p');
    } finally {
      await server.stop();
    }
  });
});

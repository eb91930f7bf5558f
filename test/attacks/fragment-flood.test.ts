// A flood of empty fragments: cheap to send, and without a limit it never ends a message.
// maxFragments closes it with 1008 (policy violation).

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import { encodeFrame, OP, parseClosePayload } from '../helpers/frames.js';
import { nextEvent } from '../helpers/events.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { DEFAULT_LIMITS } from '../../src/connection/limits.js';

afterEach(destroyRawClients);

describe('attack: fragment flood', { timeout: 20_000 }, () => {
  it('200k empty continuation frames close with 1008 once maxFragments is exceeded', async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      const messages: Buffer[] = [];
      ws.on('message', (data) => messages.push(data));
      const closed = nextEvent<[number, string]>(ws, 'close', 10_000);

      const total = 200_000;
      const first = encodeFrame(OP.TEXT, '', { fin: false });
      const continuation = encodeFrame(OP.CONT, '', { fin: false });
      // Written in 64 KiB batches, as a real flood would be.
      const perBatch = Math.floor(65536 / continuation.length);
      await client.write(first);
      let sent = 1;
      while (sent < total && !client.ended && !client.closed) {
        const n = Math.min(perBatch, total - sent);
        await client.write(Buffer.concat(Array.from({ length: n }, () => continuation)));
        sent += n;
      }
      const { frame } = await client.readFrameOf(OP.CLOSE, 5000);
      assert.equal(parseClosePayload(frame.payload).code, 1008);
      assert.match(parseClosePayload(frame.payload).reason, /frames/);
      await client.waitForEnd(5000);
      client.destroy();
      await closed;
      assert.deepEqual(messages, []);
      assert.ok(DEFAULT_LIMITS.maxFragments < total);

      // The server is fine: a normal client still gets served.
      const after = server.nextConnection();
      const ok = await connect(server.url());
      const echo = await after;
      const reply = nextEvent<[Buffer]>(echo, 'message');
      ok.send('still alive');
      assert.equal((await reply)[0].toString(), 'still alive');
      ok.terminate();
    } finally {
      await server.stop();
    }
  });

  it('a message in exactly maxFragments frames still passes', async () => {
    const server = await startServer({ maxFragments: 1000 });
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      const message = nextEvent<[Buffer, boolean]>(ws, 'message');
      const frames = [encodeFrame(OP.BINARY, 'x', { fin: false })];
      for (let i = 1; i < 999; i++) frames.push(encodeFrame(OP.CONT, 'x', { fin: false }));
      frames.push(encodeFrame(OP.CONT, 'x'));
      await client.write(Buffer.concat(frames));
      const [data, isBinary] = await message;
      assert.equal(data.length, 1000);
      assert.equal(isBinary, true);
      // One more frame than the limit fails.
      const more = [encodeFrame(OP.BINARY, 'x', { fin: false })];
      for (let i = 1; i < 1001; i++) more.push(encodeFrame(OP.CONT, 'x', { fin: false }));
      await client.write(Buffer.concat(more));
      const { frame } = await client.readFrameOf(OP.CLOSE);
      assert.equal(parseClosePayload(frame.payload).code, 1008);
    } finally {
      await server.stop();
    }
  });
});

// A payload declared over maxPayload is refused with 1009 from its header alone: the server
// neither waits for nor buffers the announced bytes.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, encodeFrameHeader, OP, parseClosePayload } from '../helpers/frames.js';
import { nextEvent } from '../helpers/events.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

describe('attack: declared payload over maxPayload', { timeout: 10_000 }, () => {
  it('closes with 1009 after only the frame header (16-bit, 64-bit and 2^53 lengths)', async () => {
    const server = await startServer({ maxPayload: 1024 });
    try {
      for (const length of [1025, 70_000, 2 ** 53 - 1]) {
        const accepted = server.nextConnection();
        const { client } = await RawClient.open(server.port);
        const ws = await accepted;
        const closed = nextEvent<[number, string]>(ws, 'close');
        await client.write(encodeFrameHeader(OP.BINARY, length).header);
        const frame = await client.readFrame();
        assert.equal(frame.opcode, OP.CLOSE);
        assert.equal(parseClosePayload(frame.payload).code, 1009, `length ${length}`);
        await client.waitForEnd();
        client.end();
        assert.equal((await closed)[0], 1006, 'the client never sent a close frame');
      }
    } finally {
      await server.stop();
    }
  });

  it('counts the whole fragmented message, not one frame', async () => {
    const server = await startServer({ maxPayload: 1024 });
    try {
      const { client } = await RawClient.open(server.port);
      await client.write(encodeFrame(OP.BINARY, Buffer.alloc(800), { fin: false }));
      await client.write(encodeFrameHeader(OP.CONT, 800).header);
      const frame = await client.readFrame();
      assert.equal(parseClosePayload(frame.payload).code, 1009);
    } finally {
      await server.stop();
    }
  });

  it('a message of exactly maxPayload passes', async () => {
    const server = await startServer({ maxPayload: 1024 });
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      const message = nextEvent<[Buffer]>(ws, 'message');
      await client.write(encodeFrame(OP.BINARY, Buffer.alloc(1024, 1)));
      assert.equal((await message)[0].length, 1024);
    } finally {
      await server.stop();
    }
  });

  it('the 64-bit length with its top bit set is a protocol error (1002)', async () => {
    const server = await startServer();
    try {
      const { client } = await RawClient.open(server.port);
      const { header } = encodeFrameHeader(OP.BINARY, 70_000);
      header[2] = 0x80; // most significant bit of the 64-bit length (RFC 6455 §5.2)
      await client.write(header);
      const frame = await client.readFrame();
      assert.equal(parseClosePayload(frame.payload).code, 1002);
    } finally {
      await server.stop();
    }
  });
});

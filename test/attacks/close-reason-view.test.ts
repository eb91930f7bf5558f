// A close reason (or message) given as a typed-array view over a larger buffer: only the view's
// bytes go on the wire, never the rest of the underlying memory.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import { WebSocket } from '../../src/client/websocket.js';
import { OP, parseClosePayload } from '../helpers/frames.js';
import { nextDomEvent, nextEvent } from '../helpers/events.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

/** A view on "VIEW" in the middle of a 4 KiB buffer full of secrets. */
function viewOverSecrets(): Uint8Array {
  const backing = new ArrayBuffer(4096);
  new Uint8Array(backing).fill(0x53); // 'S'
  const view = new Uint8Array(backing, 1000, 4);
  view.set(Buffer.from('VIEW'));
  return view;
}

describe('attack: typed-array views over larger buffers', { timeout: 10_000 }, () => {
  it("close(code, view): the raw close frame carries only the view's bytes", async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      ws.close(4000, viewOverSecrets());
      const frame = await client.readFrame();
      assert.equal(frame.opcode, OP.CLOSE);
      assert.equal(frame.payload.length, 2 + 4);
      assert.deepEqual(parseClosePayload(frame.payload), { code: 4000, reason: 'VIEW' });
      assert.equal(client.buffer.length, 0, 'nothing after the close frame');
      // Also a DataView and a view with an odd element size.
      const backing = Buffer.alloc(64, 0x53);
      backing.write('DV', 10);
      const second = server.nextConnection();
      const { client: c2 } = await RawClient.open(server.port);
      (await second).close(4001, new DataView(backing.buffer, backing.byteOffset + 10, 2));
      assert.deepEqual(parseClosePayload((await c2.readFrame()).payload), { code: 4001, reason: 'DV' });
    } finally {
      await server.stop();
    }
  });

  it('send(view) and ping(view) send only the view', async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      ws.send(viewOverSecrets());
      ws.ping(viewOverSecrets());
      ws.send(new Uint32Array(new Uint32Array([1, 2, 3, 4]).buffer, 4, 2));
      const message = await client.readFrame();
      assert.equal(message.opcode, OP.BINARY);
      assert.equal(message.payload.toString(), 'VIEW');
      const ping = await client.readFrame();
      assert.equal(ping.opcode, OP.PING);
      assert.equal(ping.payload.toString(), 'VIEW');
      const words = await client.readFrame();
      assert.deepEqual([...new Uint32Array(new Uint8Array(words.payload).buffer)], [2, 3]);
    } finally {
      await server.stop();
    }
  });

  it('the Node client and the WHATWG client send only the view too', async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const client = await connect(server.url());
      const ws = await accepted;
      const got = nextEvent<[Buffer]>(ws, 'message');
      client.send(viewOverSecrets());
      assert.equal((await got)[0].toString(), 'VIEW');
      const closed = nextEvent<[number, string]>(ws, 'close');
      client.close(4002, viewOverSecrets());
      assert.deepEqual(await closed, [4002, 'VIEW']);

      const acceptedDom = server.nextConnection();
      const dom = new WebSocket(server.url());
      await nextDomEvent(dom, 'open');
      const domServer = await acceptedDom;
      const gotDom = nextEvent<[Buffer]>(domServer, 'message');
      dom.send(viewOverSecrets());
      assert.equal((await gotDom)[0].toString(), 'VIEW');
      dom.close();
      await nextDomEvent(dom, 'close');
    } finally {
      await server.stop();
    }
  });
});

// Closing handshake semantics (RFC 6455 §7.1): who closes TCP, how long a silent peer is waited
// for, and what a dropped connection reports.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import { encodeClose, encodeFrame, OP, parseClosePayload } from '../helpers/frames.js';
import { nextEvent, TIMER_SLACK_MS } from '../helpers/events.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startRawServer, switchingProtocols } from '../helpers/raw-server.js';
import { HOST, startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

describe('closing handshake', { timeout: 10_000 }, () => {
  it('after a client-initiated close, the server closes TCP first (§7.1.1)', async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      const serverClosed = nextEvent<[number, string]>(ws, 'close');
      await client.write(encodeClose(1000, 'done'));
      const frame = await client.readFrame();
      assert.equal(frame.opcode, OP.CLOSE);
      assert.equal(frame.masked, false);
      assert.equal(parseClosePayload(frame.payload).code, 1000, 'the server echoes the code');
      await client.waitForEnd();
      assert.equal(client.socket.writableEnded, false, 'the server sent FIN while the client had not closed');
      assert.equal(client.buffer.length, 0, 'nothing follows the close frame');
      client.end();
      assert.deepEqual(await serverClosed, [1000, 'done']);
    } finally {
      await server.stop();
    }
  });

  it('a client that never answers the close frame is dropped after closeTimeout', async () => {
    const closeTimeout = 300;
    const server = await startServer({ closeTimeout });
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      const serverClosed = nextEvent<[number, string]>(ws, 'close', closeTimeout + TIMER_SLACK_MS);
      const started = Date.now();
      ws.close(1000, 'bye');
      const frame = await client.readFrame();
      assert.deepEqual(parseClosePayload(frame.payload), { code: 1000, reason: 'bye' });
      // The raw client neither answers nor closes.
      const [code] = await serverClosed;
      const elapsed = Date.now() - started;
      assert.equal(code, 1006, 'no close frame came back');
      // The shared ticker has a 250 ms resolution.
      assert.ok(elapsed >= closeTimeout - 10 && elapsed < closeTimeout + TIMER_SLACK_MS, `dropped after ${elapsed} ms`);
      await client.waitForEnd();
    } finally {
      await server.stop();
    }
  });

  it('a client drops a server that never closes TCP after the closing handshake (closeTimeout)', async () => {
    const raw = await startRawServer((request, socket) => {
      socket.write(switchingProtocols(request));
      socket.on('data', (chunk: Buffer) => {
        // Answer the client's close frame (opcode 8, masked) but keep TCP open.
        if ((chunk[0]! & 0x0f) === OP.CLOSE) socket.write(encodeClose(1000, 'ok', { mask: false }));
      });
    });
    try {
      const ws = await connect(`ws://${HOST}:${raw.port}/`, { closeTimeout: 300 });
      const closed = nextEvent<[number, string]>(ws, 'close', 300 + TIMER_SLACK_MS);
      const started = Date.now();
      ws.close(1000);
      assert.deepEqual(await closed, [1000, 'ok']);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 290 && elapsed < 300 + TIMER_SLACK_MS, `closed after ${elapsed} ms`);
    } finally {
      await raw.stop();
    }
  });

  it('TCP dropped without a close frame reports 1006 (§7.1.5)', async () => {
    const server = await startServer();
    try {
      for (const hangUp of [(c: RawClient) => c.destroy(), (c: RawClient) => c.end()]) {
        const accepted = server.nextConnection();
        const { client } = await RawClient.open(server.port);
        const ws = await accepted;
        const closed = nextEvent<[number, string]>(ws, 'close');
        hangUp(client);
        assert.deepEqual(await closed, [1006, '']);
        assert.equal(ws.closeCode, 1006);
      }
    } finally {
      await server.stop();
    }
  });

  it('a protocol error (unmasked client frame) closes with 1002 and the server ends TCP', async () => {
    const server = await startServer();
    try {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      const ws = await accepted;
      const errors: Error[] = [];
      ws.on('error', (error) => errors.push(error));
      const closed = nextEvent<[number, string]>(ws, 'close');
      await client.write(encodeFrame(OP.TEXT, 'not masked', { mask: false }));
      const frame = await client.readFrame();
      assert.equal(parseClosePayload(frame.payload).code, 1002);
      await client.waitForEnd();
      client.end();
      await closed;
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /masked/);
    } finally {
      await server.stop();
    }
  });
});

// Heartbeats on the shared ticker (250 ms resolution): pings to quiet peers, 1001 for silent ones.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import { collectEvents, delay, nextEvent, TIMER_SLACK_MS } from '../helpers/events.js';
import { OP, parseClosePayload } from '../helpers/frames.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startRawServer, switchingProtocols } from '../helpers/raw-server.js';
import { HOST, startServer } from '../helpers/server.js';
import { WebSocketConnection } from '../../src/connection/websocket-connection.js';

afterEach(destroyRawClients);

describe('heartbeat', { timeout: 15_000 }, () => {
  it('idleTimeout closes a silent peer with 1001, not before the timeout', async () => {
    const idleTimeout = 700;
    // Regression: with no timer running, the shared coarse clock stops; a connection that took
    // its start time from it was closed as idle at the first tick. Let it go stale on purpose.
    await delay(idleTimeout + 300);
    const server = await startServer({ idleTimeout, pingInterval: 0 });
    try {
      // Taken before the handshake: the server's clock starts at its end of it, earlier than ours.
      const opened = Date.now();
      const { client } = await RawClient.open(server.port);
      const frame = await client.readFrame(idleTimeout + TIMER_SLACK_MS);
      const elapsed = Date.now() - opened;
      assert.equal(frame.opcode, OP.CLOSE);
      assert.deepEqual(parseClosePayload(frame.payload), { code: 1001, reason: 'Idle timeout' });
      assert.ok(elapsed >= idleTimeout - 50 && elapsed < idleTimeout + TIMER_SLACK_MS, `closed after ${elapsed} ms`);
    } finally {
      await server.stop();
    }
  });

  it('pingInterval sends ping frames to a quiet peer', async () => {
    const server = await startServer({ pingInterval: 300, idleTimeout: 0 });
    try {
      const opened = Date.now(); // before the handshake, as above
      const { client } = await RawClient.open(server.port);
      const first = await client.readFrame(2000);
      assert.equal(first.opcode, OP.PING);
      assert.equal(first.masked, false);
      assert.ok(Date.now() - opened >= 250, 'not before the interval');
      const second = await client.readFrame(2000);
      assert.equal(second.opcode, OP.PING, 'pings keep coming while the peer stays quiet');
    } finally {
      await server.stop();
    }
  });

  it('a peer answering pings stays open past idleTimeout', async () => {
    const server = await startServer({ pingInterval: 200, idleTimeout: 700 });
    try {
      const accepted = server.nextConnection();
      const client = await connect(server.url());
      const ws = await accepted;
      const closes: number[] = [];
      client.on('close', (code) => closes.push(code));
      // Five pings take well over idleTimeout; the client's automatic pongs keep it alive.
      await collectEvents(client, 'ping', 5, 5000);
      assert.deepEqual(closes, []);
      assert.equal(ws.readyState, WebSocketConnection.OPEN);
      assert.equal(client.readyState, WebSocketConnection.OPEN);
      client.terminate();
    } finally {
      await server.stop();
    }
  });

  it('the Node client has heartbeats too: it closes a silent server with 1001', async () => {
    const seen: number[] = [];
    const raw = await startRawServer((request, socket) => {
      socket.write(switchingProtocols(request));
      // Never answers anything; records the opcodes it receives.
      socket.on('data', (chunk: Buffer) => seen.push(chunk[0]! & 0x0f));
    });
    try {
      const ws = await connect(`ws://${HOST}:${raw.port}/`, { pingInterval: 200, idleTimeout: 700, closeTimeout: 300 });
      const [code] = await nextEvent<[number, string]>(ws, 'close', 4000);
      assert.equal(code, 1006, 'the silent server never answered the close frame');
      assert.ok(seen.includes(OP.PING), `the client pinged (saw opcodes ${seen.join(',')})`);
      assert.equal(seen[seen.length - 1], OP.CLOSE);
    } finally {
      await raw.stop();
    }
  });
});

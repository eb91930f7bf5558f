// Issue 14: peers that stop reading must not pin shared output memory. Small frames are carved
// from a shared 128 KiB slab; a frame waiting in a stalled socket's queue used to keep its whole
// slab alive while other connections' traffic moved the slab on, so each small message to a
// stalled peer held 128 KiB. The memory a connection holds must follow what it has buffered.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connect } from '../../src/client/connect.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { RawClient, destroyRawClients } from '../helpers/raw-client.js';
import { collectEvents } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function arrayBuffers(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('peers that stop reading', { timeout: 60_000 }, () => {
  let server: StartedServer<unknown>;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    destroyRawClients();
    await server.stop();
  });

  it('hold ArrayBuffer memory in proportion to what they have buffered, not a slab per message', async () => {
    const STALLED = 4;
    const ROUNDS = 200;
    const stalled: WebSocketConnection[] = [];
    for (let i = 0; i < STALLED; i++) {
      const accepted = server.nextConnection();
      const { client } = await RawClient.open(server.port);
      client.socket.pause(); // never reads again
      stalled.push(await accepted);
    }
    // An active peer whose traffic moves the shared slab on between the stalled peers' messages.
    const acceptedActive = server.nextConnection();
    const active = await connect(server.url());
    const activeServer = await acceptedActive;

    // Fill the kernel's buffers until each stalled connection has bytes waiting in its transport.
    const filler = Buffer.alloc(256 * 1024, 1);
    for (const ws of stalled) {
      for (let i = 0; ws.bufferedAmount < filler.length; i++) {
        assert.ok(i < 200, 'the peer never stalled');
        ws.send(filler);
        await turns(2);
      }
    }

    const buffered = (): number => stalled.reduce((sum, ws) => sum + ws.bufferedAmount, 0);
    const bufferedBefore = buffered();
    const memoryBefore = arrayBuffers();
    const small = Buffer.alloc(1000, 2);
    const turnover = Buffer.alloc(8 * 1024, 3); // 16 of these fill a slab
    for (let round = 0; round < ROUNDS; round++) {
      for (const ws of stalled) ws.send(small);
      const arrived = collectEvents(active, 'message', 16, 5000);
      for (let i = 0; i < 16; i++) activeServer.send(turnover);
      await arrived;
    }
    const grownBuffered = buffered() - bufferedBefore;
    const grownMemory = arrayBuffers() - memoryBefore;
    assert.ok(grownBuffered >= STALLED * ROUNDS * small.length, `bufferedAmount grew by ${grownBuffered}`);
    // Before the fix: a slab per round (200 x 32 KiB, 128 KiB before the slab shrank) for 800 KB buffered.
    assert.ok(
      grownMemory <= 2 * grownBuffered + 512 * 1024,
      `ArrayBuffers grew by ${grownMemory} bytes for ${grownBuffered} bytes buffered`,
    );
    active.terminate();
    for (const ws of stalled) ws.terminate();
  });
});

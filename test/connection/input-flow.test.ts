// One owner of input flow: the application's pause(), the async iterator and a message that is
// still decompressing each hold input for their own reason; the transport reads again, and held
// bytes are parsed again, only when no reason remains.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { connect } from '../../src/client/connect.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { perMessageDeflate } from '../../src/extensions/permessage-deflate/index.js';
import { RawClient, destroyRawClients } from '../helpers/raw-client.js';
import { encodeFrame, OP } from '../helpers/frames.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { collectEvents, EVENT_WAIT_MS, nextEvent, within } from '../helpers/events.js';

let server: StartedServer<unknown> | null = null;
afterEach(async () => {
  destroyRawClients();
  await server?.stop();
  server = null;
});

/** A few turns of the event loop: enough for anything already received to be delivered. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One message as a peer without context takeover compresses it (RFC 7692 §7.2.1). */
function deflateMessage(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, -4);
}

async function openRaw(deflate = false): Promise<{ client: RawClient; ws: WebSocketConnection }> {
  server = await startServer(deflate ? { extensions: [perMessageDeflate()] } : {});
  const accepted = server.nextConnection();
  const headers: Record<string, string> = deflate
    ? { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover' }
    : {};
  const { client } = await RawClient.open(server.port, '/', headers);
  return { client, ws: (await accepted) as WebSocketConnection };
}

describe('input flow', { timeout: 20_000 }, () => {
  it("pause() in a 'message' handler stops delivery after that message, even within one chunk", async () => {
    const { client, ws } = await openRaw();
    const seen: string[] = [];
    const first = nextEvent(ws, 'message');
    ws.on('message', (data) => {
      seen.push(data.toString());
      if (seen.length === 1) ws.pause();
    });
    await client.write(Buffer.concat(['one', 'two', 'three'].map((text) => encodeFrame(OP.TEXT, text))));
    await first;
    await settle();
    assert.deepEqual(seen, ['one'], 'nothing is delivered while paused');
    assert.equal(ws.rawTransport.isPaused(), true);
    const rest = collectEvents(ws, 'message', 2);
    ws.resume();
    await rest;
    assert.deepEqual(seen, ['one', 'two', 'three']);
  });

  it('a pause() after a message that inflated in several slices holds: 4 MiB compressed, then 5 small', async () => {
    const { client, ws } = await openRaw(true);
    const big = Buffer.alloc(4 * 1024 * 1024, 'permessage-deflate ');
    const seen: number[] = [];
    const first = nextEvent(ws, 'message', 10_000);
    ws.on('message', (data) => {
      seen.push(data.length);
      if (seen.length === 1) ws.pause();
    });
    const small = [1, 2, 3, 4, 5].map((i) => encodeFrame(OP.BINARY, Buffer.alloc(i, i)));
    await client.write(Buffer.concat([encodeFrame(OP.BINARY, deflateMessage(big), { rsv1: true }), ...small]));
    await first;
    await settle();
    assert.deepEqual(seen, [big.length], 'the 5 small messages wait while the application has paused');
    assert.equal(ws.rawTransport.isPaused(), true, 'the decoder does not resume a transport the application paused');
    const rest = collectEvents(ws, 'message', 5);
    ws.resume();
    await rest;
    assert.deepEqual(seen, [big.length, 1, 2, 3, 4, 5]);
  });

  it("the async iterator's end does not resume a connection the application paused", async () => {
    server = await startServer();
    const accepted = server.nextConnection();
    const client = await connect(server.url());
    const ws = await accepted;
    client.send('first');
    for await (const message of ws) {
      assert.equal(message.data.toString(), 'first');
      ws.pause();
      break;
    }
    assert.equal(ws.rawTransport.isPaused(), true, 'still paused after the loop');
    let late = 0;
    ws.on('message', () => late++);
    client.send('second');
    await settle();
    assert.equal(late, 0);
    const second = nextEvent<[Buffer]>(ws, 'message');
    ws.resume();
    assert.equal((await second)[0].toString(), 'second');
    client.terminate();
  });

  it("frames that came with the upgrade wait when the 'connection' handler pauses", async () => {
    server = await startServer();
    let seen = 0;
    const paused = new Promise<WebSocketConnection>((resolve) =>
      server!.wss.once('connection', (ws) => {
        ws.pause();
        ws.on('message', () => seen++);
        resolve(ws);
      }),
    );
    const raw = await RawClient.connect(server.port);
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    await raw.write(
      Buffer.concat([
        Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
        encodeFrame(OP.TEXT, 'with the head'),
      ]),
    );
    const ws = await within(paused, EVENT_WAIT_MS, 'the connection');
    await raw.readResponse();
    await settle();
    assert.equal(seen, 0);
    const message = nextEvent<[Buffer]>(ws, 'message');
    ws.resume();
    assert.equal((await message)[0].toString(), 'with the head');
  });
});

// Publish and broadcast to peers with permessage-deflate: each message is compressed once per
// compressor kind (window bits, level, memLevel) and the same bytes go to every peer of that kind,
// whatever its context takeover; each peer's stream stays decodable message after message.
// Checked on the wire with raw clients decoding with node:zlib, and end to end with our client.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { perMessageDeflate } from '../../src/extensions/permessage-deflate/index.js';
import { deliverPublished } from '../../src/connection/websocket-connection.js';
import { Hub } from '../../src/pubsub/hub.js';
import type { SharedMessage } from '../../src/protocol/shared-message.js';
import { RawClient, destroyRawClients } from '../helpers/raw-client.js';
import { OP, type Frame } from '../helpers/frames.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { nextEvent } from '../helpers/events.js';
import { jsonText, ReferenceInflater } from '../extensions/support/deflate.js';
import { SHARED_SYNC_LIMIT } from '../../src/extensions/permessage-deflate/shared-compression.js';

/** A raw peer, its server-side connection, and a decompressor that lives as long as its stream. */
interface Peer {
  name: string;
  client: RawClient;
  ws: WebSocketConnection;
  inflater: ReferenceInflater | null;
}

const OFFERS: [name: string, offer: string | null, windowBits: number][] = [
  ['context takeover (13-bit default)', 'permessage-deflate', 13],
  ['server_no_context_takeover', 'permessage-deflate; server_no_context_takeover', 13],
  ['server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=10', 10],
  ['no permessage-deflate', null, 0],
];

let server: StartedServer<unknown> | null = null;
let hub: Hub<WebSocketConnection, SharedMessage> | null = null;
const inflaters: ReferenceInflater[] = [];
afterEach(async () => {
  destroyRawClients();
  for (const inflater of inflaters.splice(0)) inflater.close();
  await server?.stop();
  server = null;
  await hub?.close();
  hub = null;
});

/** A server whose hub records every published message object as its subscribers got it. */
async function start(options: Parameters<typeof perMessageDeflate>[0] = {}): Promise<{ peers: Peer[]; delivered: SharedMessage[] }> {
  const delivered: SharedMessage[] = [];
  hub = new Hub<WebSocketConnection, SharedMessage>({
    deliver: (ws, message) => {
      const taken = deliverPublished(ws, message);
      delivered.push(message.frame!);
      return taken;
    },
  });
  server = await startServer({ extensions: [perMessageDeflate(options)], pubsub: hub });
  const peers: Peer[] = [];
  for (const [name, offer, windowBits] of OFFERS) {
    const accepted = server.nextConnection();
    const { client, response } = await RawClient.open(server.port, '/', offer === null ? {} : { 'Sec-WebSocket-Extensions': offer });
    const ws = (await accepted) as WebSocketConnection;
    assert.equal(response.headers['sec-websocket-extensions'] !== undefined, offer !== null, name);
    const inflater = offer === null ? null : new ReferenceInflater(windowBits);
    if (inflater !== null) inflaters.push(inflater);
    ws.subscribe('room');
    peers.push({ name, client, ws, inflater });
  }
  return { peers, delivered };
}

/** Reads the next message of each peer and checks it decodes to `expected`; returns the frames. */
async function receiveAll(peers: Peer[], expected: Buffer, compressed: boolean): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (const peer of peers) {
    const frame = await peer.client.readFrame();
    const deflated = compressed && peer.inflater !== null;
    assert.equal(frame.rsv1, deflated, `${peer.name}: RSV1`);
    const data = frame.rsv1 ? await peer.inflater!.inflate(frame.payload) : frame.payload;
    assert.deepEqual(data, expected, `${peer.name}: the message`);
    frames.push(frame);
  }
  return frames;
}

describe('publish and broadcast with permessage-deflate: compressed once per compressor kind', { timeout: 60_000 }, () => {
  it('a publish goes compressed to deflate peers (one encoding per window), uncompressed to the others, and each stream goes on', async () => {
    const { peers, delivered } = await start();
    const text = jsonText(20_000);
    assert.equal(server!.wss.publish('room', text.toString()), peers.length);
    const frames = await receiveAll(peers, text, true);
    const [takeover, noTakeover, small, plain] = frames as [Frame, Frame, Frame, Frame];
    assert.ok(takeover.payload.length < text.length / 3, `compressed to ${takeover.payload.length}`);
    assert.deepEqual(takeover.payload, noTakeover.payload, 'one encoding for both 13-bit peers');
    assert.notDeepEqual(small.payload, takeover.payload, 'its own for the 10-bit peer');
    assert.equal(plain.opcode, OP.TEXT);
    assert.equal(new Set(delivered).size, 1, 'one message object');
    assert.equal(delivered[0]!.encodings!.size, 2, 'compressed twice: once per window');

    // Each peer's own messages after the shared one still decode in its stream: the server
    // dropped its history for the context-takeover peer, whose window now holds the publish.
    const block = randomBytes(4000);
    const own = Buffer.concat([block, text.subarray(0, 8000), block]);
    for (const peer of peers) peer.ws.send(own);
    await receiveAll(peers, own, true);
  });

  it('compress: false and messages under the threshold go uncompressed to every peer; order is kept around them', async () => {
    const { peers } = await start({ threshold: 2000 });
    const wss = server!.wss;
    const big = jsonText(10_000, 3);
    wss.publish('room', big, { compress: false });
    wss.publish('room', big.subarray(0, 1999));
    wss.publish('room', big);
    await receiveAll(peers, big, false);
    await receiveAll(peers, big.subarray(0, 1999), false);
    await receiveAll(peers, big, true);
  });

  it('broadcast() compresses once too, and takes compress: false', async () => {
    const { peers } = await start();
    const wss = server!.wss;
    const payload = jsonText(50_000, 7);
    wss.broadcast(payload);
    await receiveAll(peers, payload, true);
    wss.broadcast(payload, { compress: false });
    await receiveAll(peers, payload, false);
    wss.broadcast(payload.toString(), { filter: (ws) => ws === peers[0]!.ws });
    const [frame] = await receiveAll([peers[0]!], payload, true);
    assert.equal(frame!.opcode, OP.TEXT);
  });

  it('a publish behind a large message still being compressed waits its turn on that connection only', async () => {
    const { peers } = await start();
    const [takeover, noTakeover] = peers as [Peer, Peer];
    // Compressed in 64 KiB slices over several turns; under maxPublishBuffer (1 MiB), or the
    // publish would be dropped for this slow consumer.
    const large = jsonText(900_000, 11);
    takeover.ws.send(large);
    const text = jsonText(6000, 12);
    server!.wss.publish('room', text);
    // The others have it at once; the busy one gets its large message first, then the publish.
    await receiveAll(peers.slice(1), text, true);
    const first = await takeover.client.readFrame(20_000);
    assert.deepEqual(await takeover.inflater!.inflate(first.payload), large);
    await receiveAll([takeover], text, true);
    noTakeover.ws.send(text);
    await receiveAll([noTakeover], text, true);
  });

  it('a large message (over SHARED_SYNC_LIMIT) is compressed once per kind over several turns; what follows waits for it', async () => {
    const { peers, delivered } = await start();
    const large = jsonText(SHARED_SYNC_LIMIT + 200 * 1024, 9);
    server!.wss.publish('room', large);
    assert.ok([...delivered[0]!.encodings!.values()].every((encoding) => !encoding.settled), 'not made yet when publish() returns');
    const small = jsonText(2000, 10);
    server!.wss.publish('room', small); // sent after the large one on every connection
    const frames = await receiveAll(peers, large, true);
    assert.deepEqual(frames[0]!.payload, frames[1]!.payload, 'one encoding for both 13-bit peers');
    assert.ok(frames[0]!.payload.length < large.length / 3);
    await receiveAll(peers, small, true);
  });

  it('end to end: our client, with and without context takeover, reads published messages between its own', async () => {
    // The server's 'connection' handler subscribes before the 101 reaches the client.
    server = await startServer({ extensions: [perMessageDeflate()] });
    const wss = server.wss;
    wss.on('connection', (ws) => {
      ws.subscribe('news');
      ws.on('message', (data) => ws.send(data));
    });
    const clients = [
      await connect(server.url(), { perMessageDeflate: true }),
      await connect(server.url(), { perMessageDeflate: { serverNoContextTakeover: true } }),
    ];
    const texts = [jsonText(5000, 1), jsonText(6000, 2), jsonText(7000, 3)].map(String);
    for (const client of clients) {
      const received: string[] = [];
      client.on('message', (data) => received.push(String(data)));
      const done = new Promise<void>((resolve) => client.on('message', () => received.length === 4 && resolve()));
      client.send(texts[0]!); // echoed: the server's own compression
      await nextEvent(client, 'message');
      wss.publish('news', texts[1]!);
      client.send(texts[2]!);
      wss.broadcast(texts[0]!); // before the server has read texts[2], so before its echo
      await done;
      assert.deepEqual(received, [texts[0], texts[1], texts[0], texts[2]]);
      assert.match(client.extensions, /permessage-deflate/);
      client.close();
    }
  });
});

// WAMP EVENTs on Upshift connections go out as shared messages: encoded once per serializer,
// framed once, and compressed once per compressor kind for peers with permessage-deflate, each
// peer's stream staying decodable (checked with raw peers decoding with node:zlib).

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectWampProtocol, WampRouter } from '../../src/wamp/index.js';
import { perMessageDeflate } from '../../src/extensions/permessage-deflate/index.js';
import { RawClient, destroyRawClients } from '../helpers/raw-client.js';
import { encodeFrame, OP } from '../helpers/frames.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { ReferenceInflater } from '../extensions/support/deflate.js';
import { EVENT, HELLO, PUBLISH, SUBSCRIBE, SUBSCRIBED, WELCOME } from './support/memory.js';

let server: StartedServer<unknown> | null = null;
let router: WampRouter | null = null;
const inflaters: ReferenceInflater[] = [];
afterEach(async () => {
  destroyRawClients();
  for (const inflater of inflaters.splice(0)) inflater.close();
  await router?.close();
  router = null;
  await server?.stop();
  server = null;
});

/** A raw WAMP JSON client over permessage-deflate (context takeover both ways, 13-bit server window). */
class RawWamp {
  readonly inflater = new ReferenceInflater(13);
  constructor(readonly client: RawClient) {
    inflaters.push(this.inflater);
  }

  static async open(port: number): Promise<RawWamp> {
    const { client, response } = await RawClient.open(port, '/', { 'Sec-WebSocket-Protocol': 'wamp.2.json', 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    assert.equal(response.headers['sec-websocket-protocol'], 'wamp.2.json');
    assert.match(response.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate/);
    return new RawWamp(client);
  }

  async send(message: unknown[]): Promise<void> {
    await this.client.write(encodeFrame(OP.TEXT, Buffer.from(JSON.stringify(message))));
  }

  /** The next message, inflated in this peer's one stream when it came compressed. */
  async next(): Promise<{ message: unknown[]; compressed: boolean; payload: Buffer }> {
    const frame = await this.client.readFrame();
    const data = frame.rsv1 ? await this.inflater.inflate(frame.payload) : frame.payload;
    return { message: JSON.parse(data.toString()) as unknown[], compressed: frame.rsv1, payload: frame.payload };
  }
}

describe('WAMP events as shared messages', { timeout: 30_000 }, () => {
  it('an EVENT is compressed once for every permessage-deflate subscriber, and their streams go on', async () => {
    server = await startServer({ protocols: selectWampProtocol, extensions: [perMessageDeflate()] });
    router = new WampRouter({ realms: { realm1: {} } }).attach(server.wss);
    const peers = [await RawWamp.open(server.port), await RawWamp.open(server.port), await RawWamp.open(server.port)];
    for (const peer of peers) {
      await peer.send([HELLO, 'realm1', { roles: { subscriber: {}, publisher: {} } }]);
      assert.equal((await peer.next()).message[0], WELCOME);
      await peer.send([SUBSCRIBE, 1, {}, 'com.news']);
      assert.equal((await peer.next()).message[0], SUBSCRIBED);
    }
    const [publisher, ...subscribers] = peers as [RawWamp, RawWamp, RawWamp];
    const items = Array.from({ length: 80 }, (_, i) => ({ id: i, title: `headline ${i % 17}`, tags: ['a', 'b'] }));
    const sizes: number[] = [];
    for (const round of [1, 2]) {
      await publisher.send([PUBLISH, round, {}, 'com.news', [round], { items }]);
      const got = [await subscribers[0].next(), await subscribers[1].next()];
      for (const { message, compressed } of got) {
        assert.equal(message[0], EVENT);
        assert.deepEqual([message[4], message[5]], [[round], { items }]);
        assert.equal(compressed, true, 'over the threshold: compressed');
      }
      assert.deepEqual(got[0]!.payload, got[1]!.payload, 'the same compressed bytes for both');
      sizes.push(got[0]!.payload.length);
    }
    // Compressed alone, not in each connection's stream: the second, nearly the same as the first,
    // does not shrink by referring back to it (a per-connection compressor would make it tiny).
    assert.ok(sizes[1]! > sizes[0]! * 0.9, `standalone encodings: ${sizes.join(', ')} bytes`);
    // The subscribers' own messages (a SUBSCRIBED, small) and more events still decode in order.
    await subscribers[0].send([SUBSCRIBE, 2, {}, 'com.other']);
    assert.equal((await subscribers[0].next()).message[0], SUBSCRIBED);
  });
});

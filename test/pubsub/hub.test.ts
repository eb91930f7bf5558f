// The hub with the in-process adapter, and the broker envelope: no broker needed.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { inProcessAdapter, loadClient } from '../../src/pubsub/adapter.js';
import { decodeEnvelope, encodeEnvelope, ORIGIN_BYTES } from '../../src/pubsub/envelope.js';
import { Hub, type PublishedMessage } from '../../src/pubsub/hub.js';
import { natsAdapter } from '../../src/pubsub/nats.js';
import { createPublisher } from '../../src/pubsub/publisher.js';
import { redisAdapter } from '../../src/pubsub/redis.js';
import { WAMP_TOPICS } from '../../src/pubsub/topics.js';

type Sub = { name: string; got: string[] };
const sub = (name: string): Sub => ({ name, got: [] });

function recordingHub(adapter = inProcessAdapter()): { hub: Hub<Sub, Buffer>; frames: { count: number }; messages: PublishedMessage<Buffer>[] } {
  const frames = { count: 0 };
  const messages: PublishedMessage<Buffer>[] = [];
  const hub = new Hub<Sub, Buffer>({
    adapter,
    deliver(subscriber, message) {
      messages.push(message);
      // The integrator frames once per message and reuses the frame for every subscriber.
      message.frame ??= (frames.count++, Buffer.concat([Buffer.from([message.isBinary ? 2 : 1]), message.payload]));
      subscriber.got.push(`${message.topic}:${message.payload.toString()}${message.isBinary ? ':bin' : ''}`);
    },
  });
  return { hub, frames, messages };
}

describe('Hub (in-process)', () => {
  it('delivers a publish once to each matching subscriber, with one message object per publish', async () => {
    const { hub, frames, messages } = recordingHub();
    const [a, b, c] = [sub('a'), sub('b'), sub('c')];
    hub.subscribe(a, 'chat/1');
    hub.subscribe(a, 'chat/+'); // overlapping: still once
    hub.subscribe(b, 'chat/#');
    hub.subscribe(c, 'news');
    assert.equal(hub.publish('chat/1', Buffer.from('hi'), false), 2);
    assert.equal(hub.publish('chat/2', Buffer.from([1]), true), 2);
    assert.deepEqual(a.got, ['chat/1:hi', 'chat/2:\u0001:bin']);
    assert.deepEqual(b.got, ['chat/1:hi', 'chat/2:\u0001:bin']);
    assert.deepEqual(c.got, []);
    assert.equal(frames.count, 2, 'framed once per publish');
    assert.equal(messages[0], messages[1], 'the same message object for every subscriber');
    assert.equal(hub.countMatches('chat/1'), 2);
    assert.equal(hub.subscriberCount('chat/+'), 1);
    const stats = hub.stats;
    assert.equal(stats.published, 2);
    assert.equal(stats.delivered, 4);
    assert.equal(stats.subscribers, 3);
    assert.equal(stats.filters, 4);
    assert.equal(stats.broker.adapter, 'in-process');
    await hub.ready();
    await hub.close();
  });

  it('publishes to all but the sender with except, and passes the compress option on', () => {
    const { hub, messages } = recordingHub();
    const [a, b] = [sub('a'), sub('b')];
    hub.subscribe(a, 'room');
    hub.subscribe(b, 'room');
    assert.equal(hub.publish('room', Buffer.from('x'), false, { except: a }), 1);
    assert.deepEqual(a.got, []);
    assert.deepEqual(b.got, ['room:x']);
    assert.equal(messages.at(-1)!.compress, true, 'compress by default');
    hub.publish('room', Buffer.from('y'), false, { compress: false });
    assert.equal(messages.at(-1)!.compress, false);
  });

  it('counts deliveries a slow consumer dropped (deliver returned false)', () => {
    const slow = sub('slow');
    const fast = sub('fast');
    const hub = new Hub<Sub>({ deliver: (s) => s !== slow });
    hub.subscribe(slow, 't');
    hub.subscribe(fast, 't');
    hub.publish('t', Buffer.alloc(1), true);
    hub.publish('t', Buffer.alloc(1), true);
    assert.equal(hub.stats.dropped, 2);
    assert.equal(hub.stats.delivered, 2);
  });

  it('forgets a closed subscriber with unsubscribeAll, even from inside deliver', () => {
    const [a, b] = [sub('a'), sub('b')];
    const hub: Hub<Sub> = new Hub<Sub>({
      deliver(s, message) {
        s.got.push(message.topic);
        if (s === a) hub.unsubscribeAll(b); // a delivery that closes another subscriber
      },
    });
    hub.subscribe(a, 't');
    hub.subscribe(b, 't');
    hub.subscribe(b, 'u');
    hub.publish('t', Buffer.alloc(0), false);
    assert.deepEqual(a.got, ['t']);
    assert.deepEqual(b.got, []);
    assert.deepEqual(hub.topicsOf(b), []);
    assert.equal(hub.stats.subscribers, 1);
  });

  it('refuses an invalid topic before anything is delivered or sent, and a closed hub', async () => {
    const adapter = inProcessAdapter();
    const { hub } = recordingHub(adapter);
    const other = recordingHub(adapter);
    const s = sub('s');
    other.hub.subscribe(s, '#');
    assert.throws(() => hub.publish('a//b', Buffer.alloc(0), false), { code: 'PUBSUB_ERR_INVALID_TOPIC' });
    assert.throws(() => hub.publish('a/+', Buffer.alloc(0), false), { code: 'PUBSUB_ERR_INVALID_TOPIC' });
    assert.throws(() => hub.subscribe(s, 'a/#/b'), { code: 'PUBSUB_ERR_INVALID_TOPIC' });
    assert.throws(() => hub.publish('a', 'text' as unknown as Buffer, false), TypeError);
    assert.deepEqual(s.got, []);
    assert.equal(hub.stats.published, 0);
    await hub.close();
    assert.throws(() => hub.publish('a', Buffer.alloc(0), false), { code: 'PUBSUB_ERR_CLOSED' });
    assert.throws(() => hub.subscribe(s, 'a'), { code: 'PUBSUB_ERR_CLOSED' });
    await assert.rejects(hub.ready(), { code: 'PUBSUB_ERR_CLOSED' });
    assert.throws(() => new Hub({} as never), { code: 'PUBSUB_ERR_OPTIONS' });
  });

  it('shares topics between hubs on one in-process adapter: once each, in order', async () => {
    const adapter = inProcessAdapter();
    const hubs = [recordingHub(adapter), recordingHub(adapter), recordingHub(adapter)];
    const subscribers = hubs.map((h, i) => {
      const s = sub(`s${i}`);
      h.hub.subscribe(s, 'game/+');
      h.hub.subscribe(s, 'game/1'); // overlapping on each hub
      return s;
    });
    for (let n = 0; n < 5; n++) {
      for (const [i, h] of hubs.entries()) h.hub.publish('game/1', Buffer.from(`${i}.${n}`), false);
    }
    for (const s of subscribers) {
      assert.equal(s.got.length, 15);
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(
          s.got.filter((line) => line.startsWith(`game/1:${i}.`)),
          [0, 1, 2, 3, 4].map((n) => `game/1:${i}.${n}`),
        );
      }
    }
    // A publisher with no subscribers of its own, on the same adapter.
    const publisher = createPublisher({ adapter });
    await publisher.ready();
    publisher.publish('game/2', 'text');
    publisher.publish('game/2', Buffer.from('bin'));
    publisher.publish('game/2', new Uint8Array([0x41]), { binary: false });
    for (const s of subscribers) assert.deepEqual(s.got.slice(15), ['game/2:text', 'game/2:bin:bin', 'game/2:A']);
    assert.throws(() => publisher.publish('game/2', 42 as never), TypeError);
    await publisher.close();
    for (const h of hubs) await h.hub.close();
  });

  it('serves the WAMP syntax with prefix subscriptions', () => {
    const s = sub('s');
    const hub = new Hub<Sub>({ syntax: WAMP_TOPICS, deliver: (x, m) => void x.got.push(m.topic) });
    hub.subscribe(s, 'com.app', { match: 'prefix' });
    hub.subscribe(s, 'com..x');
    hub.publish('com.app.x', Buffer.alloc(0), false);
    hub.publish('com.apple', Buffer.alloc(0), false);
    hub.publish('com.b.x', Buffer.alloc(0), false);
    hub.publish('org.app', Buffer.alloc(0), false);
    assert.deepEqual(s.got, ['com.app.x', 'com.apple', 'com.b.x']);
    assert.deepEqual(hub.subscriptionsOf(s), [
      { filter: 'com.app', match: 'prefix' },
      { filter: 'com..x', match: 'wildcard' },
    ]);
  });
});

describe('broker envelope', () => {
  const origin = 'ABCDEFGH';

  it('round-trips payload, text/binary flag, origin, sequence and topic', () => {
    for (const [topic, payload, isBinary, compress] of [
      ['a/b', Buffer.from('héllo'), false, true],
      ['é/😀', Buffer.from([0, 255, 1]), true, false],
      ['x', Buffer.alloc(0), true, true],
      ['t'.repeat(4096), Buffer.alloc(70000, 7), false, false],
    ] as const) {
      const data = encodeEnvelope({ topic, payload, isBinary, compress, origin, sequence: 2 ** 40 + 3 });
      assert.equal(data[0], 1, 'version');
      const back = decodeEnvelope(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      assert.deepEqual(back, { topic, payload, isBinary, compress, origin, sequence: 2 ** 40 + 3 });
    }
    assert.equal(ORIGIN_BYTES, 8);
  });

  it('rejects what is not a version 1 envelope', () => {
    const good = encodeEnvelope({ topic: 'a', payload: Buffer.from('x'), isBinary: false, compress: true, origin, sequence: 1 });
    assert.notEqual(decodeEnvelope(good), null);
    const mutate = (offset: number, value: number): Buffer => {
      const copy = Buffer.from(good);
      copy[offset] = value;
      return copy;
    };
    assert.equal(decodeEnvelope(mutate(0, 2)), null, 'version');
    assert.equal(decodeEnvelope(mutate(1, 0x80)), null, 'unknown flag');
    assert.equal(decodeEnvelope(mutate(1, 0x04)), null, 'unknown flag');
    assert.equal(decodeEnvelope(mutate(17, 200)), null, 'topic past the end');
    assert.equal(decodeEnvelope(mutate(17, 0)), null, 'empty topic');
    assert.equal(decodeEnvelope(good.subarray(0, 10)), null, 'short');
    assert.equal(decodeEnvelope(Buffer.from('{"json":true}')), null);
  });
});

describe('options', () => {
  it('refuses unknown and invalid options', async () => {
    assert.throws(() => new Hub({ deliver: () => {}, verifyClient: true } as never), /new Hub\(\): unknown option "verifyClient"/);
    assert.throws(() => createPublisher({ adapter: inProcessAdapter(), deliver: () => {} } as never), /unknown option "deliver"/);
    assert.throws(() => createPublisher({} as never), { code: 'PUBSUB_ERR_OPTIONS' });
    await assert.rejects(redisAdapter({ host: 'x' } as never), /redisAdapter\(\): unknown option "host"/);
    await assert.rejects(natsAdapter({ url: 'x' } as never), /natsAdapter\(\): unknown option "url"/);
    await assert.rejects(natsAdapter({ prefix: 'a b' }), { code: 'PUBSUB_ERR_OPTIONS' });
    await assert.rejects(natsAdapter({ reconnect: { maxDelay: -1 } }), { code: 'PUBSUB_ERR_OPTIONS' });
    await assert.rejects(redisAdapter({ queue: { maxMessages: Number.NaN } }), { code: 'PUBSUB_ERR_OPTIONS' });
  });
});

describe('optional client libraries', () => {
  it('names the missing package and how to install it', async () => {
    await assert.rejects(loadClient('upshift-no-such-package', 'testAdapter()'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'PUBSUB_ERR_CLIENT_MISSING');
      assert.match(error.message, /testAdapter\(\) needs the "upshift-no-such-package" package.*npm install upshift-no-such-package/);
      return true;
    });
  });
});

// Scale-out through real brokers: redis-server and nats-server on loopback ports, hubs each with
// its own broker connection, a publisher in a child process, and the broker killed mid-stream.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { PubSubAdapter } from '../../src/pubsub/adapter.js';
import { Hub, type BrokerUpEvent, type HubEvents, type PublishedMessage } from '../../src/pubsub/hub.js';
import { natsAdapter, natsToken, type NatsAdapterOptions } from '../../src/pubsub/nats.js';
import { redisAdapter, type RedisAdapterOptions } from '../../src/pubsub/redis.js';
import { ChildPeer, freePort, withTimeout } from '../peers/support/peers.js';
import { BrokerServer, brokerSkip, type BrokerKind } from './support/brokers.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

type Received = { topic: string; text: string; isBinary: boolean; compress: boolean };
type Sub = { name: string; got: Received[] };
const sub = (name: string): Sub => ({ name, got: [] });

/** Hubs whose subscribers record what they get, with waits that re-check on every delivery. */
class Cluster {
  readonly hubs: Hub<Sub>[] = [];
  readonly #waiters = new Set<() => void>();

  add(adapter: PubSubAdapter): Hub<Sub> {
    const hub = new Hub<Sub>({
      adapter,
      deliver: (subscriber: Sub, message: PublishedMessage) => {
        subscriber.got.push({ topic: message.topic, text: message.payload.toString(), isBinary: message.isBinary, compress: message.compress });
        for (const check of this.#waiters) check();
      },
    });
    this.hubs.push(hub);
    return hub;
  }

  /** Resolves when `done()` holds, checked now and after every delivery. */
  until(done: () => boolean, what: string | (() => string), ms = 15_000): Promise<void> {
    let check!: () => void;
    const reached = new Promise<void>((resolve) => {
      check = () => {
        if (!done()) return;
        this.#waiters.delete(check);
        resolve();
      };
    });
    this.#waiters.add(check);
    check();
    return withTimeout(reached, ms, typeof what === 'function' ? what() : what).finally(() => this.#waiters.delete(check));
  }

  async close(): Promise<void> {
    await Promise.all(this.hubs.map((hub) => hub.close()));
  }
}

function nextHubEvent<K extends keyof HubEvents>(hub: Hub<Sub>, event: K, ms = 15_000): Promise<HubEvents[K][0]> {
  return withTimeout(new Promise((resolve) => hub.once(event, ((value: HubEvents[K][0]) => resolve(value)) as never)), ms, `'${event}'`);
}

for (const kind of ['redis', 'nats'] as const satisfies readonly BrokerKind[]) {
  const skip = brokerSkip(kind);

  describe(`pub/sub over ${kind}`, { skip, timeout: 120_000 }, () => {
    let broker: BrokerServer;
    const clusters: Cluster[] = [];
    const cluster = (): Cluster => {
      const made = new Cluster();
      clusters.push(made);
      return made;
    };
    const adapter = (options: RedisAdapterOptions & NatsAdapterOptions = {}): Promise<PubSubAdapter> =>
      kind === 'redis' ? redisAdapter({ url: broker.url, ...options }) : natsAdapter({ servers: broker.url, ...options });
    /** The broker-side name of a subscription to `filter`'s text (exact topics only). */
    const brokerName = (topic: string): string => (kind === 'redis' ? `upshift:${topic}` : `upshift.${topic.split('/').map(natsToken).join('.')}`);

    before(async () => {
      broker = await BrokerServer.start(kind);
    });

    after(async () => {
      for (const made of clusters) await made.close();
      await broker?.stop();
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
    });

    it('3 hubs: every message reaches every subscriber on every hub once, in order per publisher', async () => {
      const shared = await adapter();
      const nodes = cluster();
      const hubs = [nodes.add(shared), nodes.add(shared), nodes.add(shared)];
      const subscribers: Sub[] = [];
      for (const [i, hub] of hubs.entries()) {
        const exact = sub(`exact@${i}`);
        const overlapping = sub(`overlapping@${i}`);
        const below = sub(`below@${i}`);
        hub.subscribe(exact, 'room/1');
        hub.subscribe(overlapping, 'room/+');
        hub.subscribe(overlapping, 'room/1'); // two broker subscriptions match: the broker sends two copies
        hub.subscribe(below, 'room/#');
        subscribers.push(exact, overlapping, below);
      }
      await Promise.all(hubs.map((hub) => hub.ready()));

      const perPublisher = 300;
      for (let n = 0; n <= perPublisher; n++) {
        for (const [i, hub] of hubs.entries()) {
          const text = n === perPublisher ? `${i}:fence` : `${i}:${n}`;
          hub.publish('room/1', Buffer.from(text), n % 2 === 1, { compress: n % 3 !== 0 });
        }
      }
      const total = hubs.length * (perPublisher + 1);
      await nodes.until(
        () => subscribers.every((s) => s.got.length >= total),
        () => `${total} messages each; got ${subscribers.map((s) => `${s.name}=${s.got.length}`).join(' ')}`,
      );
      for (const s of subscribers) {
        assert.equal(s.got.length, total, `${s.name}: no duplicates`);
        for (let i = 0; i < hubs.length; i++) {
          const mine = s.got.filter((m) => m.text.startsWith(`${i}:`));
          const expected = Array.from({ length: perPublisher }, (_, n) => `${i}:${n}`).concat(`${i}:fence`);
          assert.deepEqual(mine.map((m) => m.text), expected, `${s.name}: publisher ${i} in order, each once`);
          assert.ok(mine.every((m, n) => m.isBinary === (n % 2 === 1) && m.topic === 'room/1'), `${s.name}: text/binary flags kept`);
          assert.ok(mine.every((m, n) => m.compress === (n % 3 !== 0)), `${s.name}: compress flags kept`);
        }
      }
      for (const hub of hubs) {
        assert.equal(hub.stats.received, 2 * (perPublisher + 1), 'each hub received the two other publishers');
        assert.ok(hub.stats.duplicates > 0, 'the second copies were seen and dropped');
        assert.equal(hub.stats.published, perPublisher + 1);
      }
    });

    it('subscribes at the broker on the first local subscriber and leaves on the last', async () => {
      const nodes = cluster();
      const shared = await adapter();
      const hub = nodes.add(shared);
      const other = nodes.add(shared);
      const [a, b] = [sub('a'), sub('b')];
      const pattern = kind === 'redis' ? '#patterns' : 'upshift.news.*';
      const at = async (name: string): Promise<number> => {
        await Promise.all([hub.ready(), other.ready()]);
        return (await broker.subscriptions()).get(name) ?? 0;
      };

      assert.equal(await at(brokerName('news/x')), 0);
      hub.subscribe(a, 'news/x');
      assert.equal(await at(brokerName('news/x')), 1);
      hub.subscribe(b, 'news/x');
      assert.equal(await at(brokerName('news/x')), 1, 'one broker subscription per node, not per subscriber');
      const patternsBefore = await at(pattern);
      hub.subscribe(a, 'news/+');
      assert.equal(await at(pattern), patternsBefore + 1);
      other.subscribe(sub('c'), 'news/x');
      assert.equal(await at(brokerName('news/x')), 2, 'one per node');
      hub.unsubscribe(a, 'news/x');
      assert.equal(await at(brokerName('news/x')), 2, 'b is still subscribed');
      hub.unsubscribeAll(b);
      assert.equal(await at(brokerName('news/x')), 1, 'left with the last local subscriber');
      hub.unsubscribeAll(a);
      assert.equal(await at(pattern), patternsBefore);

      // Traffic reaches a node only for topics it has subscribers for: `other` gets none of the
      // noise, which the broker would have sent before the fence (FIFO per publisher).
      const fenced = sub('fenced');
      other.subscribe(fenced, 'fence');
      await other.ready();
      const receivedBefore = other.stats.received;
      for (let n = 0; n < 50; n++) hub.publish(`noise/${n}`, Buffer.from('x'), false);
      hub.publish('fence', Buffer.from('f'), false);
      await nodes.until(() => fenced.got.length === 1, 'the fence');
      assert.equal(other.stats.received - receivedBefore, 1);
      assert.equal(other.stats.duplicates, 0);
    });

    it('survives the broker being killed and restarted mid-stream: local service, bounded queue, outage event, resubscription', async () => {
      const nodes = cluster();
      const queueSize = 50;
      const shared = await adapter({ reconnect: { initialDelay: 20, maxDelay: 200 }, queue: { maxMessages: queueSize } });
      const [publisherHub, remoteHub] = [nodes.add(shared), nodes.add(shared)];
      const [local, remote] = [sub('local'), sub('remote')];
      publisherHub.subscribe(local, 'stream');
      remoteHub.subscribe(remote, 'stream');
      await Promise.all([publisherHub.ready(), remoteHub.ready()]);
      let n = 0;
      const publish = (count: number): void => {
        for (let i = 0; i < count; i++) publisherHub.publish('stream', Buffer.from(String(n++)), false);
      };

      publish(100);
      await nodes.until(() => remote.got.length === 100, 'the first 100 messages');

      const downs = [nextHubEvent(publisherHub, 'broker-down'), nextHubEvent(remoteHub, 'broker-down')];
      const killedAt = Date.now();
      await broker.kill();
      for (const down of await Promise.all(downs)) assert.equal(down.adapter, kind);

      // The outage: local subscribers are still served, remote traffic waits in a bounded queue.
      publish(200);
      assert.equal(local.got.length, 300, 'local delivery goes on without the broker');
      const outage = publisherHub.stats.broker;
      assert.equal(outage.connected, false);
      assert.equal(outage.queued, queueSize, 'the queue stops at its bound');
      assert.equal(outage.queueOverflow, 200 - queueSize, 'and counts what it dropped');
      assert.equal(outage.outages, 1);

      const ups = [nextHubEvent(publisherHub, 'broker-up'), nextHubEvent(remoteHub, 'broker-up')];
      await broker.start();
      const restartedAt = Date.now();
      for (const up of (await Promise.all(ups)) as BrokerUpEvent[]) {
        assert.equal(up.reconnect, true);
        assert.equal(up.adapter, kind);
        assert.ok(up.downtimeMs > 0 && up.downtimeMs <= Date.now() - killedAt, `downtime ${up.downtimeMs} ms`);
        assert.ok(up.attempts >= 1);
      }
      assert.ok(restartedAt >= killedAt);
      await Promise.all([publisherHub.ready(), remoteHub.ready()]);
      assert.equal(publisherHub.stats.broker.queued, 0, 'the queue was flushed');
      assert.equal(publisherHub.stats.broker.connected, true);

      // Service resumes: the remote subscriber was resubscribed and gets everything from now on.
      publish(100);
      await nodes.until(() => remote.got.some((m) => m.text === '399'), 'the messages after the restart');
      const numbers = remote.got.map((m) => Number(m.text));
      assert.deepEqual(numbers.slice(0, 100), Array.from({ length: 100 }, (_, i) => i));
      assert.deepEqual(numbers.slice(-100), Array.from({ length: 100 }, (_, i) => 300 + i));
      assert.ok(numbers.every((value, i) => i === 0 || value > numbers[i - 1]!), 'in order, no duplicates');
      // What the queue kept (the newest of the outage) may or may not have beaten the other node's
      // resubscription; what arrived of it is the newest `queueSize` at most.
      assert.ok(numbers.filter((value) => value >= 100 && value < 300).every((value) => value >= 300 - queueSize));
      assert.equal(local.got.length, 400);
    });

    it('serves local subscribers when the broker is unreachable from the start, and closes cleanly', async () => {
      const nodes = cluster();
      const port = await freePort(); // nothing listens there
      const unreachable =
        kind === 'redis'
          ? await redisAdapter({ url: `redis://127.0.0.1:${port}`, reconnect: { initialDelay: 5, maxDelay: 20 } })
          : await natsAdapter({ servers: `127.0.0.1:${port}`, reconnect: { initialDelay: 5, maxDelay: 20 } });
      const hub = nodes.add(unreachable);
      const down = await nextHubEvent(hub, 'broker-down');
      assert.equal(down.adapter, kind);
      const local = sub('local');
      hub.subscribe(local, 'a/+');
      hub.publish('a/b', Buffer.from('still here'), false);
      assert.deepEqual(local.got.map((m) => m.text), ['still here']);
      assert.equal(hub.stats.broker.connected, false);
      assert.equal(hub.stats.broker.queued, 1);
      await hub.close();
    });

    it('takes messages from a process without WebSockets (createPublisher in a child process)', async () => {
      const nodes = cluster();
      const hub = nodes.add(await adapter());
      const listener = sub('listener');
      hub.subscribe(listener, 'jobs/+');
      await hub.ready();
      const count = 200;
      const child = new ChildPeer(process.execPath, [new URL('./support/publish-child.js', import.meta.url).pathname, kind, broker.url, 'jobs/nightly', String(count)]);
      try {
        const stats = await child.nextJson<{ published: number; broker: { queueOverflow: number } }>(20_000, 'the publisher stats');
        assert.equal(stats.published, count);
        assert.equal(stats.broker.queueOverflow, 0);
        assert.equal((await child.waitForExit(10_000)).code, 0);
        await nodes.until(() => listener.got.length === count, () => `${count} messages, got ${listener.got.length}`);
        assert.deepEqual(
          listener.got.map((m) => [m.text, m.isBinary]),
          Array.from({ length: count }, (_, i) => [`m${i}`, i % 3 === 2]),
        );
      } finally {
        await child.stop();
      }
    });
  });
}

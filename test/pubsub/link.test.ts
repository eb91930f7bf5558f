// The broker link's state machine (reconnect, resubscribe, bounded queue, shared broker keys)
// with a scripted driver: what the real Redis and NATS tests cannot make happen on demand.

import { strict as assert } from 'node:assert';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { backoffDelay, brokerAdapter, type BrokerDriver, type BrokerSession, type SessionHandlers } from '../../src/pubsub/adapter.js';
import { decodeEnvelope } from '../../src/pubsub/envelope.js';
import { Hub, type BrokerUpEvent } from '../../src/pubsub/hub.js';
import { withTimeout } from '../peers/support/peers.js';

/** A broker that is up or down on command and logs what each session was asked to do. */
class ScriptedBroker extends EventEmitter {
  up = false;
  connects = 0;
  readonly log: string[] = [];
  #sessions: SessionHandlers[] = [];

  readonly driver: BrokerDriver = {
    name: 'scripted',
    keysFor: (filter) => {
      if (filter.match === 'wildcard' && filter.rest) {
        // Like the real adapters: `a/#` needs `a` itself and a pattern below it.
        return [
          { name: filter.levels.join('/'), pattern: false },
          { name: filter.text, pattern: true },
        ];
      }
      return [{ name: filter.text, pattern: filter.match !== 'exact' }];
    },
    channelFor: (topic) => topic,
    connect: async (handlers): Promise<BrokerSession> => {
      this.connects++;
      this.emit('connect');
      if (!this.up) throw new Error('connect ECONNREFUSED');
      this.#sessions.push(handlers);
      return {
        subscribe: async (key) => void this.log.push(`sub ${key.name}`),
        unsubscribe: async (key) => void this.log.push(`unsub ${key.name}`),
        publish: (channel, data) => void this.log.push(`pub ${channel} ${decodeEnvelope(data)!.payload.toString()}`),
        close: async () => {},
      };
    },
  };

  /** The connection drops (RST): every session reports it. */
  drop(): void {
    this.up = false;
    const sessions = this.#sessions;
    this.#sessions = [];
    for (const handlers of sessions) handlers.lost(new Error('read ECONNRESET'));
  }

  take(): string[] {
    return this.log.splice(0);
  }
}

type Sub = { got: string[] };

function scriptedHub(broker: ScriptedBroker, maxMessages = 3): Hub<Sub> {
  const adapter = brokerAdapter(broker.driver, { reconnect: { initialDelay: 1, maxDelay: 4 }, queue: { maxMessages } });
  return new Hub<Sub>({ adapter, deliver: (s, m) => void s.got.push(m.payload.toString()) });
}

const event = <T>(hub: Hub<Sub>, name: 'broker-up' | 'broker-down'): Promise<T> =>
  withTimeout(once(hub, name).then(([value]) => value as T), 5000, name);

describe('broker link', () => {
  it('backs off exponentially up to maxDelay, with 50–100 % jitter', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 50].map((failures) => backoffDelay(failures, 100, 2000, () => 1)),
      [100, 200, 400, 800, 1600, 2000, 2000, 2000],
    );
    assert.deepEqual(
      [0, 1, 5].map((failures) => backoffDelay(failures, 100, 2000, () => 0)),
      [50, 100, 1000],
    );
  });

  it('serves locally while the broker is unreachable from the start, then subscribes and flushes the newest queued messages in order', async () => {
    const broker = new ScriptedBroker();
    const hub = scriptedHub(broker);
    const down = await event<{ adapter: string; error: Error }>(hub, 'broker-down');
    assert.match(down.error.message, /ECONNREFUSED/);
    let downs = 0;
    hub.on('broker-down', () => downs++);
    const local: Sub = { got: [] };
    hub.subscribe(local, 'room');
    hub.subscribe(local, 'feed/#');
    hub.subscribe({ got: [] }, 'feed'); // shares the broker key `feed` with `feed/#`
    for (let i = 0; i < 5; i++) hub.publish('room', Buffer.from(`m${i}`), false);
    assert.deepEqual(local.got, ['m0', 'm1', 'm2', 'm3', 'm4'], 'local delivery without a broker');
    assert.equal(hub.stats.broker.queued, 3);
    assert.equal(hub.stats.broker.queueOverflow, 2);
    assert.deepEqual(broker.take(), [], 'nothing reaches a broker that is not there');
    // Several attempts fail before it comes up: still one outage, reported once.
    while (broker.connects < 3) await withTimeout(once(broker, 'connect'), 5000, 'a connection attempt');
    broker.up = true;
    const up = await event<BrokerUpEvent>(hub, 'broker-up');
    assert.equal(up.reconnect, false, 'the first connection');
    assert.ok(up.attempts >= 3);
    assert.ok(up.downtimeMs >= 0);
    assert.equal(downs, 0);
    assert.equal(hub.stats.broker.outages, 1);
    await hub.ready();
    assert.deepEqual(broker.take(), ['sub room', 'sub feed', 'sub feed/#', 'pub room m2', 'pub room m3', 'pub room m4']);
    assert.equal(hub.stats.broker.queued, 0);
    await hub.close();
  });

  it('after a dropped connection, resubscribes only what still has local subscribers', async () => {
    const broker = new ScriptedBroker();
    broker.up = true;
    const hub = scriptedHub(broker);
    const [a, b] = [{ got: [] }, { got: [] }] as Sub[];
    hub.subscribe(a!, 'x/#');
    hub.subscribe(b!, 'x');
    hub.subscribe(b!, 'y');
    await hub.ready();
    assert.deepEqual(broker.take(), ['sub x', 'sub x/#', 'sub y']);
    hub.unsubscribe(b!, 'x');
    await hub.ready();
    assert.deepEqual(broker.take(), [], '`x` is still needed by `x/#`');

    const downEvent = event(hub, 'broker-down');
    broker.drop();
    await downEvent;
    assert.equal(hub.stats.broker.connected, false);
    hub.unsubscribeAll(b!); // leaves `y` while cut off
    hub.subscribe(b!, 'z');
    hub.publish('x', Buffer.from('during'), false);
    assert.deepEqual(broker.take(), []);
    const upEvent = event<BrokerUpEvent>(hub, 'broker-up');
    broker.up = true;
    const up = await upEvent;
    assert.equal(up.reconnect, true);
    await hub.ready();
    assert.deepEqual(broker.take(), ['sub x', 'sub x/#', 'sub z', 'pub x during']);
    hub.unsubscribeAll(a!);
    await hub.ready();
    assert.deepEqual(broker.take(), ['unsub x', 'unsub x/#']);
    assert.equal(hub.stats.broker.outages, 1);
    await hub.close();
    await assert.rejects(hub.ready(), { code: 'PUBSUB_ERR_CLOSED' });
  });

  it('stops reconnecting when closed while the broker is down', async () => {
    const broker = new ScriptedBroker();
    const hub = scriptedHub(broker);
    await event(hub, 'broker-down');
    const waiting = hub.ready();
    await hub.close();
    const attempts = broker.connects;
    await assert.rejects(waiting, { code: 'PUBSUB_ERR_CLOSED' });
    // Let several backoff periods pass (maxDelay is 4 ms): no attempt is made any more.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(broker.connects, attempts);
  });
});

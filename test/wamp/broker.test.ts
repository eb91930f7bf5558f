// Publish & subscribe: the basic profile, pattern-based subscriptions, publisher exclusion and
// identification, subscriber black- and whitelisting, acknowledgements, meta events.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { WampRouter } from '../../src/wamp/index.js';
import { EVENT, PUBLISHED, UNSUBSCRIBE, UNSUBSCRIBED, ERROR, joined, type MemoryClient } from './support/memory.js';

const router = (): WampRouter => new WampRouter({ realms: { realm1: {}, realm2: {} } });

/** Publishes a marker event that `client` is subscribed to, and returns the events before it. */
async function eventsBefore(publisher: MemoryClient, client: MemoryClient, marker = 'com.marker'): Promise<unknown[][]> {
  await client.subscribe(marker);
  publisher.publish(marker, ['end']);
  const all: unknown[][] = [];
  for (;;) {
    const event = await client.expect(EVENT);
    if ((event[4] as unknown[] | undefined)?.[0] === 'end' && (event[3] as { topic?: string }).topic === undefined) return all;
    all.push(event);
  }
}

describe('WAMP broker', () => {
  it('delivers args and kwargs to every subscriber but the publisher, in order', async () => {
    const r = router();
    const [pub, a, b] = [await joined(r), await joined(r), await joined(r)];
    const id = await a.subscribe('com.news');
    await b.subscribe('com.news');
    await pub.subscribe('com.news');
    for (let i = 0; i < 5; i++) pub.publish('com.news', [i], {}, { n: i });
    for (const client of [a, b]) {
      for (let i = 0; i < 5; i++) {
        const event = await client.expect(EVENT);
        assert.equal(event[1], id);
        assert.deepEqual([event[3], event[4], event[5]], [{}, [i], { n: i }]);
      }
    }
    assert.deepEqual(await eventsBefore(a, pub), [], 'the publisher is excluded by default');
    await r.close();
  });

  it('keeps realms apart', async () => {
    const r = router();
    const one = await joined(r, 'realm1');
    const two = await joined(r, 'realm2');
    await two.subscribe('com.news');
    one.publish('com.news', ['realm1']);
    assert.deepEqual(await eventsBefore(await joined(r, 'realm2'), two), []);
    await r.close();
  });

  it('exclude_me: false delivers to the publisher too; acknowledge answers PUBLISHED with the publication ID', async () => {
    const r = router();
    const pub = await joined(r);
    const sub = await joined(r);
    await pub.subscribe('com.me');
    await sub.subscribe('com.me');
    const request = pub.publish('com.me', ['hi'], { exclude_me: false, acknowledge: true });
    const ack = await pub.expect(PUBLISHED, request);
    const own = await pub.expect(EVENT);
    const other = await sub.expect(EVENT);
    assert.equal(own[2], ack[2]);
    assert.equal(other[2], ack[2]);
    await r.close();
  });

  it('disclose_me shows publisher, publisher_authid and publisher_authrole', async () => {
    const r = router();
    const pub = await joined(r);
    const sub = await joined(r);
    await sub.subscribe('com.who');
    pub.publish('com.who', [], { disclose_me: true });
    const details = (await sub.expect(EVENT))[3] as Record<string, unknown>;
    assert.equal(details.publisher, pub.session);
    assert.equal(details.publisher_authrole, 'anonymous');
    assert.equal(typeof details.publisher_authid, 'string');
    pub.publish('com.who', []);
    assert.deepEqual((await sub.expect(EVENT))[3], {});
    await r.close();
  });

  it('prefix and wildcard subscriptions get the concrete topic in EVENT.Details.topic, once per matching subscription', async () => {
    const r = router();
    const pub = await joined(r);
    const sub = await joined(r);
    const exact = await sub.subscribe('com.app.user.update');
    const prefix = await sub.subscribe('com.app.user', { match: 'prefix' });
    const wildcard = await sub.subscribe('com.app..update', { match: 'wildcard' });
    assert.equal(new Set([exact, prefix, wildcard]).size, 3);
    pub.publish('com.app.user.update', [1]);
    const got = [await sub.expect(EVENT), await sub.expect(EVENT), await sub.expect(EVENT)];
    const bySubscription = new Map(got.map((event) => [event[1], event[3]]));
    assert.deepEqual(bySubscription.get(exact), {});
    assert.deepEqual(bySubscription.get(prefix), { topic: 'com.app.user.update' });
    assert.deepEqual(bySubscription.get(wildcard), { topic: 'com.app.user.update' });
    assert.equal(new Set(got.map((event) => event[2])).size, 1, 'one publication ID');
    // The spec's tables: prefix is a string prefix, a wildcard is one whole component.
    pub.publish('com.app.user-admin', ['prefix only']);
    pub.publish('com.app.order.update', ['wildcard only']);
    pub.publish('com.app.order.update.more', ['none']);
    pub.publish('com.app.use', ['none']);
    const rest = await eventsBefore(pub, sub);
    assert.deepEqual(
      rest.map((event) => [event[1], (event[4] as unknown[])[0]]),
      [
        [prefix, 'prefix only'],
        [wildcard, 'wildcard only'],
      ],
    );
    await r.close();
  });

  it('black- and whitelisting by session ID, authid and authrole', async () => {
    const r = new WampRouter({
      realms: { realm1: {} },
      auth: [
        (await import('../../src/wamp/index.js')).ticket((authid) => ({ authrole: authid.startsWith('admin') ? 'admin' : 'user' })),
      ],
    });
    const join = async (authid: string): Promise<MemoryClient> => {
      const { connect, AUTHENTICATE, WELCOME } = await import('./support/memory.js');
      const client = connect(r);
      await client.join('realm1', { authmethods: ['ticket'], authid });
      client.write([AUTHENTICATE, 'secret', {}]);
      client.session = (await client.expect(WELCOME))[1] as number;
      return client;
    };
    const pub = await join('publisher');
    const [alice, bob, admin] = [await join('alice'), await join('bob'), await join('admin1')];
    for (const client of [alice, bob, admin]) await client.subscribe('com.list');
    const cases: [Record<string, unknown>, MemoryClient[]][] = [
      [{ exclude: [alice.session] }, [bob, admin]],
      [{ eligible: [alice.session, bob.session] }, [alice, bob]],
      [{ eligible: [alice.session, bob.session], exclude: [bob.session] }, [alice]],
      [{ exclude_authid: ['bob'] }, [alice, admin]],
      [{ eligible_authid: ['bob', 'admin1'] }, [bob, admin]],
      [{ exclude_authrole: ['admin'] }, [alice, bob]],
      [{ eligible_authrole: ['admin'] }, [admin]],
      [{ eligible_authrole: ['user'], exclude_authid: ['alice'] }, [bob]],
    ];
    for (const [index, [options]] of cases.entries()) pub.publish('com.list', [index], options);
    for (const client of [alice, bob, admin]) {
      const got = (await eventsBefore(pub, client)).map((event) => (event[4] as number[])[0]);
      const want = cases.flatMap(([, receivers], index) => (receivers.includes(client) ? [index] : []));
      assert.deepEqual(got, want, `events at ${client === alice ? 'alice' : client === bob ? 'bob' : 'admin'}`);
    }
    await r.close();
  });

  it('UNSUBSCRIBE stops events; an unknown subscription is wamp.error.no_such_subscription', async () => {
    const r = router();
    const pub = await joined(r);
    const sub = await joined(r);
    const id = await sub.subscribe('com.gone');
    const request = sub.nextRequest();
    sub.write([UNSUBSCRIBE, request, id]);
    await sub.expect(UNSUBSCRIBED, request);
    pub.publish('com.gone', []);
    assert.deepEqual(await eventsBefore(pub, sub), []);
    const again = sub.nextRequest();
    sub.write([UNSUBSCRIBE, again, id]);
    assert.equal((await sub.expect(ERROR, again))[4], 'wamp.error.no_such_subscription');
    await r.close();
  });

  it('session meta events: wamp.session.on_join and on_leave', async () => {
    const r = router();
    const watcher = await joined(r);
    await watcher.subscribe('wamp.session.on_join');
    await watcher.subscribe('wamp.session.on_leave');
    const other = await joined(r);
    const join = await watcher.expect(EVENT);
    const details = (join[4] as Record<string, unknown>[])[0]!;
    assert.equal(details.session, other.session);
    assert.equal(details.authrole, 'anonymous');
    assert.equal(details.authmethod, 'anonymous');
    other.close();
    const leave = await watcher.expect(EVENT);
    assert.deepEqual((leave[4] as unknown[]).slice(0, 1), [other.session]);
    assert.equal((leave[4] as unknown[]).length, 3);
    await r.close();
  });

  it('drops events for a session over maxBufferedAmount, counted in stats.dropped', async () => {
    const r = new WampRouter({ realms: { realm1: {} }, maxBufferedAmount: 100 });
    const pub = await joined(r);
    const slow = await joined(r);
    const fast = await joined(r);
    await slow.subscribe('com.flood');
    await fast.subscribe('com.flood');
    slow.bufferedAmount = 101;
    for (let i = 0; i < 10; i++) pub.publish('com.flood', [i]);
    assert.equal(fast.drain(EVENT).length, 10);
    assert.equal(slow.drain(EVENT).length, 0);
    assert.equal(r.stats.dropped, 10);
    assert.equal(r.stats.delivered, 10);
    slow.bufferedAmount = 0;
    pub.publish('com.flood', ['again']);
    assert.equal(slow.drain(EVENT).length, 1);
    await r.close();
  });
});

describe('WAMP broker fan-out encodes each EVENT once per subscription and serializer', () => {
  it('N subscribers of one subscription share the same bytes', async () => {
    const r = router();
    const pub = await joined(r);
    const subs: MemoryClient[] = [];
    for (let i = 0; i < 8; i++) {
      const client = await joined(r, 'realm1', i % 2 === 0 ? 'wamp.2.json' : 'wamp.2.msgpack');
      await client.subscribe('com.fan');
      subs.push(client);
    }
    pub.publish('com.fan', ['x'.repeat(100)]);
    const frames = subs.map((client) => client.frames.at(-1)![1]);
    const distinct = new Set(frames);
    assert.equal(distinct.size, 2, 'one Buffer for the JSON subscribers, one for the MessagePack ones');
    await r.close();
  });
});

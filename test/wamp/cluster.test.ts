// Two router nodes sharing a realm through a pub/sub adapter: the in-process adapter, and real
// redis-server and nats-server on loopback ports (skipped with an install hint when missing,
// failing under CI=true). Cross-node events, calls, shared registrations across nodes, cancel and
// timeout across nodes, a callee leaving, and a node killed with SIGKILL mid-call.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { Hub, WAMP_TOPICS, inProcessAdapter, natsAdapter, redisAdapter, type PubSubAdapter } from '../../src/pubsub/index.js';
import { WampRouter, msgpackEncode, type WampRouterEvents } from '../../src/wamp/index.js';
import { ChildPeer, withTimeout } from '../peers/support/peers.js';
import { BrokerServer, brokerSkip } from '../pubsub/support/brokers.js';
import { CALL, CANCEL, ERROR, EVENT, INTERRUPT, INVOCATION, RESULT, YIELD, joined } from './support/memory.js';

type Kind = 'in-process' | 'redis' | 'nats';

/** Resolves when `router` emits `event` with a payload `test` accepts (bounded). */
function until<K extends keyof WampRouterEvents>(router: WampRouter, event: K, test: (payload: WampRouterEvents[K][0]) => boolean, ms = 10_000): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const listener = (payload: WampRouterEvents[K][0]): void => {
        if (!test(payload)) return;
        router.off(event, listener as never);
        resolve();
      };
      router.on(event, listener as never);
    }),
    ms,
    `'${event}'`,
  );
}

for (const kind of ['in-process', 'redis', 'nats'] as Kind[]) {
  const skip = kind === 'in-process' ? false : brokerSkip(kind);

  describe(`two WAMP router nodes over ${kind}`, { skip, timeout: 120_000 }, () => {
    let broker: BrokerServer | null = null;
    const routers: WampRouter[] = [];
    const shared = inProcessAdapter();

    const adapter = async (): Promise<PubSubAdapter> => {
      if (kind === 'in-process') return shared;
      if (kind === 'redis') return redisAdapter({ url: broker!.url });
      return natsAdapter({ servers: broker!.url });
    };

    /** Two nodes that know each other. */
    async function pair(): Promise<[WampRouter, WampRouter]> {
      const a = new WampRouter({ realms: { realm1: {} }, pubsub: { adapter: await adapter() }, cluster: { heartbeat: 200, nodeTimeout: 2000 } });
      routers.push(a);
      await a.ready();
      const b = new WampRouter({ realms: { realm1: {} }, pubsub: { adapter: await adapter() }, cluster: { heartbeat: 200, nodeTimeout: 2000 } });
      routers.push(b);
      const met = until(a, 'node-up', ({ node }) => node === b.node);
      await b.ready();
      await met;
      return [a, b];
    }

    before(async () => {
      if (kind !== 'in-process') broker = await BrokerServer.start(kind);
    });

    after(async () => {
      await Promise.all(routers.map((router) => router.close()));
      await broker?.stop();
    });

    it('events published on one node reach subscribers on the other, with patterns and lists', async () => {
      const [a, b] = await pair();
      const publisher = await joined(a, 'realm1', 'wamp.2.msgpack');
      const local = await joined(a);
      const remote = await joined(b, 'realm1', 'wamp.2.msgpack');
      const excluded = await joined(b);
      const exact = await remote.subscribe('com.feed.prices');
      const prefix = await remote.subscribe('com.feed.', { match: 'prefix' });
      await excluded.subscribe('com.feed.prices');
      await local.subscribe('com.feed.prices');
      await b.ready(); // the broker subscriptions are in place
      publisher.publish('com.feed.prices', [1, Buffer.from([9, 8])], { disclose_me: true, exclude: [excluded.session] }, { k: 'v' });
      const got = [await remote.expect(EVENT), await remote.expect(EVENT)];
      const bySubscription = new Map(got.map((event) => [event[1], event]));
      assert.deepEqual(bySubscription.get(exact)!.slice(4), [[1, Buffer.from([9, 8])], { k: 'v' }]);
      assert.equal((bySubscription.get(prefix)![3] as Record<string, unknown>).topic, 'com.feed.prices');
      assert.equal((bySubscription.get(exact)![3] as Record<string, unknown>).publisher, publisher.session);
      assert.equal((await local.expect(EVENT))[2], got[0]![2], 'one publication ID on both nodes');
      // Order per publisher across nodes, and the exclusion list applied on the other node.
      for (let i = 0; i < 50; i++) publisher.publish('com.feed.prices', [i]);
      const order: number[] = [];
      while (order.length < 50) {
        const event = await remote.expect(EVENT);
        if (event[1] === exact) order.push((event[4] as number[])[0]!);
      }
      assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i));
      assert.equal(excluded.drain(EVENT).length, 50, 'only the 50 unlisted ones');
    });

    it('a CALL on one node reaches a callee on the other, with progress, disclosure and errors', async () => {
      const [a, b] = await pair();
      const caller = await joined(a);
      const callee = await joined(b, 'realm1', 'wamp.2.msgpack');
      const seen = until(a, 'procedure', ({ uri, callees }) => uri === 'com.remote.' && callees === 1);
      await callee.register('com.remote.', { match: 'prefix' });
      await seen;
      const request = caller.call('com.remote.add', [2, 3], { disclose_me: true, receive_progress: true }, { bytes: '\u0000eA==' });
      const invocation = await callee.expect(INVOCATION);
      const details = invocation[3] as Record<string, unknown>;
      assert.equal(details.procedure, 'com.remote.add');
      assert.equal(details.caller, caller.session);
      assert.equal(details.receive_progress, true);
      assert.deepEqual(invocation.slice(4), [[2, 3], { bytes: Buffer.from('x') }]);
      callee.write([YIELD, invocation[1], { progress: true }, ['half']]);
      callee.write([YIELD, invocation[1], {}, [5]]);
      assert.deepEqual(await caller.expect(RESULT, request), [RESULT, request, { progress: true }, ['half']]);
      assert.deepEqual(await caller.outcome(request), [RESULT, request, {}, [5]]);
      const failing = caller.call('com.remote.fail');
      const second = await callee.expect(INVOCATION);
      callee.write([ERROR, INVOCATION, second[1], {}, 'com.app.error', ['no']]);
      assert.deepEqual(await caller.outcome(failing), [ERROR, CALL, failing, {}, 'com.app.error', ['no']]);
      assert.ok(a.stats.remoteCalls >= 2);
    });

    it('a shared registration spans both nodes: roundrobin alternates between them', async () => {
      const [a, b] = await pair();
      const caller = await joined(a);
      const here = await joined(a);
      const there = await joined(b);
      await here.register('com.shared', { invoke: 'roundrobin' });
      const seen = until(a, 'procedure', ({ uri }) => uri === 'com.shared');
      await there.register('com.shared', { invoke: 'roundrobin' });
      await seen;
      // Each callee answers every INVOCATION with its name as soon as it gets it.
      for (const [client, name] of [[here, 'here'], [there, 'there']] as const) {
        const send = client.send.bind(client);
        client.send = (data, options) => {
          send(data, options);
          for (const invocation of client.drain(INVOCATION)) client.write([YIELD, invocation[1], {}, [name]]);
        };
      }
      const served: string[] = [];
      for (let i = 0; i < 4; i++) served.push(((await caller.outcome(caller.call('com.shared')))[3] as string[])[0]!);
      // Registration order across nodes comes from their clocks: alternation is what is promised.
      assert.deepEqual(new Set(served), new Set(['here', 'there']));
      assert.ok(served.every((name, i) => i === 0 || name !== served[i - 1]), served.join());
    });

    it('cancel and timeout across nodes; a remote callee leaving ends the call with canceled', async () => {
      const [a, b] = await pair();
      const caller = await joined(a);
      const callee = await joined(b);
      const seen = until(a, 'procedure', ({ uri }) => uri === 'com.slow');
      await callee.register('com.slow');
      await seen;
      const canceled = caller.call('com.slow');
      const first = await callee.expect(INVOCATION);
      caller.write([CANCEL, canceled, { mode: 'killnowait' }]);
      assert.equal((await caller.outcome(canceled))[4], 'wamp.error.canceled');
      assert.deepEqual(await callee.expect(INTERRUPT), [INTERRUPT, first[1], { mode: 'killnowait' }]);
      const timed = caller.call('com.slow', [], { timeout: 50 });
      const second = await callee.expect(INVOCATION);
      assert.equal((await caller.outcome(timed))[4], 'wamp.error.timeout');
      assert.deepEqual(await callee.expect(INTERRUPT), [INTERRUPT, second[1], { mode: 'killnowait' }]);
      const orphaned = caller.call('com.slow');
      await callee.expect(INVOCATION);
      callee.close();
      assert.equal((await caller.outcome(orphaned))[4], 'wamp.error.canceled');
    });

    it('a node that closes says bye: its callees go and calls waiting for it end with canceled', async () => {
      const [a, b] = await pair();
      const caller = await joined(a);
      const callee = await joined(b);
      const seen = until(a, 'procedure', ({ uri }) => uri === 'com.bye');
      await callee.register('com.bye');
      await seen;
      const request = caller.call('com.bye');
      await callee.expect(INVOCATION);
      const down = until(a, 'node-down', ({ node }) => node === b.node);
      await b.close();
      await down;
      assert.equal((await caller.outcome(request))[4], 'wamp.error.canceled');
      assert.equal((await caller.outcome(caller.call('com.bye')))[4], 'wamp.error.no_such_procedure');
    });

    if (kind !== 'in-process') {
      it('a node killed with SIGKILL mid-call: the caller gets canceled once it is not heard from', async () => {
        const a = new WampRouter({ realms: { realm1: {} }, pubsub: { adapter: await adapter() }, cluster: { heartbeat: 100, nodeTimeout: 600 } });
        routers.push(a);
        await a.ready();
        const caller = await joined(a);
        const seen = until(a, 'procedure', ({ uri }) => uri === 'com.child.slow');
        const child = new ChildPeer(process.execPath, [new URL('./support/node-child.js', import.meta.url).pathname, kind, broker!.url]);
        try {
          const { ready } = await child.nextJson<{ ready: string }>(20_000, 'the child node');
          await seen;
          const request = caller.call('com.child.slow', ['payload']);
          assert.deepEqual(await child.nextJson(10_000, 'the invocation in the child'), { invoked: 'payload' });
          const down = until(a, 'node-down', ({ node }) => node === ready);
          child.child.kill('SIGKILL');
          await down;
          const outcome = await caller.outcome(request);
          assert.equal(outcome[4], 'wamp.error.canceled');
          assert.equal((await caller.outcome(caller.call('com.child.slow')))[4], 'wamp.error.no_such_procedure');
        } finally {
          await child.stop();
        }
      });
    }
  });
}

describe('cluster robustness', () => {
  it('drops malformed and invalid broker messages, and keeps serving', async () => {
    const adapter = inProcessAdapter();
    const r = new WampRouter({ realms: { realm1: {} }, pubsub: { adapter } });
    await r.ready();
    const rogue = new Hub<object>({ adapter, syntax: WAMP_TOPICS, maxLength: 4096, maxLevels: 4096, deliver: () => {} });
    rogue.publish('_wamp.c.all', Buffer.from('not msgpack'), true);
    rogue.publish('_wamp.c.all', msgpackEncode(['proc', 'rogue', 1, 'realm1', 'com..bad', 'exact', 'single', [[1, 2]]]), true);
    rogue.publish('_wamp.c.all', msgpackEncode(['proc', 'rogue', 2, 'realm1', 'com.ok', 'regex', 'single', [[1, 2]]]), true);
    rogue.publish(`_wamp.c.n.${r.node}`, msgpackEncode(['reply', 'rogue', 'realm1', 'not an id', 'result']), true);
    assert.equal(r.stats.cluster!.malformed, 4);
    const client = await joined(r);
    assert.equal((await client.outcome(client.call('com.ok')))[4], 'wamp.error.no_such_procedure');
    await rogue.close();
    await r.close();
  });
});

describe('cluster options', () => {
  it('refuses a node timeout not longer than the heartbeat', () => {
    assert.throws(() => new WampRouter({ realms: {}, pubsub: { adapter: inProcessAdapter() }, cluster: { heartbeat: 100, nodeTimeout: 100 } }), RangeError);
  });

  it('refuses unknown options', async () => {
    assert.throws(() => new WampRouter({ realms: {}, pubsub: { adapter: inProcessAdapter() }, realm: 'x' } as never), /unknown option "realm"/);
  });
});

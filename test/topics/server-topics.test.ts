// Topics on the server: ws.subscribe / wss.publish over HTTP/1.1 and HTTP/2, the process-wide
// hub shared by endpoints, a server's own hub, subscriptions dropped on close.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Http2Server } from 'node:http2';
import { connect } from '../../src/client/connect.js';
import { deliverPublished, type WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { Hub } from '../../src/pubsub/hub.js';
import type { SharedMessage } from '../../src/protocol/shared-message.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { createTopicHub, defaultTopicHub } from '../../src/server/topics.js';
import { PubSubError } from '../../src/pubsub/errors.js';
import { collectEvents, nextEvent } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { startH2cServer, HOST, type StartedH2 } from '../http2/support/h2.js';

interface Pair {
  server: WebSocketConnection;
  client: WebSocketConnection;
  received: [string, boolean][];
}

async function pair(server: StartedServer<unknown>): Promise<Pair> {
  const accepted = server.nextConnection();
  const client = await connect(server.url(), { handshakeTimeout: 2000 });
  const received: [string, boolean][] = [];
  client.on('message', (data, isBinary) => received.push([data.toString(), isBinary]));
  return { server: await accepted, client, received };
}

/** Resolves once every message sent so far to `client` has arrived (a round trip behind them). */
async function settled(p: Pair): Promise<void> {
  const echoed = nextEvent<[Buffer]>(p.server, 'message');
  p.client.send('sync');
  await echoed;
  const back = nextEvent(p.client, 'message');
  p.server.send('sync');
  await back;
  p.received.pop();
}

describe('server topics', { timeout: 20_000 }, () => {
  let server: StartedServer<unknown>;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('subscribe, publish (text, binary, except), topics, unsubscribe, counts', async () => {
    const a = await pair(server);
    const b = await pair(server);
    assert.equal(a.server.subscribe('chat/lobby'), true);
    assert.equal(a.server.subscribe('chat/lobby'), false, 'already subscribed');
    assert.equal(b.server.subscribe('chat/+'), true);
    assert.deepEqual(a.server.topics, ['chat/lobby']);
    assert.throws(() => (a.server.topics as string[]).push('x'), TypeError, 'read-only');
    assert.equal(server.wss.subscriberCount('chat/lobby'), 2);
    assert.equal(server.wss.subscriberCount('chat/other'), 1);

    assert.equal(server.wss.publish('chat/lobby', 'hello'), 2);
    assert.equal(server.wss.publish('chat/lobby', Buffer.from('bin')), 2);
    assert.equal(server.wss.publish('chat/lobby', 'not to a', { except: a.server }), 1);
    assert.equal(server.wss.publish('chat/lobby', 'as binary', { binary: true }), 2);
    assert.equal(server.wss.publish('news', 'nobody'), 0);
    assert.throws(() => server.wss.publish('chat/+', 'x'), PubSubError, 'a filter is no topic name');
    await settled(a);
    await settled(b);
    assert.deepEqual(a.received, [['hello', false], ['bin', true], ['as binary', true]]);
    assert.deepEqual(b.received, [['hello', false], ['bin', true], ['not to a', false], ['as binary', true]]);

    assert.equal(a.server.unsubscribe('chat/lobby'), true);
    assert.equal(a.server.unsubscribe('chat/lobby'), false);
    assert.deepEqual(a.server.topics, []);
    assert.equal(server.wss.publish('chat/lobby', 'only b'), 1);

    // Closing drops every subscription of the connection.
    b.server.subscribe('more/#');
    const closed = nextEvent(b.server, 'close');
    b.client.close();
    await closed;
    assert.equal(server.wss.subscriberCount('chat/lobby'), 0);
    assert.equal(server.wss.subscriberCount('more/x'), 0);
    assert.deepEqual(b.server.topics, []);
    assert.equal(b.server.subscribe('late'), false, 'a closed connection does not subscribe');
    assert.equal(server.wss.pubsub.topicsOf(b.server).length, 0);
    a.client.close();
  });

  it('a publish is framed once: every subscriber gets the same frame buffer', async () => {
    const frames: (SharedMessage | undefined)[] = [];
    const hub = new Hub<WebSocketConnection, SharedMessage>({
      deliver: (ws, message) => {
        const taken = deliverPublished(ws, message);
        frames.push(message.frame);
        return taken;
      },
    });
    const own = await startServer({ pubsub: hub });
    try {
      const pairs = [await pair(own), await pair(own), await pair(own)];
      for (const p of pairs) p.server.subscribe('once');
      assert.equal(own.wss.publish('once', 'x'.repeat(100)), 3);
      assert.equal(frames.length, 3);
      assert.ok(frames[0] !== undefined && frames.every((frame) => frame === frames[0]), 'one message object for all');
      assert.equal(frames[0].frame, frames[0].frame, 'its frame is built once');
      assert.equal(frames[0].encodings, null, 'peers without permessage-deflate: nothing compressed');
      for (const p of pairs) {
        await settled(p);
        assert.deepEqual(p.received, [['x'.repeat(100), false]]);
        p.client.close();
      }
    } finally {
      await own.stop();
      await hub.close();
    }
  });

  it('a client connection has no topics', async () => {
    const a = await pair(server);
    assert.throws(() => a.client.subscribe('x'), TypeError);
    assert.throws(() => a.client.unsubscribe('x'), TypeError);
    assert.deepEqual(a.client.topics, []);
    a.client.close();
  });

  it('rejects bad pubsub and slowConsumers options', () => {
    assert.throws(() => new WebSocketServer({ noServer: true, pubsub: { adapterr: 1 } as never }), /unknown option "adapterr"/);
    assert.throws(() => new WebSocketServer({ noServer: true, slowConsumers: 'wait' as never }), /slowConsumers/);
    assert.throws(() => new WebSocketServer({ noServer: true, pubsub: 5 as never }), TypeError);
  });
});

describe('one process-wide hub for every endpoint, HTTP/1.1 and HTTP/2', { timeout: 20_000 }, () => {
  let h1: StartedServer<unknown>;
  let h2: StartedH2<Http2Server>;
  let wss2: WebSocketServer;
  before(async () => {
    h1 = await startServer();
    h2 = await startH2cServer();
    wss2 = new WebSocketServer({ server: h2.server });
  });
  after(async () => {
    await wss2.close({ timeout: 200 });
    await h2.stop();
    await h1.stop();
  });

  it('a publish on either endpoint, or WebSocketServer.publish(), reaches both', async () => {
    assert.equal(h1.wss.pubsub, wss2.pubsub);
    assert.equal(h1.wss.pubsub, defaultTopicHub());
    const accepted = new Promise<WebSocketConnection>((resolve) => wss2.once('connection', resolve));
    const overH2 = await connect(`ws://${HOST}:${h2.port}/`, { http2: true });
    const h2Server = await accepted;
    const a = await pair(h1);
    a.server.subscribe('shared/topic');
    h2Server.subscribe('shared/#');
    const atH2 = collectEvents<[Buffer, boolean]>(overH2, 'message', 3);
    const got: string[] = [];
    overH2.on('message', (data) => got.push(data.toString()));
    assert.equal(h1.wss.publish('shared/topic', 'from h1'), 2);
    assert.equal(wss2.publish('shared/topic', 'from h2'), 2);
    assert.equal(WebSocketServer.publish('shared/topic', 'from anywhere'), 2);
    await atH2;
    await settled(a);
    assert.deepEqual(got, ['from h1', 'from h2', 'from anywhere']);
    assert.deepEqual(a.received.map(([text]) => text), ['from h1', 'from h2', 'from anywhere']);
    overH2.close();
    a.client.close();
  });

  it('a server with a hub of its own (pubsub option) is apart from the default one', async () => {
    const hub = createTopicHub();
    const own = await startServer({ pubsub: hub });
    const withAdapter = await startServer({ pubsub: {} });
    try {
      assert.equal(own.wss.pubsub, hub);
      assert.notEqual(withAdapter.wss.pubsub, defaultTopicHub());
      const a = await pair(own);
      const b = await pair(h1);
      a.server.subscribe('apart');
      b.server.subscribe('apart');
      assert.equal(own.wss.publish('apart', 'own'), 1);
      assert.equal(WebSocketServer.publish('apart', 'default'), 1);
      await settled(a);
      await settled(b);
      assert.deepEqual(a.received, [['own', false]]);
      assert.deepEqual(b.received, [['default', false]]);
      a.client.close();
      b.client.close();
    } finally {
      await own.stop();
      await withAdapter.stop();
    }
    assert.equal(hub.closed, false, 'a hub given is not closed with the server');
    assert.equal(withAdapter.wss.pubsub.closed, true, 'a hub the server made is');
    await hub.close();
  });
});

// `upshift serve --wamp PATH`: the WAMP router as a serve endpoint, as a process. A session joins
// a realm made on demand (wamp.2.json), subscribes, publishes with acknowledge and receives its
// own event when it asks not to be excluded; the bare `wamp` token (WAMP v1) is not selected.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { startServe, type Served } from './support/cli.js';
import { Inbox } from '../helpers/events.js';

/** Every WAMP message `ws` receives (JSON), in order, from the start. */
function wampInbox(ws: WebSocketConnection): Inbox<unknown[]> {
  const inbox = new Inbox<unknown[]>();
  ws.on('message', (data) => inbox.push(JSON.parse(data.toString('utf8')) as unknown[]));
  return inbox;
}

describe('serve --wamp', { timeout: 30_000 }, () => {
  let served: Served;
  before(async () => {
    served = await startServe(['--no-static', '--wamp', '/wamp', '-q']);
  });
  after(async () => {
    await served?.stop();
  });

  test('HELLO → WELCOME, SUBSCRIBE → SUBSCRIBED, PUBLISH → PUBLISHED and the EVENT', async () => {
    const ws = await connect(`${served.wsBase}/wamp`, { protocols: ['wamp.2.json'] });
    try {
      assert.equal(ws.protocol, 'wamp.2.json');
      const inbox = wampInbox(ws);
      const nextWamp = (_ws: WebSocketConnection): Promise<unknown[]> => inbox.take(5000, 'a WAMP message');
      ws.send(JSON.stringify([1, 'com.example.realm', { roles: { publisher: {}, subscriber: {} } }]));
      const welcome = await nextWamp(ws);
      assert.equal(welcome[0], 2, `WELCOME, got ${JSON.stringify(welcome)}`);
      ws.send(JSON.stringify([32, 1, {}, 'com.example.topic']));
      const subscribed = await nextWamp(ws);
      assert.deepEqual(subscribed.slice(0, 2), [33, 1]);
      const subscription = subscribed[2];
      ws.send(JSON.stringify([16, 2, { acknowledge: true, exclude_me: false }, 'com.example.topic', ['hello']]));
      const first = await nextWamp(ws);
      const second = await nextWamp(ws);
      const byType = new Map([first, second].map((message) => [message[0], message]));
      assert.deepEqual(byType.get(17)?.slice(0, 2), [17, 2], 'PUBLISHED');
      const event = byType.get(36);
      assert.equal(event?.[1], subscription, 'EVENT for the subscription');
      assert.deepEqual(event?.[4], ['hello']);
    } finally {
      ws.terminate();
    }
  });

  test('the bare token wamp (WAMP v1) is not selected', async () => {
    const ws = await connect(`${served.wsBase}/wamp`, { protocols: ['wamp'] });
    try {
      assert.equal(ws.protocol, '');
    } finally {
      ws.terminate();
    }
  });
});

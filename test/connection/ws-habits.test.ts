// What a ws user reaches for on a connection: send(data, cb) and send(data, options, cb), the
// state constants on instances, isPaused.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { WebSocketError } from '../../src/protocol/errors.js';
import { perMessageDeflate, perMessageDeflateClient } from '../../src/extensions/permessage-deflate/index.js';
import { collectEvents, deferred, nextEvent, within } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';

let server: StartedServer<unknown> | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

async function pair(options: Parameters<typeof startServer>[0] = {}, clientOptions: Parameters<typeof connect>[1] = {}): Promise<{ s: WebSocketConnection; c: WebSocketConnection }> {
  server = await startServer(options);
  const accepted = server.nextConnection();
  const c = await connect(server.url(), clientOptions);
  return { s: await accepted, c };
}

/** Calls made to a send callback, as error codes ('ok' for success). */
function recorder(): { calls: string[]; callback: (error?: Error) => void; settled(count: number): Promise<void> } {
  const calls: string[] = [];
  let wake: (() => void) | null = null;
  return {
    calls,
    callback(error?: Error): void {
      calls.push(error === undefined ? 'ok' : error instanceof WebSocketError ? error.code : error.message);
      wake?.();
    },
    settled(count: number): Promise<void> {
      return within(
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (calls.length >= count) resolve();
          };
          wake = check;
          check();
        }),
        5000,
        () => `${count} callbacks (saw ${calls.length})`,
      );
    },
  };
}

describe('ws habits on WebSocketConnection', { timeout: 20_000 }, () => {
  it('send(data, cb) and send(data, options, cb) call back once each, in order, after the write', async () => {
    const { s, c } = await pair();
    const order: string[] = [];
    const arrived = collectEvents<Buffer>(c, 'message', 4);
    const done = deferred();
    s.send('one', () => order.push('one'));
    s.send(Buffer.from('two'), { binary: true }, () => order.push('two'));
    s.send(Buffer.alloc(100_000, 3), (error) => {
      assert.equal(error, undefined);
      order.push('large');
    });
    s.send('last', undefined, (error) => {
      assert.equal(error, undefined);
      order.push('last');
      done.resolve();
    });
    assert.deepEqual(order, [], 'never synchronously');
    await within(done.promise, 5000, 'the last callback');
    assert.deepEqual(order, ['one', 'two', 'large', 'last']);
    assert.equal((await arrived).length, 4);
    c.terminate();
  });

  it('a callback waits for a message that is still compressing, and order holds', async () => {
    const { s, c } = await pair({ extensions: [perMessageDeflate({ threshold: 0 })] }, { extensions: [perMessageDeflateClient()] });
    assert.match(s.extensions, /permessage-deflate/);
    const r = recorder();
    const big = Buffer.alloc(2 * 1024 * 1024, 'compressible ');
    const arrived = collectEvents<Buffer>(c, 'message', 3, 10_000);
    s.send(big, r.callback);
    s.send('small', r.callback);
    s.send('plain', { compress: false }, r.callback);
    await r.settled(3);
    assert.deepEqual(r.calls, ['ok', 'ok', 'ok']);
    const messages = await arrived;
    assert.ok(messages[0]!.equals(big));
    c.terminate();
  });

  it('a send on a closing or closed connection calls back with WS_ERR_CLOSED, asynchronously', async () => {
    const { s, c } = await pair();
    const closed = nextEvent(c, 'close');
    c.close(1000);
    const r = recorder();
    assert.equal(c.send('late', r.callback), false);
    assert.deepEqual(r.calls, [], 'not synchronously');
    await r.settled(1);
    assert.deepEqual(r.calls, ['WS_ERR_CLOSED']);
    await closed;
    c.send('later', { binary: true }, r.callback);
    await r.settled(2);
    assert.deepEqual(r.calls, ['WS_ERR_CLOSED', 'WS_ERR_CLOSED']);
    assert.equal(s.readyState === WebSocketConnection.CLOSED || s.readyState === WebSocketConnection.CLOSING, true);
  });

  it('messages not yet written when the connection drops call back with an error before close', async () => {
    const { s, c } = await pair({ extensions: [perMessageDeflate({ threshold: 0 })] }, { extensions: [perMessageDeflateClient()] });
    c.pause();
    const r = recorder();
    // Enough to fill the socket buffers: the last ones wait in the connection or the transport.
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 16; i++) s.send(chunk, { compress: false }, r.callback);
    s.send('waits for compression', { compress: true }, r.callback);
    let atClose: number | null = null;
    const closed = new Promise<void>((resolve) =>
      s.once('close', () => {
        atClose = r.calls.length;
        resolve();
      }),
    );
    s.terminate();
    await within(closed, 5000, "the server side's close");
    await r.settled(17);
    assert.equal(r.calls.length, 17, 'each callback exactly once');
    assert.equal(r.calls.at(-1), 'WS_ERR_CLOSED', 'the message behind compression never went out');
    assert.ok(r.calls.some((call) => call !== 'ok'), `some failed: ${r.calls.join(' ')}`);
    assert.equal(atClose, 17, "every callback had its answer when 'close' came");
    c.terminate();
  });

  it('state constants are on instances (ws.OPEN) as well as static, and cost no memory per connection', async () => {
    const { s, c } = await pair();
    for (const ws of [s, c]) {
      assert.equal(ws.CONNECTING, 0);
      assert.equal(ws.OPEN, 1);
      assert.equal(ws.CLOSING, 2);
      assert.equal(ws.CLOSED, 3);
      assert.equal(ws.readyState, ws.OPEN);
      assert.equal(Object.hasOwn(ws, 'OPEN'), false);
    }
    assert.equal(WebSocketConnection.OPEN, s.OPEN);
    c.terminate();
  });

  it('isPaused follows pause() and resume(); resume() leaves input the async iterator holds held', async () => {
    const { s, c } = await pair();
    assert.equal(s.isPaused, false);
    s.pause();
    assert.equal(s.isPaused, true);
    assert.equal(s.rawTransport.isPaused(), true);
    s.resume();
    assert.equal(s.isPaused, false);
    assert.equal(s.rawTransport.isPaused(), false);

    // A consumer that has not pulled: the iterator holds input once 64 messages wait.
    const iterator = s[Symbol.asyncIterator]();
    const first = iterator.next();
    for (let i = 0; i < 200; i++) c.send(`m${i}`);
    assert.equal((await first).value?.data.toString(), 'm0');
    const waiting = await within(
      (async () => {
        for (;;) {
          if (s.rawTransport.isPaused()) return true;
          await new Promise((resolve) => setImmediate(resolve));
        }
      })(),
      5000,
      'the iterator to hold input',
    );
    assert.equal(waiting, true);
    s.pause();
    s.resume();
    assert.equal(s.isPaused, false);
    assert.equal(s.rawTransport.isPaused(), true, "the iterator's reason remains");
    const seen: string[] = ['m0'];
    for (;;) {
      const next = await iterator.next();
      seen.push(next.value!.data.toString());
      if (seen.length === 200) break;
    }
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => `m${i}`));
    await iterator.return();
    assert.equal(s.rawTransport.isPaused(), false);
    c.terminate();
  });
});

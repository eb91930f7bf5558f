// The WHATWG WebSocket's event typing: addEventListener('message', (e) => e.data) type-checks with
// `e` a MessageEvent, as with lib.dom's WebSocketEventMap. This file is the type test (tsc builds
// it before the suite runs; the @ts-expect-error lines fail the build if the typing loosens) and
// runs the same listeners against a server.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, CloseEvent, ErrorEvent, type WebSocketEventMap } from '../../src/client/websocket.js';
import { nextDomEvent } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';

/** Compiles only if `value` has exactly the type T. */
function exactly<T>() {
  return <V extends T>(value: V & (T extends V ? unknown : never)): V => value;
}

describe('WHATWG WebSocket: typed event listeners', { timeout: 10_000 }, () => {
  let server: StartedServer<unknown>;
  before(async () => {
    server = await startServer();
    server.wss.on('connection', (ws) => {
      ws.send('hello');
      ws.on('message', () => ws.close(4000, 'bye'));
    });
  });
  after(() => server.stop());

  it('gives each listener its event type, and the listeners run', async () => {
    const ws = new WebSocket(server.url('/'));
    const seen: string[] = [];
    ws.addEventListener('open', function (event) {
      exactly<Event>()(event);
      assert.equal(this, ws);
      seen.push(`open ${event.type}`);
    });
    ws.addEventListener('message', (e) => {
      exactly<MessageEvent>()(e);
      seen.push(`message ${String(e.data)} from ${e.origin}`);
      ws.send('reply');
    });
    ws.addEventListener('close', (event) => {
      exactly<CloseEvent>()(event);
      seen.push(`close ${event.code} ${event.reason} ${event.wasClean}`);
    });
    const onError = (event: ErrorEvent): void => void seen.push(`error ${String(event.error)}`);
    ws.addEventListener('error', onError);
    ws.removeEventListener('error', onError);
    // An object listener gets the typed event too.
    ws.addEventListener('message', { handleEvent: (event) => void exactly<MessageEvent>()(event) }, { once: true });

    // @ts-expect-error a MessageEvent has no close code
    ws.addEventListener('message', (event) => event.code);
    // @ts-expect-error a CloseEvent has no data
    ws.removeEventListener('close', (event) => event.data);
    // Other event types still take a plain listener.
    ws.addEventListener('custom', (event) => void exactly<Event>()(event));

    const event = await nextDomEvent<CloseEvent>(ws, 'close');
    assert.ok(event instanceof CloseEvent);
    assert.deepEqual(seen, ['open open', `message hello from ws://127.0.0.1:${server.port}`, 'close 4000 bye true']);
  });

  it('the event map names the four events', () => {
    const map: { [K in keyof WebSocketEventMap]: WebSocketEventMap[K] } = {
      open: new Event('open'),
      message: new MessageEvent('message', { data: 'x' }),
      error: new ErrorEvent('error', { error: new Error('x') }),
      close: new CloseEvent('close', { code: 1000 }),
    };
    assert.deepEqual(Object.keys(map), ['open', 'message', 'error', 'close']);
  });
});

// The WHATWG WebSocket (src/client/websocket.ts) against the library's own server over loopback.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, CloseEvent, ErrorEvent } from '../../src/client/websocket.js';
import { connect } from '../../src/client/connect.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { collectEvents, EVENT_WAIT_MS, nextDomEvent, nextEvent, within } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { startRawServer, switchingProtocols } from '../helpers/raw-server.js';
import type { ClientExtension } from '../../src/protocol/extensions.js';
import type { MessageCodec } from '../../src/protocol/message-codec.js';

type Behaviour = (ws: WebSocketConnection) => void;

describe('WHATWG WebSocket', { timeout: 15_000 }, () => {
  let server: StartedServer<unknown>;
  // Each test tells the server what to do with its next connection via the URL path.
  const behaviours = new Map<string, Behaviour>();
  before(async () => {
    server = await startServer({ protocols: ['chat', 'superchat'] });
    server.wss.on('connection', (ws, req) => behaviours.get(req.url ?? '')?.(ws));
  });
  after(() => server.stop());

  function open(path: string, behaviour: Behaviour, protocols?: string | string[]): WebSocket {
    behaviours.set(path, behaviour);
    return new WebSocket(server.url(path), protocols);
  }

  it('fires open, message, close in order with the close code, reason and wasClean', async () => {
    const ws = open('/order', (conn) => {
      conn.send('hello');
      conn.close(1000, 'done');
    });
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    const events: string[] = [];
    ws.addEventListener('open', () => events.push(`open:${ws.readyState}`));
    ws.addEventListener('message', (event) => events.push(`message:${(event as MessageEvent).data}`));
    const closed = nextDomEvent<CloseEvent>(ws, 'close');
    ws.addEventListener('close', () => events.push(`close:${ws.readyState}`));
    const event = await closed;
    assert.ok(event instanceof CloseEvent);
    assert.equal(event.code, 1000);
    assert.equal(event.reason, 'done');
    assert.equal(event.wasClean, true);
    assert.deepEqual(events, ['open:1', 'message:hello', 'close:3']);
  });

  it('onX handlers and addEventListener both receive events; handlers can be replaced and cleared', async () => {
    const ws = open('/handlers', (conn) => conn.on('message', (data) => conn.send(data.toString())));
    const seen: string[] = [];
    const first = (): void => void seen.push('first onmessage');
    ws.onmessage = first;
    assert.equal(ws.onmessage, first);
    ws.onmessage = (event) => seen.push(`onmessage ${String(event.data)}`);
    ws.addEventListener('message', (event) => seen.push(`listener ${String((event as MessageEvent).data)}`));
    const opened = new Promise<void>((resolve) => {
      ws.onopen = function (this: WebSocket) {
        assert.equal(this, ws);
        resolve();
      };
    });
    await within(opened, EVENT_WAIT_MS, 'onopen');
    const got = nextDomEvent(ws, 'message');
    ws.send('one');
    await got;
    assert.deepEqual(seen, ['onmessage one', 'listener one']);
    ws.onmessage = null;
    assert.equal(ws.onmessage, null);
    const got2 = nextDomEvent(ws, 'message');
    ws.send('two');
    await got2;
    assert.deepEqual(seen, ['onmessage one', 'listener one', 'listener two']);
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    ws.close();
    assert.equal((await within(closed, EVENT_WAIT_MS, 'onclose')).code, 1005);
  });

  it('binaryType: blob (default), arraybuffer, nodebuffer', async () => {
    const bytes = Buffer.from([1, 2, 3, 250]);
    const ws = open('/binary', (conn) => conn.on('message', () => conn.send(bytes)));
    assert.equal(ws.binaryType, 'blob');
    await nextDomEvent(ws, 'open');

    const next = async (): Promise<unknown> => {
      const event = nextDomEvent<MessageEvent>(ws, 'message');
      ws.send('again');
      return (await event).data;
    };
    const blob = await next();
    assert.ok(blob instanceof Blob);
    assert.deepEqual([...new Uint8Array(await blob.arrayBuffer())], [...bytes]);

    ws.binaryType = 'arraybuffer';
    const arrayBuffer = await next();
    assert.ok(arrayBuffer instanceof ArrayBuffer);
    assert.equal(arrayBuffer.byteLength, bytes.length, 'only the message, not the buffer it was read into');
    assert.deepEqual([...new Uint8Array(arrayBuffer)], [...bytes]);

    ws.binaryType = 'nodebuffer';
    const buffer = await next();
    assert.ok(Buffer.isBuffer(buffer));
    assert.deepEqual([...buffer], [...bytes]);

    ws.binaryType = 'bogus' as never;
    assert.equal(ws.binaryType, 'nodebuffer', 'an invalid value is ignored');
    ws.close();
    await nextDomEvent(ws, 'close');
  });

  it('send() while CONNECTING throws InvalidStateError', async () => {
    const ws = open('/early', () => {});
    assert.throws(() => ws.send('too early'), (error: unknown) => error instanceof DOMException && error.name === 'InvalidStateError');
    await nextDomEvent(ws, 'open');
    ws.close();
    await nextDomEvent(ws, 'close');
  });

  it('close() validates: 1001 → InvalidAccessError, a reason over 123 bytes → SyntaxError', async () => {
    const ws = open('/close-args', () => {});
    await nextDomEvent(ws, 'open');
    const isDom = (name: string) => (error: unknown) => error instanceof DOMException && error.name === name;
    assert.throws(() => ws.close(1001), isDom('InvalidAccessError'));
    assert.throws(() => ws.close(2999), isDom('InvalidAccessError'));
    assert.throws(() => ws.close(5000), isDom('InvalidAccessError'));
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), isDom('SyntaxError'));
    assert.throws(() => ws.close(1000, 'é'.repeat(62)), isDom('SyntaxError'), '124 bytes of UTF-8 in 62 characters');
    assert.equal(ws.readyState, WebSocket.OPEN);
    const serverSide = [...server.wss.clients].at(-1)!;
    const serverClosed = nextEvent<[number, string]>(serverSide, 'close');
    const clientClosed = nextDomEvent<CloseEvent>(ws, 'close');
    ws.close(4000, 'é'.repeat(61));
    assert.equal(ws.readyState, WebSocket.CLOSING);
    assert.deepEqual(await serverClosed, [4000, 'é'.repeat(61)]);
    assert.equal((await clientClosed).code, 4000);
  });

  it('close() while CONNECTING fires error, then close with 1006', async () => {
    const ws = open('/abort', () => {});
    const events: string[] = [];
    ws.onerror = (event) => events.push(`error:${event instanceof ErrorEvent}`);
    ws.onopen = () => events.push('open');
    const closed = nextDomEvent<CloseEvent>(ws, 'close');
    ws.close();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const event = await closed;
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
    assert.deepEqual(events, ['error:true']);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  it('close() racing with a handshake that just succeeded still fires error, then close 1006', async () => {
    // The 101 has been accepted (connect() resolved) but 'open' has not fired yet when close()
    // runs: a client extension's accept() is the one hook that runs in between, so use it.
    const raw = await startRawServer((request, socket) => {
      socket.write(switchingProtocols(request, { 'Sec-WebSocket-Extensions': 'x-race' }));
    });
    try {
      let ws: WebSocket | null = null;
      const codec: MessageCodec = {
        decode: (data, _max, callback) => callback(null, data),
        encode: (data, callback) => callback(null, data),
        wantsToEncode: () => false,
        release: () => {},
      };
      const racing: ClientExtension = {
        name: 'x-race',
        offer: () => 'x-race',
        accept: () => {
          queueMicrotask(() => ws!.close());
          return codec;
        },
      };
      ws = new WebSocket(`ws://127.0.0.1:${raw.port}/`, [], { extensions: [racing] });
      const order: string[] = [];
      ws.onopen = () => order.push('open');
      ws.onerror = () => order.push('error');
      const closed = nextDomEvent<CloseEvent>(ws, 'close');
      const event = await closed;
      assert.equal(event.code, 1006);
      assert.deepEqual(order, ['error']);
      assert.equal(ws.readyState, WebSocket.CLOSED);
    } finally {
      await raw.stop();
    }
  });

  it('a connection that cannot be made fires error then close 1006', async () => {
    const refused = new WebSocket('ws://127.0.0.1:1/');
    const order: string[] = [];
    refused.onerror = () => order.push('error');
    refused.onclose = (event) => order.push(`close:${event.code}:${event.wasClean}`);
    await nextDomEvent(refused, 'close', EVENT_WAIT_MS);
    assert.deepEqual(order, ['error', 'close:1006:false']);
  });

  it('send() after close() counts toward bufferedAmount', async () => {
    const ws = open('/after-close', () => {});
    await nextDomEvent(ws, 'open');
    ws.close();
    const before = ws.bufferedAmount;
    ws.send('abcd');
    ws.send(new Uint8Array(10));
    ws.send(new Blob(['xyz']));
    assert.equal(ws.bufferedAmount - before, 4 + 10 + 3);
    await nextDomEvent(ws, 'close');
    assert.ok(ws.bufferedAmount >= 17);
  });

  it('Blob sends keep their order among other sends', async () => {
    let received: Promise<[Buffer, boolean][]> = Promise.resolve([]);
    const ws = open('/blob-order', (conn) => {
      received = collectEvents<[Buffer, boolean]>(conn, 'message', 5).then(() => got);
      const got: [Buffer, boolean][] = [];
      conn.on('message', (data, isBinary) => got.push([data, isBinary]));
    });
    await nextDomEvent(ws, 'open');
    ws.send(new Blob(['one']));
    ws.send('two');
    ws.send(new Blob([new Uint8Array([0x74, 0x68, 0x72, 0x65, 0x65])]));
    ws.send(new TextEncoder().encode('four'));
    ws.send(new Uint8Array(Buffer.from('xxfivexx')).subarray(2, 6));
    const messages = await within(received, EVENT_WAIT_MS, 'five messages');
    assert.deepEqual(
      messages.map(([data, isBinary]) => [data.toString(), isBinary]),
      [
        ['one', true],
        ['two', false],
        ['three', true],
        ['four', true],
        ['five', true],
      ],
    );
    ws.close();
    await nextDomEvent(ws, 'close');
  });

  it('refuses a URL with a fragment or a bad scheme with a SyntaxError DOMException, as browsers do; maps http(s) to ws(s)', async () => {
    const syntaxError = (error: unknown): boolean => error instanceof DOMException && error.name === 'SyntaxError' && error.code === DOMException.SYNTAX_ERR;
    for (const url of [`ws://127.0.0.1:${server.port}/#frag`, `ws://127.0.0.1:${server.port}/#`, 'ftp://127.0.0.1/', 'not a url']) {
      assert.throws(() => new WebSocket(url), syntaxError, url);
      // connect() is Node's API: a plain SyntaxError there.
      await assert.rejects(connect(url), (error: unknown) => error instanceof SyntaxError && !(error instanceof DOMException), url);
    }
    assert.throws(() => new WebSocket(server.url(), ['a', 'a']), syntaxError);
    assert.throws(() => new WebSocket(server.url(), 'bad protocol'), syntaxError);
    assert.throws(() => new WebSocket(server.url(), [], { headers: { 'x-bad': 'a\r\nb' } }), TypeError, 'other errors keep their type');
    const mapped = open('/mapped', () => {});
    mapped.close();
    const viaHttp = new WebSocket(`http://127.0.0.1:${server.port}/mapped`);
    assert.equal(viaHttp.url, `ws://127.0.0.1:${server.port}/mapped`);
    viaHttp.close();
  });

  it('protocol and extensions reflect the handshake', async () => {
    const ws = open('/protocol', () => {}, ['superchat', 'chat']);
    assert.equal(ws.protocol, '');
    await nextDomEvent(ws, 'open');
    assert.equal(ws.protocol, 'chat', "the server's preference wins");
    assert.equal(ws.extensions, '');
    ws.close();
    await nextDomEvent(ws, 'close');
  });

  it('a dropped connection closes with 1006, wasClean false', async () => {
    const ws = open('/drop', (conn) => setImmediate(() => conn.terminate()));
    const event = await nextDomEvent<CloseEvent>(ws, 'close');
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
  });

  it('exposes the readyState constants', () => {
    assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
  });
});

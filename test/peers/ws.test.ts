// Interoperability with the `ws` npm package (v8), a real and independent implementation:
// ws as client against our WebSocketServer, ws as server for our connect() and WHATWG WebSocket.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import type { RawData } from 'ws';
import { connect, HandshakeError, WebSocket, type WebSocketConnection, type WebSocketServer } from '../../src/index.js';
import type { CloseEvent } from '../../src/index.js';
import { BOUNDARY_SIZES, binaryOfBytes, nextEvent, startUpshiftEcho, textOfBytes, withTimeout } from './support/peers.js';

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** A ws client connected to `url`; rejects on a failed handshake. */
async function openWs(url: string, protocols?: string[]): Promise<WsClient> {
  const ws = new WsClient(url, protocols);
  ws.on('error', () => {}); // surfaced through the awaited events below
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    5000,
    'the ws client to open',
  );
  return ws;
}

function nextWsMessage(ws: WsClient, ms = 10_000): Promise<{ data: Buffer; isBinary: boolean }> {
  return withTimeout(
    new Promise((resolve) => ws.once('message', (data: RawData, isBinary: boolean) => resolve({ data: toBuffer(data), isBinary }))),
    ms,
    'a message on the ws client',
  );
}

function nextWsClose(ws: WsClient, ms = 5000): Promise<{ code: number; reason: string }> {
  return withTimeout(
    new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))),
    ms,
    "the ws client's close",
  );
}

/** A ws server on a free loopback port. */
async function startWsServer(options: ConstructorParameters<typeof WsServer>[0] = {}): Promise<{ wss: WsServer; url: string }> {
  const wss = new WsServer({ port: 0, host: '127.0.0.1', ...options });
  await nextEvent(wss, 'listening');
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { wss, url: `ws://127.0.0.1:${address.port}` };
}

async function closeWsServer(wss: WsServer): Promise<void> {
  for (const client of wss.clients) client.terminate();
  await withTimeout(new Promise<void>((resolve) => wss.close(() => resolve())), 5000, 'the ws server to close');
}

describe('ws client → Upshift WebSocketServer', { timeout: 60_000 }, () => {
  let server: WebSocketServer;
  let url: string;
  before(async () => {
    ({ server, url } = await startUpshiftEcho({ protocols: ['chat.v1', 'chat.v2'] }));
  });
  after(async () => {
    await withTimeout(server.close({ timeout: 1000 }), 5000, 'the Upshift server to close');
  });

  test('echoes text and binary at every frame-length boundary', async () => {
    const ws = await openWs(`${url}/`);
    try {
      for (const size of BOUNDARY_SIZES) {
        const text = textOfBytes(size);
        ws.send(text);
        const textEcho = await nextWsMessage(ws);
        assert.equal(textEcho.isBinary, false, `text of ${size} bytes comes back as text`);
        assert.equal(textEcho.data.toString('utf8'), text, `text of ${size} bytes`);

        const bytes = binaryOfBytes(size);
        ws.send(bytes);
        const binaryEcho = await nextWsMessage(ws);
        assert.equal(binaryEcho.isBinary, true, `binary of ${size} bytes comes back as binary`);
        assert.ok(binaryEcho.data.equals(bytes), `binary of ${size} bytes`);
      }
    } finally {
      ws.terminate();
    }
  });

  test('reassembles a message ws sends in fragments, with a ping between them', async () => {
    const connected = nextEvent<[WebSocketConnection]>(server, 'connection');
    const ws = await openWs(`${url}/`);
    const [serverSide] = await connected;
    const messages: string[] = [];
    serverSide.on('message', (data, isBinary) => messages.push(`${isBinary ? 'binary' : 'text'}:${data.length}`));
    try {
      const pong = withTimeout(once(ws, 'pong'), 5000, 'the pong');
      ws.send('frag-1 ', { fin: false });
      ws.ping(Buffer.from('between fragments')); // RFC 6455 §5.4: control frames may be interleaved
      ws.send('frag-2 é ', { fin: false });
      ws.send('frag-3', { fin: true });
      const echo = await nextWsMessage(ws);
      assert.equal(echo.isBinary, false);
      assert.equal(echo.data.toString(), 'frag-1 frag-2 é frag-3');
      const [pongData] = (await pong) as [Buffer];
      assert.equal(pongData.toString(), 'between fragments');

      const parts = [binaryOfBytes(70_000), binaryOfBytes(1), binaryOfBytes(125)] as const;
      ws.send(parts[0], { binary: true, fin: false });
      ws.send(parts[1], { binary: true, fin: false });
      ws.send(parts[2], { binary: true, fin: true });
      const binaryEcho = await nextWsMessage(ws);
      assert.equal(binaryEcho.isBinary, true);
      assert.ok(binaryEcho.data.equals(Buffer.concat(parts)));
      assert.deepEqual(messages, [`text:${Buffer.byteLength('frag-1 frag-2 é frag-3')}`, 'binary:70126'], 'one message each');
    } finally {
      ws.terminate();
    }
  });

  test('a burst of 2000 messages comes back complete and in order', async () => {
    const ws = await openWs(`${url}/`);
    try {
      const count = 2000;
      const received: string[] = [];
      const all = withTimeout(
        new Promise<void>((resolve) =>
          ws.on('message', (data: RawData) => {
            received.push(toBuffer(data).toString());
            if (received.length === count) resolve();
          }),
        ),
        20_000,
        `${count} echoes`,
      );
      const expected = Array.from({ length: count }, (_, i) => `message ${i} ${'x'.repeat(i % 700)}`);
      for (const message of expected) ws.send(message);
      await all;
      assert.deepEqual(received, expected);
    } finally {
      ws.terminate();
    }
  });

  test('answers ws pings with the same payload, and ws answers ours', async () => {
    const connected = nextEvent<[WebSocketConnection]>(server, 'connection');
    const ws = await openWs(`${url}/`);
    const [serverSide] = await connected;
    try {
      const pong = withTimeout(once(ws, 'pong'), 5000, "ws's pong");
      ws.ping(Buffer.from('ping from ws'));
      const [pongData] = (await pong) as [Buffer];
      assert.equal(pongData.toString(), 'ping from ws');

      const wsSawPing = withTimeout(once(ws, 'ping'), 5000, "ws's ping event");
      const ourPong = nextEvent<[Buffer]>(serverSide, 'pong');
      const payload = binaryOfBytes(125); // the largest control payload (§5.5)
      serverSide.ping(payload);
      const [pingData] = (await wsSawPing) as [Buffer];
      assert.ok(pingData.equals(payload));
      const [pongBack] = await ourPong;
      assert.ok(pongBack.equals(payload));
    } finally {
      ws.terminate();
    }
  });

  test('a close started by ws carries its code and reason; ours echoes the code', async () => {
    const connected = nextEvent<[WebSocketConnection]>(server, 'connection');
    const ws = await openWs(`${url}/`);
    const [serverSide] = await connected;
    const serverClosed = nextEvent<[number, string]>(serverSide, 'close');
    const wsClosed = nextWsClose(ws);
    ws.close(4001, 'client says bye ✓');
    const [code, reason] = await serverClosed;
    assert.equal(code, 4001);
    assert.equal(reason, 'client says bye ✓');
    assert.equal((await wsClosed).code, 4001);
  });

  test('a close started by us carries its code and reason to ws', async () => {
    const connected = nextEvent<[WebSocketConnection]>(server, 'connection');
    const ws = await openWs(`${url}/`);
    const [serverSide] = await connected;
    const serverClosed = nextEvent<[number, string]>(serverSide, 'close');
    const wsClosed = nextWsClose(ws);
    serverSide.close(4002, 'server says bye');
    assert.deepEqual(await wsClosed, { code: 4002, reason: 'server says bye' });
    const [code] = await serverClosed;
    assert.equal(code, 4002, 'ws echoes the close code');
  });

  test('negotiates a subprotocol by the server preference, or none', async () => {
    const connected = nextEvent<[WebSocketConnection]>(server, 'connection');
    const ws = await openWs(`${url}/`, ['chat.v2', 'chat.v1']);
    const [serverSide] = await connected;
    try {
      assert.equal(ws.protocol, 'chat.v1');
      assert.equal(serverSide.protocol, 'chat.v1');
    } finally {
      ws.terminate();
    }
    // No common subprotocol: we answer 101 without Sec-WebSocket-Protocol (RFC 6455 §4.2.2 allows
    // it), and ws, stricter than the RFC, then fails the connection itself.
    const ws2 = new WsClient(`${url}/`, ['other']);
    const upgrade = withTimeout(once(ws2, 'upgrade'), 5000, "ws's upgrade");
    const failed = withTimeout(once(ws2, 'error'), 5000, "ws's error");
    const [response] = (await upgrade) as [{ statusCode: number; headers: Record<string, string | undefined> }];
    assert.equal(response.statusCode, 101);
    assert.equal(response.headers['sec-websocket-protocol'], undefined);
    const [error] = (await failed) as [Error];
    assert.match(error.message, /no subprotocol/);
    ws2.terminate();

    const ws3 = await openWs(`${url}/`);
    try {
      assert.equal(ws3.protocol, '', 'nothing offered, nothing selected');
    } finally {
      ws3.terminate();
    }
  });
});

describe('Upshift connect() → ws WebSocketServer', { timeout: 60_000 }, () => {
  let wss: WsServer;
  let url: string;
  before(async () => {
    ({ wss, url } = await startWsServer({
      handleProtocols: (offered: Set<string>) => (offered.has('echo.v2') ? 'echo.v2' : offered.has('bogus') ? 'unoffered' : false),
    }));
    wss.on('connection', (ws: WsClient, req) => {
      if (req.url === '/fragments') {
        ws.send('one ', { fin: false });
        ws.send('two ', { fin: false });
        ws.send('three', { fin: true });
        ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
        ws.send(Buffer.from([3]), { binary: true, fin: true });
        return;
      }
      ws.on('message', (data: RawData, isBinary: boolean) => ws.send(toBuffer(data), { binary: isBinary }));
    });
  });
  after(() => closeWsServer(wss));

  test('echoes text and binary at every frame-length boundary', async () => {
    const ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    try {
      for (const size of BOUNDARY_SIZES) {
        const text = textOfBytes(size);
        const textEcho = nextEvent<[Buffer, boolean]>(ws, 'message', 10_000);
        ws.send(text);
        const [textData, textIsBinary] = await textEcho;
        assert.equal(textIsBinary, false, `text of ${size} bytes comes back as text`);
        assert.equal(textData.toString('utf8'), text, `text of ${size} bytes`);

        const bytes = binaryOfBytes(size);
        const binaryEcho = nextEvent<[Buffer, boolean]>(ws, 'message', 10_000);
        ws.send(bytes);
        const [binaryData, binaryIsBinary] = await binaryEcho;
        assert.equal(binaryIsBinary, true);
        assert.ok(binaryData.equals(bytes), `binary of ${size} bytes`);
      }
    } finally {
      ws.terminate();
    }
  });

  test('receives messages ws sends in fragments as whole messages', async () => {
    const ws = await connect(`${url}/fragments`, { handshakeTimeout: 5000 });
    try {
      const received: [string, boolean][] = [];
      const two = withTimeout(
        new Promise<void>((resolve) =>
          ws.on('message', (data, isBinary) => {
            received.push([isBinary ? data.toString('hex') : data.toString(), isBinary]);
            if (received.length === 2) resolve();
          }),
        ),
        5000,
        'two messages',
      );
      await two;
      assert.deepEqual(received, [
        ['one two three', false],
        ['010203', true],
      ]);
    } finally {
      ws.terminate();
    }
  });

  test('sends fragments with send({ fin: false }) that ws reassembles', async () => {
    const ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    try {
      const echo = nextEvent<[Buffer, boolean]>(ws, 'message');
      ws.send('alpha ', { fin: false });
      ws.send('beta ', { fin: false });
      ws.send('gamma');
      const [data, isBinary] = await echo;
      assert.equal(isBinary, false);
      assert.equal(data.toString(), 'alpha beta gamma');
    } finally {
      ws.terminate();
    }
  });

  test('a burst of 2000 messages, text and binary interleaved, comes back complete and in order', async () => {
    const ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    try {
      const count = 2000;
      const received: string[] = [];
      const all = withTimeout(
        new Promise<void>((resolve) =>
          ws.on('message', (data, isBinary) => {
            received.push(`${isBinary ? 'b' : 't'}:${data.toString()}`);
            if (received.length === count) resolve();
          }),
        ),
        20_000,
        `${count} echoes`,
      );
      const expected: string[] = [];
      for (let i = 0; i < count; i++) {
        const body = `message ${i} ${'y'.repeat((i * 37) % 900)}`;
        const binary = i % 3 === 0;
        ws.send(binary ? Buffer.from(body) : body);
        expected.push(`${binary ? 'b' : 't'}:${body}`);
      }
      await all;
      assert.deepEqual(received, expected);
    } finally {
      ws.terminate();
    }
  });

  test('ping and pong both ways', async () => {
    const serverSideP = nextEvent<[WsClient]>(wss, 'connection');
    const ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    const [serverSide] = await serverSideP;
    try {
      const pong = nextEvent<[Buffer]>(ws, 'pong');
      ws.ping('ping from upshift');
      const [pongData] = await pong;
      assert.equal(pongData.toString(), 'ping from upshift');

      const ourPing = nextEvent<[Buffer]>(ws, 'ping');
      const wsPong = withTimeout(once(serverSide, 'pong'), 5000, "ws server's pong");
      serverSide.ping(Buffer.from('ping from ws server'));
      const [pingData] = await ourPing;
      assert.equal(pingData.toString(), 'ping from ws server');
      const [pongBack] = (await wsPong) as [Buffer];
      assert.equal(pongBack.toString(), 'ping from ws server');
    } finally {
      ws.terminate();
    }
  });

  test('close codes and reasons both ways', async () => {
    let serverSideP = nextEvent<[WsClient]>(wss, 'connection');
    let ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    let [serverSide] = await serverSideP;
    const wsClosed = nextWsClose(serverSide);
    let ourClose = nextEvent<[number, string]>(ws, 'close');
    ws.close(4003, 'upshift client leaves');
    assert.deepEqual(await wsClosed, { code: 4003, reason: 'upshift client leaves' });
    assert.equal((await ourClose)[0], 4003, 'ws echoes the code');

    serverSideP = nextEvent<[WsClient]>(wss, 'connection');
    ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    [serverSide] = await serverSideP;
    ourClose = nextEvent<[number, string]>(ws, 'close');
    const wsClosed2 = nextWsClose(serverSide);
    serverSide.close(1001, 'ws server going away');
    assert.deepEqual(await ourClose, [1001, 'ws server going away']);
    assert.equal((await wsClosed2).code, 1001);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test('subprotocol: the one ws selects, none, and a refused unoffered one', async () => {
    const ws = await connect(`${url}/echo`, { protocols: ['echo.v1', 'echo.v2'], handshakeTimeout: 5000 });
    assert.equal(ws.protocol, 'echo.v2');
    ws.terminate();

    const none = await connect(`${url}/echo`, { protocols: ['echo.v1'], handshakeTimeout: 5000 });
    assert.equal(none.protocol, '');
    none.terminate();

    // RFC 6455 §4.1: a subprotocol the client did not offer fails the connection.
    await assert.rejects(connect(`${url}/echo`, { protocols: ['bogus'], handshakeTimeout: 5000 }), HandshakeError);
  });
});

describe('Upshift WHATWG WebSocket → ws WebSocketServer', { timeout: 60_000 }, () => {
  let wss: WsServer;
  let url: string;
  before(async () => {
    ({ wss, url } = await startWsServer({ handleProtocols: (offered: Set<string>) => (offered.has('b') ? 'b' : false) }));
    wss.on('connection', (ws: WsClient) => {
      ws.on('message', (data: RawData, isBinary: boolean) => {
        const bytes = toBuffer(data);
        if (!isBinary && bytes.toString().startsWith('close-me ')) {
          const [, code, reason] = bytes.toString().split(' ');
          ws.close(Number(code), reason);
          return;
        }
        ws.send(bytes, { binary: isBinary });
      });
    });
  });
  after(() => closeWsServer(wss));

  async function open(path: string, protocols?: string[]): Promise<WebSocket> {
    const ws = new WebSocket(`${url}${path}`, protocols);
    ws.binaryType = 'arraybuffer';
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (event) => reject(new Error(`WebSocket error: ${event.message}`));
      }),
      5000,
      'open',
    );
    return ws;
  }

  function nextMessage(ws: WebSocket): Promise<MessageEvent> {
    return withTimeout(new Promise((resolve) => (ws.onmessage = (event) => resolve(event))), 10_000, 'a message');
  }

  function closed(ws: WebSocket): Promise<CloseEvent> {
    return withTimeout(new Promise((resolve) => (ws.onclose = (event) => resolve(event))), 5000, 'close');
  }

  test('echoes strings and ArrayBuffers at every frame-length boundary', async () => {
    const ws = await open('/echo');
    try {
      for (const size of BOUNDARY_SIZES) {
        const text = textOfBytes(size);
        let message = nextMessage(ws);
        ws.send(text);
        assert.equal((await message).data, text, `text of ${size} bytes`);

        const bytes = binaryOfBytes(size);
        message = nextMessage(ws);
        ws.send(new Uint8Array(bytes));
        const data = (await message).data as unknown;
        assert.ok(data instanceof ArrayBuffer, 'binaryType arraybuffer gives an ArrayBuffer');
        assert.ok(Buffer.from(data).equals(bytes), `binary of ${size} bytes`);
      }
      const done = closed(ws);
      ws.close();
      const event = await done;
      assert.equal(event.code, 1005, 'close() without a code: the peer echoes no status (§7.1.5)');
      assert.equal(event.wasClean, true);
    } finally {
      if (ws.readyState !== WebSocket.CLOSED) ws.close();
    }
  });

  test('a Blob between strings keeps its place in the message order', async () => {
    const serverSideP = nextEvent<[WsClient]>(wss, 'connection');
    const ws = await open('/echo');
    const [serverSide] = await serverSideP;
    const seen: string[] = [];
    const three = withTimeout(
      new Promise<void>((resolve) =>
        serverSide.on('message', (data: RawData, isBinary: boolean) => {
          seen.push(`${isBinary ? 'binary' : 'text'}:${toBuffer(data).toString()}`);
          if (seen.length === 3) resolve();
        }),
      ),
      5000,
      'three messages at the ws server',
    );
    ws.send('first');
    ws.send(new Blob(['second, a blob']));
    ws.send('third');
    await three;
    assert.deepEqual(seen, ['text:first', 'binary:second, a blob', 'text:third']);
    const done = closed(ws);
    ws.close(1000);
    assert.equal((await done).code, 1000);
  });

  test('subprotocol and a client close with 4000 seen by ws', async () => {
    const serverSideP = nextEvent<[WsClient]>(wss, 'connection');
    const ws = await open('/echo', ['a', 'b']);
    const [serverSide] = await serverSideP;
    assert.equal(ws.protocol, 'b');
    const wsClosed = nextWsClose(serverSide);
    const done = closed(ws);
    ws.close(4000, 'done here');
    assert.deepEqual(await wsClosed, { code: 4000, reason: 'done here' });
    const event = await done;
    assert.equal(event.code, 4000);
    assert.equal(event.wasClean, true);
  });

  test('a close started by ws reaches onclose with its code and reason', async () => {
    const ws = await open('/echo');
    const done = closed(ws);
    ws.send('close-me 4444 server-decided');
    const event = await done;
    assert.equal(event.code, 4444);
    assert.equal(event.reason, 'server-decided');
    assert.equal(event.wasClean, true);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });
});

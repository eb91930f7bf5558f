// Interoperability with Debian's python3-websockets (10.x on Debian 12), run by the first python3
// on PATH that has the module (a pyenv python3 may lack it): a Python client against our server, and
// a Python echo server for our connect() client and WHATWG WebSocket. The scripts live in
// test/peers/support/ and talk JSON lines over stdio; every process is killed by PID at the end.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, WebSocket, type WebSocketConnection, type WebSocketServer } from '../../src/index.js';
import type { CloseEvent } from '../../src/index.js';
import {
  BOUNDARY_SIZES,
  ChildPeer,
  SUPPORT_DIR,
  binaryOfBytes,
  nextEvent,
  sha256,
  startUpshiftEcho,
  textOfBytes,
  withTimeout,
} from './support/peers.js';
import { requirePeers } from './support/requirements.js';

const peers = requirePeers('python3-websockets');
const { test, before, after } = peers;
const PYTHON = peers.path('python3-websockets');

interface Answer {
  error?: string;
  message?: string;
}

interface Received {
  type?: 'text' | 'binary';
  length?: number;
  sha256?: string;
  error?: string;
  message?: string;
}

/** Fails the test with the Python side's own error when an answer carries one. */
function ok<T extends { error?: string; message?: string }>(answer: T, what: string): T {
  if (answer.error !== undefined) assert.fail(`python ${what}: ${answer.error}: ${answer.message}`);
  return answer;
}

describe('python-websockets client → Upshift WebSocketServer', { timeout: 120_000 }, () => {
  let server: WebSocketServer;
  let url: string;
  let python: ChildPeer | undefined;
  before(async () => {
    ({ server, url } = await startUpshiftEcho({ protocols: ['superchat', 'chat'] }));
  });
  after(async () => {
    await withTimeout(server.close({ timeout: 1000 }), 5000, 'the Upshift server to close');
  });

  /** A fresh Python client process, connected to our server. */
  async function pythonClient(subprotocols?: string[]): Promise<{ subprotocol: string | null; serverSide: WebSocketConnection }> {
    const child = new ChildPeer(PYTHON, [`${SUPPORT_DIR}ws_client.py`]);
    python = child;
    const ready = await child.nextJson<{ ready: boolean; version: string }>(10_000, 'the Python client to start');
    assert.equal(ready.ready, true);
    const connected = nextEvent<[WebSocketConnection]>(server, 'connection');
    const answer = ok(await child.request<{ subprotocol: string | null; error?: string }>({ op: 'connect', url: `${url}/py`, subprotocols }), 'connect');
    const [serverSide] = await connected;
    return { subprotocol: answer.subprotocol, serverSide };
  }

  test('echoes text, binary and large messages, whole and fragmented', async () => {
    try {
      await pythonClient();
      for (const size of BOUNDARY_SIZES) {
        const text = textOfBytes(size);
        ok(await python!.request({ op: 'send', text }), 'send');
        const textEcho = ok(await python!.request<Received>({ op: 'recv' }), 'recv');
        assert.deepEqual(textEcho, { type: 'text', length: size, sha256: sha256(text) }, `text of ${size} bytes`);

        const bytes = binaryOfBytes(size);
        ok(await python!.request({ op: 'send', b64: bytes.toString('base64') }), 'send');
        const binaryEcho = ok(await python!.request<Received>({ op: 'recv' }), 'recv');
        assert.deepEqual(binaryEcho, { type: 'binary', length: size, sha256: sha256(bytes) }, `binary of ${size} bytes`);
      }
      // websockets sends an iterable as one message in several frames (RFC 6455 §5.4).
      const parts = ['first ', 'sécond ', 'third'];
      ok(await python!.request({ op: 'send', fragments: parts.map((text) => ({ text })) }), 'send fragments');
      const joined = parts.join('');
      assert.deepEqual(ok(await python!.request<Received>({ op: 'recv' }), 'recv'), {
        type: 'text',
        length: Buffer.byteLength(joined),
        sha256: sha256(joined),
      });
      const large = binaryOfBytes(3 * 1024 * 1024 + 7);
      const chunks = [large.subarray(0, 1_000_000), large.subarray(1_000_000, 2_000_000), large.subarray(2_000_000)];
      ok(await python!.request({ op: 'send', fragments: chunks.map((chunk) => ({ b64: chunk.toString('base64') })) }), 'send');
      assert.deepEqual(ok(await python!.request<Received>({ op: 'recv' }), 'recv'), {
        type: 'binary',
        length: large.length,
        sha256: sha256(large),
      });
    } finally {
      await python?.stop();
    }
  });

  test('negotiates the subprotocol our server prefers among those offered', async () => {
    try {
      const { subprotocol, serverSide } = await pythonClient(['chat', 'superchat']);
      assert.equal(subprotocol, 'superchat');
      assert.equal(serverSide.protocol, 'superchat');
    } finally {
      await python?.stop();
    }
    try {
      const { subprotocol, serverSide } = await pythonClient(['unknown']);
      assert.equal(subprotocol, null, 'no common subprotocol: none selected');
      assert.equal(serverSide.protocol, '');
    } finally {
      await python?.stop();
    }
  });

  test('ping and pong both ways', async () => {
    try {
      const { serverSide } = await pythonClient();
      // The Python side resolves its waiter only on a pong with the same payload.
      ok(await python!.request({ op: 'ping', hex: Buffer.from('from python').toString('hex') }), 'ping');
      ok(await python!.request({ op: 'ping', hex: '' }), 'empty ping');

      const pong = nextEvent<[Buffer]>(serverSide, 'pong');
      const payload = binaryOfBytes(125);
      serverSide.ping(payload);
      const [pongData] = await pong;
      assert.ok(pongData.equals(payload), 'websockets answers our ping with the same payload');
    } finally {
      await python?.stop();
    }
  });

  test('close codes and reasons both ways', async () => {
    try {
      const { serverSide } = await pythonClient();
      const serverClosed = nextEvent<[number, string]>(serverSide, 'close');
      const answer = ok(await python!.request<Answer & { code: number; reason: string }>({ op: 'close', code: 4010, reason: 'python leaves ✓' }), 'close');
      assert.deepEqual(await serverClosed, [4010, 'python leaves ✓']);
      assert.equal(answer.code, 4010, 'our server echoes the code (§5.5.1)');
    } finally {
      await python?.stop();
    }
    try {
      const { serverSide } = await pythonClient();
      const serverClosed = nextEvent<[number, string]>(serverSide, 'close');
      serverSide.close(4011, 'server ends it');
      const answer = ok(await python!.request<Answer & { code: number; reason: string }>({ op: 'wait_closed' }), 'wait_closed');
      assert.deepEqual(answer, { code: 4011, reason: 'server ends it' });
      assert.equal((await serverClosed)[0], 4011, 'websockets echoes the code');
    } finally {
      await python?.stop();
    }
  });
});

describe('Upshift clients → python-websockets server', { timeout: 120_000 }, () => {
  let python: ChildPeer;
  let url: string;
  before(async () => {
    python = new ChildPeer(PYTHON, [`${SUPPORT_DIR}ws_echo_server.py`]);
    const started = await python.nextJson<{ port: number }>(10_000, 'the Python server to listen');
    url = `ws://127.0.0.1:${started.port}`;
  });
  after(async () => {
    await python.stop();
  });

  /** The server's next "connection" or "closed" report. */
  function report<T = Record<string, unknown>>(): Promise<T> {
    return python.nextJson<T>(10_000, 'a report from the Python server');
  }

  test('connect(): echoes text, binary and large messages; fragments both ways', async () => {
    const ws = await connect(`${url}/echo`, { protocols: ['nope', 'echo'], handshakeTimeout: 5000 });
    try {
      assert.deepEqual(await report(), { event: 'connection', path: '/echo', subprotocol: 'echo' });
      assert.equal(ws.protocol, 'echo');
      for (const size of [...BOUNDARY_SIZES, 5 * 1024 * 1024]) {
        const text = textOfBytes(size);
        let echo = nextEvent<[Buffer, boolean]>(ws, 'message', 10_000);
        ws.send(text);
        let [data, isBinary] = await echo;
        assert.equal(isBinary, false);
        assert.equal(data.toString('utf8'), text, `text of ${size} bytes`);

        const bytes = binaryOfBytes(size);
        echo = nextEvent<[Buffer, boolean]>(ws, 'message', 10_000);
        ws.send(bytes);
        [data, isBinary] = await echo;
        assert.equal(isBinary, true);
        assert.ok(data.equals(bytes), `binary of ${size} bytes`);
      }

      const echo = nextEvent<[Buffer, boolean]>(ws, 'message');
      ws.send('our ', { fin: false });
      ws.send('fragments');
      assert.deepEqual(await echo, [Buffer.from('our fragments'), false]);

      const received: [string, boolean][] = [];
      const two = withTimeout(
        new Promise<void>((resolve) => {
          const onMessage = (message: Buffer, binary: boolean): void => {
            received.push([binary ? message.toString('hex') : message.toString(), binary]);
            if (received.length === 2) {
              ws.off('message', onMessage);
              resolve();
            }
          };
          ws.on('message', onMessage);
        }),
        5000,
        "the server's fragmented messages",
      );
      ws.send('cmd:fragments');
      await two;
      assert.deepEqual(received, [
        ['one two three', false],
        ['010203', true],
      ]);
    } finally {
      const closed = nextEvent<[number, string]>(ws, 'close');
      ws.close(1000);
      await closed;
      assert.deepEqual(await report(), { event: 'closed', code: 1000, reason: '' });
    }
  });

  test('connect(): ping and pong both ways', async () => {
    const ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    try {
      assert.deepEqual(await report(), { event: 'connection', path: '/echo', subprotocol: null });
      assert.equal(ws.protocol, '');
      const pong = nextEvent<[Buffer]>(ws, 'pong');
      ws.ping('are you there');
      assert.equal((await pong)[0].toString(), 'are you there');

      // The server pings, waits for the matching pong, then tells us so.
      const ping = nextEvent<[Buffer]>(ws, 'ping');
      const confirmed = nextEvent<[Buffer, boolean]>(ws, 'message');
      ws.send('cmd:ping 00ff10');
      assert.equal((await ping)[0].toString('hex'), '00ff10');
      assert.equal((await confirmed)[0].toString(), 'pong:00ff10');
    } finally {
      ws.terminate();
      await report(); // its "closed" line
    }
  });

  test('connect(): close codes and reasons both ways', async () => {
    let ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    await report();
    let closed = nextEvent<[number, string]>(ws, 'close');
    ws.close(4020, 'upshift leaves');
    assert.deepEqual(await report(), { event: 'closed', code: 4020, reason: 'upshift leaves' });
    assert.equal((await closed)[0], 4020, 'websockets echoes the code');

    ws = await connect(`${url}/echo`, { handshakeTimeout: 5000 });
    await report();
    closed = nextEvent<[number, string]>(ws, 'close');
    ws.send('cmd:close 4021 python leaves');
    assert.deepEqual(await closed, [4021, 'python leaves']);
    // websockets reports the close frame it received: our echo carries the code alone (§5.5.1).
    assert.deepEqual(await report(), { event: 'closed', code: 4021, reason: '' });
  });

  test('WHATWG WebSocket: subprotocol, echo of strings and ArrayBuffers, closes both ways', async () => {
    const ws = new WebSocket(`${url}/whatwg`, ['chat']);
    ws.binaryType = 'arraybuffer';
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (event) => reject(new Error(`WebSocket error: ${event.message}`));
      }),
      5000,
      'open',
    );
    assert.deepEqual(await report(), { event: 'connection', path: '/whatwg', subprotocol: 'chat' });
    assert.equal(ws.protocol, 'chat');
    const nextMessage = (): Promise<MessageEvent> =>
      withTimeout(new Promise((resolve) => (ws.onmessage = (event) => resolve(event))), 10_000, 'a message');
    for (const size of [0, 126, 65536, 1024 * 1024]) {
      const text = textOfBytes(size);
      let message = nextMessage();
      ws.send(text);
      assert.equal((await message).data, text);
      const bytes = binaryOfBytes(size);
      message = nextMessage();
      ws.send(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
      const data = (await message).data as unknown;
      assert.ok(data instanceof ArrayBuffer);
      assert.ok(Buffer.from(data).equals(bytes), `binary of ${size} bytes`);
    }
    const closed = withTimeout(new Promise<CloseEvent>((resolve) => (ws.onclose = (event) => resolve(event))), 5000, 'close');
    ws.close(4000, 'whatwg leaves');
    const event = await closed;
    assert.equal(event.code, 4000);
    assert.equal(event.wasClean, true);
    assert.deepEqual(await report(), { event: 'closed', code: 4000, reason: 'whatwg leaves' });

    const ws2 = new WebSocket(`${url}/whatwg`);
    const closed2 = withTimeout(new Promise<CloseEvent>((resolve) => (ws2.onclose = (e) => resolve(e))), 5000, 'close');
    ws2.onopen = () => ws2.send('cmd:close 4100 bye from python');
    const event2 = await closed2;
    assert.equal(event2.code, 4100);
    assert.equal(event2.reason, 'bye from python');
    assert.equal(event2.wasClean, true);
    await report();
    assert.deepEqual(await report(), { event: 'closed', code: 4100, reason: '' });
  });
});

// The handshake fast path of servers Upshift creates itself (src/server/upgrade-listener.ts):
// heads that arrive in pieces, frame bytes that arrive with the head, requests it hands to
// Node's HTTP parser with every byte intact, and the limits on heads still being sent
// (maxHeaderSize, headersTimeout, maxConnections).

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ACCEPT, destroyRawClients, RawClient, upgradeRequest } from '../helpers/raw-client.js';
import { HOST, startServer, stopServer, type StartedServer } from '../helpers/server.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';
import { encodeFrame, OP } from '../helpers/frames.js';
import { createUpgradeListener, UpgradeRequest, type HeadLimits, type UpgradeListener } from '../../src/server/upgrade-listener.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { DEFAULT_LIMITS } from '../../src/connection/limits.js';

afterEach(destroyRawClients);

/**
 * A listener in front of a node:http server with a WebSocket endpoint at /echo, as a server
 * Upshift creates is built; the test sees each connection's server side.
 */
async function startListener(limits: Partial<HeadLimits> = {}): Promise<{
  http: HttpServer;
  listener: UpgradeListener;
  port: number;
  nextSocket(): Promise<Socket>;
  stop(): Promise<void>;
}> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: '/echo' });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const listener = createUpgradeListener(http, { ...DEFAULT_LIMITS, ...limits });
  listener.listen(0, HOST);
  await within(once(listener, 'listening'), EVENT_WAIT_MS, 'listening');
  return {
    http,
    listener,
    port: (listener.address() as AddressInfo).port,
    nextSocket: () => within(once(listener, 'connection'), EVENT_WAIT_MS, 'a connection').then(([socket]) => socket as Socket),
    stop: async () => {
      await stopServer(wss);
      listener.dropIncomplete();
      http.closeAllConnections();
      await within(new Promise<void>((resolve) => listener.close(() => resolve())), EVENT_WAIT_MS, 'the listener to close');
    },
  };
}

/** Counts the reads of a server-side socket; `next()` resolves at the next one. */
function countReads(socket: Socket): { readonly count: number; next(): Promise<void> } {
  let count = 0;
  let wake: (() => void) | null = null;
  socket.on('data', () => {
    count++;
    wake?.();
    wake = null;
  });
  return {
    get count() {
      return count;
    },
    next: () => within(new Promise<void>((resolve) => (wake = resolve)), EVENT_WAIT_MS, 'the server to read'),
  };
}

describe('upgrade fast path on a server Upshift creates', { timeout: 15_000 }, () => {
  let server: StartedServer<unknown>;
  let lastRequest: unknown = null;
  before(async () => {
    server = await startServer({ path: '/echo' });
    server.wss.on('connection', (ws, req) => {
      lastRequest = req;
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  after(() => server.stop());

  it('takes a WebSocket handshake without Node’s HTTP parser', async () => {
    const { client, response } = await RawClient.open(server.port, '/echo?room=1', { 'X-Trace': 'abc' });
    assert.equal(response.headers['sec-websocket-accept'], ACCEPT);
    assert.ok(lastRequest instanceof UpgradeRequest, 'the request came through the fast path');
    const req = lastRequest as UpgradeRequest;
    assert.equal(req.url, '/echo?room=1');
    assert.equal(req.headers['x-trace'], 'abc');
    assert.equal(req.socket.remoteAddress, '127.0.0.1');
    client.destroy();
  });

  it('keeps frame bytes that arrive in the same segment as the head', async () => {
    const client = await RawClient.connect(server.port);
    await client.write(Buffer.concat([Buffer.from(upgradeRequest('/echo')), encodeFrame(OP.TEXT, 'early')]));
    assert.equal((await client.readResponse()).status, 101);
    const echo = await client.readFrame();
    assert.equal(echo.opcode, OP.TEXT);
    assert.equal(echo.payload.toString(), 'early');
  });

  it('hands other requests to Node’s HTTP parser with their bodies, keeping the connection alive', async () => {
    const client = await RawClient.connect(server.port);
    await client.write('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello');
    const first = await client.readResponse();
    assert.equal(first.status, 426);
    assert.equal(first.headers['upgrade'], 'websocket');
    // The same connection still speaks HTTP: the body was consumed by the HTTP parser.
    await client.write('GET /other HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const second = await client.readResponse();
    assert.equal(second.status, 404);
  });

  it('answers a head over the size limit with 431, dated, and carries on', async () => {
    const client = await RawClient.connect(server.port);
    await client.write(upgradeRequest('/echo', { 'X-Big': 'a'.repeat(20_000) }));
    const response = await client.readResponse();
    assert.equal(response.status, 431);
    assert.ok(!Number.isNaN(Date.parse(response.headers['date'] ?? '')), 'RFC 9110 §6.6.1: Date');
    await client.waitForEnd();
    (await RawClient.open(server.port, '/echo')).client.destroy();
  });
});

describe('the fast path request reads like an IncomingMessage', { timeout: 15_000 }, () => {
  // The same head to a server Upshift created (fast path) and to one attached to node:http
  // (IncomingMessage): verify and 'connection' must see the same fields either way.
  const head =
    'GET /echo?x=1 HTTP/1.1\r\nHOST: 127.0.0.1\r\nupgrade: WebSocket\r\nConnection: keep-alive\r\nCONNECTION: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${'dGhlIHNhbXBsZSBub25jZQ=='}\r\nsec-websocket-version:13  \r\nCookie: a=1\r\ncookie: b=2\r\n` +
    'Sec-WebSocket-Protocol: chat\r\nSEC-WEBSOCKET-PROTOCOL: superchat\r\nAccept-Language: en\r\nAccept-Language: fr\r\n' +
    'X-Custom:  spaced\t\r\nOrigin: https://example.test\r\n\r\n';

  async function seen(options: { attached: boolean }): Promise<{ verify: unknown[]; connection: unknown[]; fast: boolean; cached: boolean }> {
    let verifyView: unknown[] = [];
    const verify = (req: { headers: object; rawHeaders: string[] }): boolean => {
      verifyView = [Object.entries(req.headers), req.rawHeaders];
      return true;
    };
    const http = options.attached ? createServer() : null;
    let wss: WebSocketServer;
    let port: number;
    if (http !== null) {
      wss = new WebSocketServer({ server: http, path: '/echo', protocols: ['superchat'], verify });
      http.listen(0, HOST);
      await within(once(http, 'listening'), EVENT_WAIT_MS, 'listening');
      port = (http.address() as AddressInfo).port;
    } else {
      wss = new WebSocketServer({ port: 0, host: HOST, path: '/echo', protocols: ['superchat'], verify });
      await within(once(wss, 'listening'), EVENT_WAIT_MS, 'listening');
      port = (wss.address() as AddressInfo).port;
    }
    try {
      const connected = within(once(wss, 'connection'), EVENT_WAIT_MS, 'a connection');
      const client = await RawClient.connect(port);
      await client.write(head);
      assert.equal((await client.readResponse()).status, 101);
      const [, req] = (await connected) as [unknown, { headers: object; rawHeaders: string[] }];
      const first = req.rawHeaders;
      return {
        verify: verifyView,
        connection: [Object.entries(req.headers), first],
        fast: req instanceof UpgradeRequest,
        cached: req.rawHeaders === first,
      };
    } finally {
      await stopServer(wss);
      if (http !== null) {
        http.closeAllConnections();
        http.close();
      }
    }
  }

  it('headers (lists joined with ", ", Cookie with "; ", names lowercased) and rawHeaders as Node has them', async () => {
    const fast = await seen({ attached: false });
    const node = await seen({ attached: true });
    assert.equal(fast.fast, true, 'the fast path took it');
    assert.equal(node.fast, false, 'node:http took it');
    assert.deepEqual(fast.verify, node.verify);
    assert.deepEqual(fast.connection, node.connection);
    assert.deepEqual(fast.verify, fast.connection);
    const [headers, rawHeaders] = fast.connection as [[string, string][], string[]];
    assert.deepEqual(Object.fromEntries(headers), {
      host: '127.0.0.1',
      upgrade: 'WebSocket',
      connection: 'keep-alive, Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      cookie: 'a=1; b=2',
      'sec-websocket-protocol': 'chat, superchat',
      'accept-language': 'en, fr',
      'x-custom': 'spaced',
      origin: 'https://example.test',
    });
    assert.deepEqual(rawHeaders.slice(0, 4), ['HOST', '127.0.0.1', 'upgrade', 'WebSocket']);
    assert.equal(rawHeaders.length, 28);
    assert.ok(fast.cached, 'rawHeaders is built once, then the same array');
  });
});

describe('the socket\'s error listener while nobody owns it', { timeout: 15_000 }, () => {
  const destroyers = (socket: Socket): number => socket.listeners('error').filter((listener) => listener.name === 'destroyOnError').length;

  it('an upgrade has exactly one until its connection takes the socket, none after', async () => {
    const server = await startListener();
    try {
      const during: number[] = [];
      server.http.prependListener('upgrade', (_req, socket: Socket) => during.push(destroyers(socket)));
      const accepted = server.nextSocket();
      const { client } = await RawClient.open(server.port, '/echo');
      const socket = await accepted;
      await client.write(encodeFrame(OP.TEXT, 'x'));
      await client.readFrame();
      assert.deepEqual(during, [1]);
      assert.equal(destroyers(socket), 0);
    } finally {
      await server.stop();
    }
  });

  it('a request handed to node:http has none (its own error handling applies)', async () => {
    const server = await startListener();
    try {
      const seen = new Promise<number>((resolve) => server.http.once('request', (req, res) => {
        resolve(destroyers(req.socket));
        res.end('ok');
      }));
      const client = await RawClient.connect(server.port);
      await client.write('GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal(await within(seen, EVENT_WAIT_MS, 'the request'), 0);
      assert.equal((await client.readResponse()).status, 200);
    } finally {
      await server.stop();
    }
  });
});

describe('a handshake socket', { timeout: 15_000 }, () => {
  it('has Nagle off from its accept: no setNoDelay() call per handshake', async () => {
    const server = await startListener();
    try {
      const accepted = server.nextSocket();
      const client = await RawClient.connect(server.port);
      const socket = await accepted;
      let calls = 0;
      const setNoDelay = socket.setNoDelay;
      socket.setNoDelay = function (this: Socket, noDelay?: boolean) {
        calls++;
        return setNoDelay.call(this, noDelay);
      };
      await client.write(upgradeRequest('/echo'));
      assert.equal((await client.readResponse()).status, 101);
      assert.equal(calls, 0);
      // net sets it at accept (createServer({ noDelay: true })): what setNoDelay(true) would have done.
      const flag = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'kSetNoDelay');
      assert.equal((socket as unknown as Record<symbol, unknown>)[flag!], true);
    } finally {
      await server.stop();
    }
  });
});

describe('a head that arrives in pieces', { timeout: 15_000 }, () => {
  it('is assembled from many reads, 7 bytes each, and the connection goes on', async () => {
    const server = await startListener();
    try {
      const accepted = server.nextSocket();
      const client = await RawClient.connect(server.port);
      client.socket.setNoDelay(true);
      const reads = countReads(await accepted);
      const head = Buffer.from(upgradeRequest('/echo'));
      let pieces = 0;
      for (let i = 0; i < head.length; i += 7) {
        // Each piece is read by the server before the next is written: no coalescing.
        const read = reads.next();
        await client.write(head.subarray(i, i + 7));
        await read;
        pieces++;
      }
      const response = await client.readResponse();
      assert.equal(response.status, 101);
      assert.equal(response.headers['sec-websocket-accept'], ACCEPT);
      assert.equal(reads.count, pieces, 'one server read per piece');
      assert.ok(pieces > 20);
      await client.write(encodeFrame(OP.TEXT, 'after a split head'));
      assert.equal((await client.readFrame()).payload.toString(), 'after a split head');
    } finally {
      await server.stop();
    }
  });

  it('finds the blank line split across two reads, with frame bytes behind it', async () => {
    const server = await startListener();
    try {
      const accepted = server.nextSocket();
      const client = await RawClient.connect(server.port);
      const reads = countReads(await accepted);
      const wire = Buffer.concat([Buffer.from(upgradeRequest('/echo')), encodeFrame(OP.TEXT, 'behind')]);
      const cut = wire.indexOf('\r\n\r\n') + 2;
      const first = reads.next();
      await client.write(wire.subarray(0, cut));
      await first;
      await client.write(wire.subarray(cut));
      assert.equal((await client.readResponse()).status, 101);
      assert.equal((await client.readFrame()).payload.toString(), 'behind');
      assert.equal(reads.count, 2);
    } finally {
      await server.stop();
    }
  });

  it('one after another on the same listener, each read from its own start', async () => {
    const server = await startListener();
    try {
      // The listener keeps the state of a finished head for the next connection: the second
      // head must not be read as the continuation of the first.
      for (let i = 0; i < 3; i++) {
        const accepted = server.nextSocket();
        const client = await RawClient.connect(server.port);
        const reads = countReads(await accepted);
        const head = Buffer.from(upgradeRequest('/echo'));
        const first = reads.next();
        await client.write(head.subarray(0, 40 + i));
        await first;
        await client.write(head.subarray(40 + i));
        const response = await client.readResponse();
        assert.equal(response.status, 101, `connection ${i}`);
        assert.equal(response.headers['sec-websocket-accept'], ACCEPT);
        client.destroy();
      }
    } finally {
      await server.stop();
    }
  });

  it('costs memory in proportion to what was sent, not maxHeaderSize up front', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const server = await startListener({ maxHeaderSize: 64 * 1024 });
    const count = 100;
    const clients: RawClient[] = [];
    try {
      // Everything the test itself allocates per connection comes first.
      const sockets: Socket[] = [];
      server.listener.on('connection', (socket: Socket) => sockets.push(socket));
      for (let i = 0; i < count; i++) clients.push(await RawClient.connect(server.port));
      while (sockets.length < count) await within(once(server.listener, 'connection'), EVENT_WAIT_MS, 'every connection');
      const reads = sockets.map(countReads);
      gc();
      const before = process.memoryUsage().arrayBuffers;
      const partial = 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n';
      await Promise.all(
        clients.map(async (client, i) => {
          const read = reads[i]!.next();
          await client.write(partial);
          await read;
        }),
      );
      gc();
      const grown = process.memoryUsage().arrayBuffers - before;
      assert.equal(server.listener.headsInProgress, count);
      // 64 KiB per head up front would be 6.4 MB; a kibibyte or so each is what a head needs.
      assert.ok(grown < count * 4096, `ArrayBuffers grew by ${grown} bytes for ${count} partial heads`);
    } finally {
      for (const client of clients) client.destroy();
      await server.stop();
    }
  });
});

describe('limits on heads still being sent', { timeout: 15_000 }, () => {
  it('headersTimeout: a head not complete in time gets 408, then the connection closes', async () => {
    const server = await startServer({ path: '/echo', headersTimeout: 300 });
    try {
      const client = await RawClient.connect(server.port);
      await client.write('GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
      const response = await client.readResponse(5000);
      assert.equal(response.status, 408);
      assert.equal(response.headers['connection'], 'close');
      await client.waitForEnd(5000);
      // A complete head is not affected.
      (await RawClient.open(server.port, '/echo')).client.destroy();
    } finally {
      await server.stop();
    }
  });

  it('headersTimeout applies to later requests that Node parses on a handed-off connection', async () => {
    const server = await startServer({ path: '/echo', headersTimeout: 300 });
    try {
      const client = await RawClient.connect(server.port);
      await client.write('GET /other HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal((await client.readResponse()).status, 404);
      await client.write('GET /other HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const response = await client.readResponse(5000);
      assert.equal(response.status, 408);
    } finally {
      await server.stop();
    }
  });

  it('headersTimeout and maxHeaderSize fill in what an attached server left at Node’s defaults', async () => {
    const defaults = createServer();
    const own = createServer({ headersTimeout: 5000, maxHeaderSize: 4096 });
    const a = new WebSocketServer({ server: defaults, headersTimeout: 300, maxHeaderSize: 1024 });
    const b = new WebSocketServer({ server: own, headersTimeout: 300, maxHeaderSize: 1024 });
    const untouched = createServer();
    const c = new WebSocketServer({ server: untouched });
    try {
      assert.equal(defaults.headersTimeout, 300);
      assert.equal((defaults as { maxHeaderSize?: number }).maxHeaderSize, 1024);
      assert.equal(own.headersTimeout, 5000, 'the application’s own setting wins');
      assert.equal((own as { maxHeaderSize?: number }).maxHeaderSize, 4096);
      assert.equal(untouched.headersTimeout, 60_000);
      assert.equal((untouched as { maxHeaderSize?: number }).maxHeaderSize, undefined);
    } finally {
      await Promise.all([stopServer(a), stopServer(b), stopServer(c)]);
    }
  });

  it('an attached server answers a slow head with 408 at the same headersTimeout', async () => {
    const http = createServer((_req, res) => res.end('app'));
    const wss = new WebSocketServer({ server: http, path: '/echo', headersTimeout: 300 });
    http.listen(0, HOST);
    await within(once(http, 'listening'), EVENT_WAIT_MS, 'listening');
    try {
      const client = await RawClient.connect((http.address() as AddressInfo).port);
      await client.write('GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
      assert.equal((await client.readResponse(5000)).status, 408);
    } finally {
      await stopServer(wss);
      http.closeAllConnections();
      http.close();
    }
  });

  it('maxHeaderSize: heads over it get 431, upgrade or not; a larger limit admits larger heads', async () => {
    const small = await startServer({ path: '/echo', maxHeaderSize: 1024 });
    const large = await startServer({ path: '/echo', maxHeaderSize: 64 * 1024 });
    try {
      const big = { 'X-Big': 'a'.repeat(2000) };
      const upgrade = await RawClient.connect(small.port);
      await upgrade.write(upgradeRequest('/echo', big));
      assert.equal((await upgrade.readResponse()).status, 431);
      const plain = await RawClient.connect(small.port);
      await plain.write(`GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`);
      assert.equal((await plain.readResponse()).status, 431);
      const { response } = await RawClient.open(large.port, '/echo', { 'X-Big': 'a'.repeat(20_000) });
      assert.equal(response.status, 101);
      // Node's parser, which takes the connections that are not handshakes, has the same limit.
      const handedOff = await RawClient.connect(large.port);
      await handedOff.write(`POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      assert.equal((await handedOff.readResponse()).status, 426);
    } finally {
      await small.stop();
      await large.stop();
    }
  });

  it('maxConnections counts connections still sending a head', async () => {
    const server = await startServer({ path: '/echo', maxConnections: 2 });
    try {
      const head = Buffer.from(upgradeRequest('/echo'));
      const first = await RawClient.connect(server.port);
      const second = await RawClient.connect(server.port);
      await first.write(head.subarray(0, 20));
      await second.write(head.subarray(0, 20));
      // Connections are accepted in order: the first two are already counted.
      const third = await RawClient.connect(server.port);
      const refused = await third.readResponse();
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['retry-after'], '5');
      await third.waitForEnd();
      // A head completed moves from one count to the other, and is not refused.
      await first.write(head.subarray(20));
      assert.equal((await first.readResponse()).status, 101);
      const fourth = await RawClient.connect(server.port);
      assert.equal((await fourth.readResponse()).status, 503);
    } finally {
      await server.stop();
    }
  });

  it('close() does not wait for idle keep-alive connections handed to node:http', async () => {
    const server = await startServer({ path: '/echo' });
    const client = await RawClient.connect(server.port);
    try {
      await client.write('GET /other HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal((await client.readResponse()).status, 404);
      // A long close timeout: only closing idle connections can end this quickly.
      await within(server.wss.close({ timeout: 60_000 }), 5000, 'close()');
      await client.waitForEnd();
    } finally {
      client.destroy();
    }
  });
});


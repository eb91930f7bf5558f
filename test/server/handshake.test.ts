// The server's answers to opening handshakes, checked byte for byte over a raw socket
// (RFC 6455 §4.2.1, §4.2.2).

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ACCEPT, destroyRawClients, KEY, RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';
import { encodeFrame, OP } from '../helpers/frames.js';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type HandshakeRequest } from '../../src/server/websocket-server.js';
import { UpgradeRequest } from '../../src/server/upgrade-listener.js';
import type { ExtendedConnectRequest } from '../../src/server/http2-stream.js';
import { connect } from '../../src/client/connect.js';
import { startHttpServer } from '../helpers/server.js';

afterEach(destroyRawClients);

describe('opening handshake status codes', { timeout: 10_000 }, () => {
  let server: StartedServer<unknown>;
  before(async () => {
    server = await startServer({ path: '/ws' });
  });
  after(() => server.stop());

  it('refuses POST with 405 and Allow: GET', async () => {
    const response = await rawRequest(server.port, upgradeRequest('/ws', {}, 'POST'));
    assert.equal(response.status, 405);
    assert.equal(response.headers['allow'], 'GET');
    assert.equal(response.headers['connection'], 'close');
    assert.equal(server.wss.clients.size, 0);
  });

  it('refuses HTTP/1.0 with 400', async () => {
    const response = await rawRequest(server.port, upgradeRequest('/ws', {}, 'GET', '1.0'));
    assert.equal(response.status, 400);
    assert.match(response.body, /HTTP\/1\.1/);
  });

  for (const [label, key] of [
    ['missing', ''],
    ['too short', 'dGhlIHNhbXBsZQ=='],
    ['not base64 of 16 bytes', 'dGhlIHNhbXBsZSBub25jZR=='],
    ['junk', '!!!!!!!!!!!!!!!!!!!!!!=='],
  ] as const) {
    it(`refuses a ${label} Sec-WebSocket-Key with 400 and a reason in the body`, async () => {
      const response = await rawRequest(server.port, upgradeRequest('/ws', { 'Sec-WebSocket-Key': key }));
      assert.equal(response.status, 400);
      assert.match(response.body, /Sec-WebSocket-Key/);
      assert.equal(Number(response.headers['content-length']), Buffer.byteLength(response.body));
    });
  }

  it('refuses two Sec-WebSocket-Key headers with 400', async () => {
    const request = upgradeRequest('/ws').replace('\r\n\r\n', `\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`);
    const response = await rawRequest(server.port, request);
    assert.equal(response.status, 400);
  });

  it('answers version 8 with 426 and Sec-WebSocket-Version: 13', async () => {
    const response = await rawRequest(server.port, upgradeRequest('/ws', { 'Sec-WebSocket-Version': '8' }));
    assert.equal(response.status, 426);
    assert.equal(response.headers['sec-websocket-version'], '13');
  });

  it('refuses a missing Sec-WebSocket-Version with 400', async () => {
    const response = await rawRequest(server.port, upgradeRequest('/ws', { 'Sec-WebSocket-Version': '' }));
    assert.equal(response.status, 400);
    assert.match(response.body, /Version/);
  });

  it('answers a request whose Connection lacks "upgrade" as a plain request: 426, Upgrade: websocket', async () => {
    // Node does not treat it as an upgrade at all; the dispatcher then asks for one (RFC 9110
    // §15.5.22). The library's own 400 for this case is covered in same-port.test.ts.
    const response = await rawRequest(server.port, upgradeRequest('/ws', { Connection: 'keep-alive' }));
    assert.equal(response.status, 426);
    assert.equal(response.headers['upgrade'], 'websocket');
    assert.equal(server.wss.clients.size, 0);
  });

  it('accepts "Upgrade: foo, WebSocket" and "Connection: keep-alive, Upgrade"', async () => {
    const connected = server.nextConnection();
    const { client, response } = await RawClient.open(server.port, '/ws', {
      Upgrade: 'foo, WebSocket',
      Connection: 'keep-alive, Upgrade',
    });
    assert.equal(response.status, 101);
    assert.equal(response.headers['upgrade'], 'websocket');
    assert.equal(response.headers['connection']?.toLowerCase(), 'upgrade');
    await connected;
    client.destroy();
  });

  it('answers with the correct Sec-WebSocket-Accept (RFC 6455 §1.3 example and a fresh key)', async () => {
    const { client, response } = await RawClient.open(server.port, '/ws');
    assert.equal(response.headers['sec-websocket-accept'], ACCEPT);
    client.destroy();
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    const second = await RawClient.open(server.port, '/ws', { 'Sec-WebSocket-Key': key });
    assert.equal(second.response.headers['sec-websocket-accept'], expected);
    // No subprotocol or extension was offered, so none is answered.
    assert.equal(second.response.headers['sec-websocket-protocol'], undefined);
    assert.equal(second.response.headers['sec-websocket-extensions'], undefined);
    second.client.destroy();
  });

  it('accepts frames that arrive together with the handshake (the upgrade head)', async () => {
    // Listeners attached synchronously in 'connection' see the frames that came with the head.
    const message = new Promise<[Buffer, boolean]>((resolve) =>
      server.wss.once('connection', (ws) => ws.once('message', (data, isBinary) => resolve([data, isBinary]))),
    );
    const client = await RawClient.connect(server.port);
    await client.write(Buffer.concat([Buffer.from(upgradeRequest('/ws')), encodeFrame(OP.TEXT, 'early')]));
    const [data, isBinary] = await within(message, EVENT_WAIT_MS, 'the early message');
    assert.equal(data.toString(), 'early');
    assert.equal(isBinary, false);
    assert.equal((await client.readResponse()).status, 101);
    client.destroy();
  });
});

describe('origin checks', { timeout: 10_000 }, () => {
  it('refuses an origin outside the list with 403, accepts one in it', async () => {
    const server = await startServer({ origins: ['https://good.example'] });
    try {
      const bad = await rawRequest(server.port, upgradeRequest('/', { Origin: 'https://evil.example' }));
      assert.equal(bad.status, 403);
      const none = await rawRequest(server.port, upgradeRequest('/'));
      assert.equal(none.status, 403, 'a list of origins refuses requests without Origin');
      const { client, response } = await RawClient.open(server.port, '/', { Origin: 'https://good.example' });
      assert.equal(response.status, 101);
      client.destroy();
    } finally {
      await server.stop();
    }
  });

  it('refuses an origin the predicate rejects with 403', async () => {
    const seen: (string | undefined)[] = [];
    const server = await startServer({
      origins: (origin) => {
        seen.push(origin);
        return origin?.endsWith('.trusted.example') ?? false;
      },
    });
    try {
      assert.equal((await rawRequest(server.port, upgradeRequest('/', { Origin: 'https://x.other.example' }))).status, 403);
      const { client } = await RawClient.open(server.port, '/', { Origin: 'https://app.trusted.example' });
      client.destroy();
      assert.deepEqual(seen, ['https://x.other.example', 'https://app.trusted.example']);
    } finally {
      await server.stop();
    }
  });
});

// Compile-time: the three request objects a handshake can come with are HandshakeRequests, with
// no cast (this file does not build otherwise).
type IsHandshakeRequest<R extends HandshakeRequest> = R;
export type RequestKinds = [IsHandshakeRequest<IncomingMessage>, IsHandshakeRequest<UpgradeRequest>, IsHandshakeRequest<ExtendedConnectRequest>];

describe('the request the application sees (HandshakeRequest)', { timeout: 10_000 }, () => {
  /** What verify, the protocols selector and 'connection' were given, for one connection. */
  async function seenBy(wss: WebSocketServer, url: string): Promise<HandshakeRequest[]> {
    const seen: HandshakeRequest[] = [];
    const connected = new Promise<void>((resolve) =>
      wss.once('connection', (ws, req) => {
        seen.push(req);
        ws.close();
        resolve();
      }),
    );
    const ws = await connect(url, { protocols: ['p'] });
    await within(connected, EVENT_WAIT_MS, 'the connection');
    ws.terminate();
    return seen;
  }

  function assertRequest(req: HandshakeRequest, path: string): void {
    assert.equal(req.method, 'GET');
    assert.equal(req.url, `${path}?q=1`);
    assert.equal(req.httpVersion, '1.1');
    assert.equal(req.headers['sec-websocket-protocol'], 'p');
    assert.ok(req.rawHeaders.some((name) => name.toLowerCase() === 'sec-websocket-key'));
    assert.equal(req.socket.remoteAddress, '127.0.0.1');
  }

  it('on a server Upshift created: the fast path request, the same object in every hook', async () => {
    const given: HandshakeRequest[] = [];
    const server = await startServer({
      verify: (req) => void given.push(req),
      protocols: (offered, req) => {
        given.push(req);
        return offered[0];
      },
    });
    try {
      const [req] = await seenBy(server.wss, server.url('/fast?q=1'));
      assert.ok(req instanceof UpgradeRequest);
      assertRequest(req, '/fast');
      assert.deepEqual(given, [req, req]);
    } finally {
      await server.stop();
    }
  });

  it("attached to the application's server: node:http's IncomingMessage", async () => {
    const http = await startHttpServer();
    const wss = new WebSocketServer({ server: http.server, protocols: ['p'] });
    try {
      const [req] = await seenBy(wss, `ws://127.0.0.1:${http.port}/attached?q=1`);
      assert.equal(req!.constructor.name, 'IncomingMessage');
      assertRequest(req!, '/attached');
    } finally {
      await wss.close({ timeout: 200 });
      await http.stop();
    }
  });
});

describe('constructor', () => {
  it('needs one of port, server or noServer', () => {
    assert.throws(() => new WebSocketServer({}), TypeError);
  });
  it('refuses negative limits', () => {
    assert.throws(() => new WebSocketServer({ noServer: true, maxPayload: -1 }), RangeError);
  });
});

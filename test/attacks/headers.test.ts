// Hostile handshake headers: oversized, too many, and values built to make a parser backtrack.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { connect } from '../../src/client/connect.js';
import { destroyRawClients, KEY, RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { HOST, startHttpServer, startServer, stopServer, type StartedServer } from '../helpers/server.js';

afterEach(destroyRawClients);

async function stillServes(port: number, path = '/'): Promise<void> {
  const ws = await connect(`ws://${HOST}:${port}${path}`, { handshakeTimeout: 2000 });
  ws.terminate();
}

describe('attack: oversized and numerous headers', { timeout: 15_000 }, () => {
  let server: StartedServer<unknown>;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('headers over the 16 KiB limit (maxHeaderSize) get 431, and the server carries on', async () => {
    const response = await rawRequest(server.port, upgradeRequest('/', { 'X-Big': 'a'.repeat(20_000) }));
    assert.equal(response.status, 431);
    const many = await rawRequest(server.port, upgradeRequest('/', Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`X-H${i}`, 'v'.repeat(60)]))));
    assert.equal(many.status, 431);
    await stillServes(server.port);
  });

  it('more headers than maxHeadersCount, with Upgrade and Sec-WebSocket-Key past the limit', async () => {
    let request = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n';
    for (let i = 0; i < 2100; i++) request += 'x: y\r\n';
    request += `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    assert.ok(Buffer.byteLength(request) < 16 * 1024, 'under the size limit: only the count matters');
    const response = await rawRequest(server.port, request);
    // Node drops the headers past the count; the upgrade is then incomplete.
    assert.ok([400, 426].includes(response.status), `got ${response.statusLine}`);
    assert.equal(server.wss.clients.size, 0);
    await stillServes(server.port);
  });
});

describe('attack: headers built to make a parser backtrack', { timeout: 20_000 }, () => {
  // A big header limit so the values reach the library's parsers instead of Node's 431.
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  let wss: WebSocketServer;
  before(async () => {
    http = await startHttpServer(undefined, { maxHeaderSize: 1024 * 1024 });
    wss = new WebSocketServer({ server: http.server, protocols: ['chat'] });
  });
  after(async () => {
    await stopServer(wss);
    await http.stop();
  });

  const cases: [string, Record<string, string>][] = [
    ['Sec-WebSocket-Extensions: a;a;a;…', { 'Sec-WebSocket-Extensions': 'a;'.repeat(50_000) }],
    ['Sec-WebSocket-Extensions: a;a;…;a (valid, 50k params)', { 'Sec-WebSocket-Extensions': 'a' + ';a'.repeat(50_000) }],
    ['Sec-WebSocket-Extensions: many spaces', { 'Sec-WebSocket-Extensions': 'x' + ' '.repeat(100_000) + ';' }],
    ['Sec-WebSocket-Extensions: unterminated escapes', { 'Sec-WebSocket-Extensions': 'x; p="' + '\\a'.repeat(50_000) }],
    ['Sec-WebSocket-Extensions: many quotes', { 'Sec-WebSocket-Extensions': 'x; p=' + '"'.repeat(100_000) }],
    ['Sec-WebSocket-Extensions: 30k offers', { 'Sec-WebSocket-Extensions': 'x-a, '.repeat(30_000) }],
    ['Sec-WebSocket-Protocol: many commas and spaces', { 'Sec-WebSocket-Protocol': ' ,'.repeat(50_000) + 'chat' }],
    ['Sec-WebSocket-Protocol: 30k tokens', { 'Sec-WebSocket-Protocol': Array.from({ length: 30_000 }, (_, i) => `p${i}`).join(', ') }],
    ['Connection: keep-alive ×N, Upgrade', { Connection: 'keep-alive, '.repeat(30_000) + 'Upgrade' }],
    ['Upgrade: many tokens, websocket', { Upgrade: 'h2c, '.repeat(30_000) + 'websocket' }],
    ['Origin: 100k characters', { Origin: 'https://' + 'a'.repeat(100_000) }],
  ];
  for (const [label, headers] of cases) {
    // That the parsers take linear time is checked by ratio (n against 8n) in test/protocol; here
    // the server must answer at all, within the read's bound.
    it(`${label}: answered with 400, or accepted with the extension declined`, async () => {
      const client = await RawClient.connect(http.port);
      await client.write(upgradeRequest('/', headers));
      const response = await client.readResponse(5000);
      client.destroy();
      assert.ok([101, 400].includes(response.status), `got ${response.statusLine}: ${response.body}`);
      if (response.status === 101) assert.equal(response.headers['sec-websocket-extensions'], undefined);
    });
  }

  it('the server still serves after all that', async () => {
    await stillServes(http.port);
  });
});

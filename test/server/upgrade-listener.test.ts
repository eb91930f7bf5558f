// The handshake fast path of servers Upshift creates itself (src/server/upgrade-listener.ts):
// heads that arrive in pieces, frame bytes that arrive with the head, and requests it hands to
// Node's HTTP parser with every byte intact.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACCEPT, destroyRawClients, RawClient, upgradeRequest } from '../helpers/raw-client.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { encodeFrame, OP } from '../helpers/frames.js';
import { UpgradeRequest } from '../../src/server/upgrade-listener.js';

afterEach(destroyRawClients);

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

  it('assembles a head that arrives a few bytes per segment', async () => {
    const client = await RawClient.connect(server.port);
    client.socket.setNoDelay(true);
    const head = Buffer.from(upgradeRequest('/echo'));
    for (let i = 0; i < head.length; i += 7) await client.write(head.subarray(i, i + 7));
    const response = await client.readResponse();
    assert.equal(response.status, 101);
    assert.equal(response.headers['sec-websocket-accept'], ACCEPT);
    await client.write(encodeFrame(OP.TEXT, 'after a split head'));
    const echo = await client.readFrame();
    assert.equal(echo.payload.toString(), 'after a split head');
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

  it('lets Node’s parser reject a head over the size limit with 431', async () => {
    const client = await RawClient.connect(server.port);
    await client.write(upgradeRequest('/echo', { 'X-Big': 'a'.repeat(20_000) }));
    const response = await client.readResponse();
    assert.equal(response.status, 431);
  });
});

// Subprotocol negotiation (RFC 6455 §4.2.2 item 5.3 on the server, §4.1 item 6 on the client).

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, HandshakeError } from '../../src/client/connect.js';
import { destroyRawClients, RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { startRawServer, switchingProtocols } from '../helpers/raw-server.js';
import { startServer, HOST } from '../helpers/server.js';
import { nextEvent } from '../helpers/events.js';

afterEach(destroyRawClients);

describe('subprotocols', { timeout: 10_000 }, () => {
  it("a preference list picks the server's first choice among those offered", async () => {
    const server = await startServer({ protocols: ['chat.v2', 'chat.v1', 'json'] });
    try {
      const ws = await connect(server.url(), { protocols: ['json', 'chat.v1', 'chat.v2'] });
      assert.equal(ws.protocol, 'chat.v2');
      const closed = nextEvent(ws, 'close');
      ws.close(1000);
      await closed;
      // Only one protocol in common.
      const { client, response } = await RawClient.open(server.port, '/', { 'Sec-WebSocket-Protocol': 'xml, json' });
      assert.equal(response.headers['sec-websocket-protocol'], 'json');
      client.destroy();
    } finally {
      await server.stop();
    }
  });

  it('a callback may pick any offered protocol, and sees the offers in order', async () => {
    const offers: string[][] = [];
    const server = await startServer({
      protocols: (offered) => {
        offers.push(offered);
        return offered[offered.length - 1];
      },
    });
    try {
      const connected = server.nextConnection();
      const ws = await connect(server.url(), { protocols: ['a', 'b', 'c'] });
      assert.equal(ws.protocol, 'c');
      assert.equal((await connected).protocol, 'c');
      assert.deepEqual(offers, [['a', 'b', 'c']]);
      ws.terminate();
    } finally {
      await server.stop();
    }
  });

  it('a callback returning a protocol the client did not offer refuses the handshake with 500', async () => {
    const server = await startServer({ protocols: () => 'never-offered' });
    try {
      const response = await rawRequest(server.port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'a, b' }));
      assert.equal(response.status, 500);
      assert.equal(response.headers['sec-websocket-protocol'], undefined);
      assert.match(response.body, /never-offered/);
      assert.equal(server.wss.clients.size, 0);
    } finally {
      await server.stop();
    }
  });

  it('sends no Sec-WebSocket-Protocol when nothing is chosen', async () => {
    const server = await startServer({ protocols: ['only-this'] });
    const declining = await startServer({ protocols: () => undefined });
    try {
      for (const port of [server.port, declining.port]) {
        const { client, response } = await RawClient.open(port, '/', { 'Sec-WebSocket-Protocol': 'other' });
        assert.equal(response.headers['sec-websocket-protocol'], undefined);
        client.destroy();
      }
      const ws = await connect(server.url(), { protocols: 'other' });
      assert.equal(ws.protocol, '');
      ws.terminate();
    } finally {
      await server.stop();
      await declining.stop();
    }
  });

  it('the client fails the handshake when the server answers a protocol it did not offer', async () => {
    const raw = await startRawServer((request, socket) => {
      socket.write(switchingProtocols(request, { 'Sec-WebSocket-Protocol': 'evil' }));
    });
    try {
      await assert.rejects(connect(`ws://${HOST}:${raw.port}/`, { protocols: ['good'], handshakeTimeout: 2000 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${String(error)}`);
        assert.equal(error.statusCode, 101);
        assert.match(error.message, /subprotocol "evil".*not requested/);
        return true;
      });
      await assert.rejects(connect(`ws://${HOST}:${raw.port}/`, { handshakeTimeout: 2000 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.match(error.message, /none was requested/);
        return true;
      });
    } finally {
      await raw.stop();
    }
  });

  it('the client refuses invalid or duplicate protocols before connecting', async () => {
    await assert.rejects(connect(`ws://${HOST}:1/`, { protocols: ['a b'] }), SyntaxError);
    await assert.rejects(connect(`ws://${HOST}:1/`, { protocols: ['x', 'x'] }), SyntaxError);
  });
});

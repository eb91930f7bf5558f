// Extension negotiation on the wire (RFC 6455 §9.1): unknown extensions are declined by leaving
// them out of the response, never echoed.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import type { ServerExtension } from '../../src/protocol/extensions.js';
import { destroyRawClients, RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

describe('extensions', { timeout: 10_000 }, () => {
  it('declines an unknown extension offer (no Sec-WebSocket-Extensions in the 101)', async () => {
    const server = await startServer();
    try {
      for (const offer of ['x-foo', 'x-foo; bar=1, x-baz', 'permessage-deflate; client_max_window_bits']) {
        const connected = server.nextConnection();
        const { client, response } = await RawClient.open(server.port, '/', { 'Sec-WebSocket-Extensions': offer });
        assert.equal(response.status, 101);
        assert.equal(response.headers['sec-websocket-extensions'], undefined, `declined: ${offer}`);
        assert.equal((await connected).extensions, '');
        client.destroy();
      }
    } finally {
      await server.stop();
    }
  });

  it('a registered extension that declines leaves the header out too', async () => {
    const offersSeen: string[] = [];
    const declining: ServerExtension = {
      name: 'x-foo',
      accept: (offers) => {
        offersSeen.push(...offers.map((offer) => `${offer.name}:${[...offer.params.keys()].join(',')}`));
        return null;
      },
    };
    const server = await startServer({ extensions: [declining] });
    try {
      const { client, response } = await RawClient.open(server.port, '/', { 'Sec-WebSocket-Extensions': 'x-foo; a=1; b, x-bar' });
      assert.equal(response.headers['sec-websocket-extensions'], undefined);
      assert.deepEqual(offersSeen, ['x-foo:a,b']);
      client.destroy();
    } finally {
      await server.stop();
    }
  });

  it('a malformed extension header is refused with 400', async () => {
    const server = await startServer();
    try {
      const client = await RawClient.connect(server.port);
      const { upgradeRequest } = await import('../helpers/raw-client.js');
      await client.write(upgradeRequest('/', { 'Sec-WebSocket-Extensions': 'x-foo; =1' }));
      const response = await client.readResponse();
      assert.equal(response.status, 400);
      assert.match(response.body, /Extensions/);
    } finally {
      await server.stop();
    }
  });

  it('a client connection with nothing negotiated reports extensions as ""', async () => {
    const server = await startServer();
    try {
      const ws = await connect(server.url());
      assert.equal(ws.extensions, '');
      ws.terminate();
    } finally {
      await server.stop();
    }
  });
});

// maxConnections: open connections plus handshakes in progress; more are refused with 503.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, HandshakeError } from '../../src/client/connect.js';
import { deferred, EVENT_WAIT_MS, nextEvent, within } from '../helpers/events.js';
import { destroyRawClients, rawRequest, RawClient, upgradeRequest } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

describe('maxConnections', { timeout: 10_000 }, () => {
  it('refuses connections over the limit with 503 and takes new ones once a slot frees up', async () => {
    const server = await startServer({ maxConnections: 2 });
    try {
      const firstAccepted = server.nextConnection();
      const first = await connect(server.url());
      const firstServerSide = await firstAccepted;
      const second = await connect(server.url());
      const response = await rawRequest(server.port, upgradeRequest('/'));
      assert.equal(response.status, 503);
      assert.equal(response.headers['retry-after'], '5');
      await assert.rejects(connect(server.url()), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 503);
        return true;
      });
      assert.equal(server.wss.clients.size, 2);
      // Freeing one slot lets exactly one more in.
      const gone = nextEvent(firstServerSide, 'close');
      first.close(1000);
      await gone;
      const third = await connect(server.url());
      assert.equal((await rawRequest(server.port, upgradeRequest('/'))).status, 503);
      second.terminate();
      third.terminate();
    } finally {
      await server.stop();
    }
  });

  it('counts handshakes still in verify', async () => {
    const gate = deferred<boolean>();
    const inVerify = deferred<void>();
    const server = await startServer({
      maxConnections: 1,
      verify: () => {
        inVerify.resolve();
        return gate.promise;
      },
    });
    try {
      const pending = await RawClient.connect(server.port);
      await pending.write(upgradeRequest('/'));
      await within(inVerify.promise, EVENT_WAIT_MS, 'verify');
      assert.equal((await rawRequest(server.port, upgradeRequest('/'))).status, 503);
      gate.resolve(true);
      assert.equal((await pending.readResponse()).status, 101);
    } finally {
      await server.stop();
    }
  });
});

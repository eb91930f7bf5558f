// The verify hook: runs before the 101, sync or async, accepts (with data) or rejects with any
// HTTP answer.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, HandshakeError } from '../../src/client/connect.js';
import type { HandshakeInfo, HandshakeRequest } from '../../src/server/websocket-server.js';
import { deferred, EVENT_WAIT_MS, nextEvent, within } from '../helpers/events.js';
import { destroyRawClients, RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

function isHandshakeError(status: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${String(error)}`);
    assert.equal(error.statusCode, status);
    return true;
  };
}

describe('verify hook', { timeout: 10_000 }, () => {
  it('sync: true accepts, false refuses with 403, and it sees the request and handshake info', async () => {
    const seen: HandshakeInfo[] = [];
    const server = await startServer({
      protocols: ['p1'],
      verify: (req: HandshakeRequest, info) => {
        seen.push(info);
        return req.headers['x-allow'] === 'yes';
      },
    });
    try {
      const ws = await connect(server.url('/room?id=1'), { headers: { 'X-Allow': 'yes' }, protocols: ['p1'], origin: 'https://o.example' });
      ws.terminate();
      await assert.rejects(connect(server.url('/room')), isHandshakeError(403));
      assert.deepEqual(seen[0], { protocols: ['p1'], protocol: 'p1', origin: 'https://o.example', path: '/room' });
      assert.equal(seen.length, 2);
    } finally {
      await server.stop();
    }
  });

  it('gets a list of offered subprotocols of its own, even when none were offered', async () => {
    const lists: string[][] = [];
    const server = await startServer({
      verify: (_req: HandshakeRequest, info) => {
        // A request without Sec-WebSocket-Protocol shares one empty list inside the server.
        lists.push(info.protocols);
        info.protocols.push('mine');
        return true;
      },
    });
    try {
      for (let i = 0; i < 2; i++) (await connect(server.url('/'))).terminate();
      assert.deepEqual(lists, [['mine'], ['mine']]);
      assert.notEqual(lists[0], lists[1]);
    } finally {
      await server.stop();
    }
  });

  it('async: waits for the promise before answering', async () => {
    const gate = deferred<boolean>();
    const called = deferred<void>();
    const server = await startServer({
      verify: () => {
        called.resolve();
        return gate.promise;
      },
    });
    try {
      const client = await RawClient.connect(server.port);
      await client.write(upgradeRequest('/'));
      await within(called.promise, EVENT_WAIT_MS, 'verify to be called');
      assert.equal(client.received, 0, 'nothing is answered while verify is pending');
      const connected = server.nextConnection();
      gate.resolve(true);
      assert.equal((await client.readResponse()).status, 101);
      await connected;
    } finally {
      await server.stop();
    }
  });

  it('rejects with a custom status, body and headers (401 + WWW-Authenticate)', async () => {
    const server = await startServer({
      verify: async () => ({
        accept: false,
        status: 401,
        body: 'Log in first',
        headers: { 'WWW-Authenticate': 'Bearer realm="upshift"' },
      }),
    });
    try {
      const response = await rawRequest(server.port, upgradeRequest('/'));
      assert.equal(response.status, 401);
      assert.equal(response.body, 'Log in first');
      assert.equal(response.headers['www-authenticate'], 'Bearer realm="upshift"');
      await assert.rejects(connect(server.url()), (error: unknown) => {
        isHandshakeError(401)(error);
        assert.equal((error as HandshakeError).headers?.['www-authenticate'], 'Bearer realm="upshift"');
        assert.match((error as Error).message, /Log in first/);
        return true;
      });
    } finally {
      await server.stop();
    }
  });

  it('an invalid rejection (bad status) becomes a 500, not a crash', async () => {
    const server = await startServer({ verify: () => ({ accept: false, status: 42 }) });
    try {
      assert.equal((await rawRequest(server.port, upgradeRequest('/'))).status, 500);
    } finally {
      await server.stop();
    }
  });

  it('a rejection status that cannot say no (1xx, 2xx) becomes a 500', async () => {
    for (const status of [101, 204]) {
      const server = await startServer({ verify: () => ({ accept: false, status }) });
      try {
        assert.equal((await rawRequest(server.port, upgradeRequest('/'))).status, 500, String(status));
      } finally {
        await server.stop();
      }
    }
  });

  it('a result that is none of the documented shapes is refused with 500, never accepted (plain JavaScript)', async () => {
    // Before: null crashed the process (TypeError in the upgrade handler), { accept: 'yes' } and
    // a thenable that says false were accepted with a 101.
    const results: unknown[] = [null, 'yes', { accept: 'yes' }, { accept: true, headers: 'X-A: 1' }];
    let index = 0;
    const server = await startServer({ verify: (() => results[index]) as () => boolean });
    const asyncServer = await startServer({ verify: (async () => results[index]) as () => Promise<boolean> });
    try {
      for (index = 0; index < results.length; index++) {
        for (const port of [server.port, asyncServer.port]) {
          const response = await rawRequest(port, upgradeRequest('/'));
          assert.equal(response.status, 500, `${JSON.stringify(results[index])} on port ${port}`);
        }
      }
      assert.equal(server.wss.clients.size + asyncServer.wss.clients.size, 0);
    } finally {
      await server.stop();
      await asyncServer.stop();
    }
  });

  it('a thenable result is awaited like a promise', async () => {
    const thenable = (value: boolean): PromiseLike<boolean> => ({
      then: (resolve) => {
        setImmediate(() => resolve?.(value));
        return thenable(value) as PromiseLike<never>;
      },
    });
    const server = await startServer({ verify: (req) => thenable(req.url === '/yes') });
    try {
      assert.equal((await rawRequest(server.port, upgradeRequest('/no'))).status, 403);
      assert.equal((await rawRequest(server.port, upgradeRequest('/yes'))).status, 101);
    } finally {
      await server.stop();
    }
  });

  it('response headers that cannot be sent become a 500 (no header injection), accepting or refusing', async () => {
    const server = await startServer({
      verify: (req) =>
        req.url === '/accept'
          ? { accept: true, headers: { 'X-A': 'a\r\nX-Evil: 1' } }
          : { accept: false, status: 401, headers: { 'X-A': 'a\r\nX-Evil: 1' } },
    });
    try {
      for (const path of ['/accept', '/refuse']) {
        const response = await rawRequest(server.port, upgradeRequest(path));
        assert.equal(response.status, 500, path);
        assert.equal(response.headers['x-evil'], undefined);
        assert.equal(response.headers['x-a'], undefined);
      }
      assert.equal(server.wss.clients.size, 0);
    } finally {
      await server.stop();
    }
  });

  it('accepts with data (ws.data) and extra response headers', async () => {
    const server = await startServer<{ user: string }>({
      verify: async (req) => ({ accept: true, data: { user: String(req.headers['x-user']) }, headers: { 'X-Session': 'abc' } }),
    });
    try {
      const connected = server.nextConnection();
      const { client, response } = await RawClient.open(server.port, '/', { 'X-User': 'ada' });
      assert.equal(response.headers['x-session'], 'abc');
      const ws = await connected;
      assert.deepEqual(ws.data, { user: 'ada' });
      client.destroy();
    } finally {
      await server.stop();
    }
  });

  it('a verify that throws, or rejects, answers 500', async () => {
    const sync = await startServer({
      verify: () => {
        throw new Error('boom');
      },
    });
    const async = await startServer({ verify: async () => Promise.reject(new Error('boom')) });
    try {
      for (const port of [sync.port, async.port]) {
        const response = await rawRequest(port, upgradeRequest('/'));
        assert.equal(response.status, 500);
        assert.doesNotMatch(response.body, /boom/, 'internal error messages are not sent to the client');
      }
    } finally {
      await sync.stop();
      await async.stop();
    }
  });

  it('a client that disconnects during an async verify: no crash, no connection, no leaked slot', async () => {
    const gate = deferred<boolean>();
    const socketClosed = deferred<void>(); // resolved on the server socket's 'end'
    let calls = 0;
    const server = await startServer({
      maxConnections: 1,
      verify: (req) => {
        calls++;
        if (calls > 1) return true;
        // The FIN is all the server can see of the hang-up while verify runs (sockets from an
        // HTTP server allow half-open connections, so there is no 'close' yet).
        req.socket.once('end', () => socketClosed.resolve());
        return gate.promise;
      },
    });
    let connections = 0;
    server.wss.on('connection', () => connections++);
    try {
      const client = await RawClient.connect(server.port);
      await client.write(upgradeRequest('/'));
      client.destroy();
      await within(socketClosed.promise, EVENT_WAIT_MS, "the server socket's 'end'");
      gate.resolve(true);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(connections, 0, 'no connection for a peer that already hung up');
      assert.equal(server.wss.clients.size, 0);
      // The handshake slot was given back: maxConnections (1) still lets a client in.
      const ws = await connect(server.url());
      assert.equal(connections, 1);
      const closed = once(ws, 'close');
      ws.close(1000);
      await within(closed, EVENT_WAIT_MS, 'close');
    } finally {
      await server.stop();
    }
  });
});

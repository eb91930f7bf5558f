// WebSocket endpoints sharing a port with an application's HTTP server, a standalone server, and
// upgrades routed by hand (noServer + handleUpgrade).

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { connect, HandshakeError } from '../../src/client/connect.js';
import { nextEvent } from '../helpers/events.js';
import { destroyRawClients, plainRequest, RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { HOST, startHttpServer, startServer, stopServer } from '../helpers/server.js';

afterEach(destroyRawClients);

/** Opens a client, exchanges one message with an echo endpoint, closes. */
async function echoOnce(url: string, text: string): Promise<string> {
  const ws = await connect(url, { handshakeTimeout: 2000 });
  const reply = nextEvent<[Buffer, boolean]>(ws, 'message');
  ws.send(text);
  const [data] = await reply;
  const closed = nextEvent(ws, 'close');
  ws.close(1000);
  await closed;
  return data.toString();
}

function echo(ws: WebSocketConnection): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

describe('attached to an existing http.Server', { timeout: 10_000 }, () => {
  it('leaves plain requests to other paths to the application, untouched', async () => {
    const http = await startHttpServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-App': 'yes' }).end(`app saw ${req.url}`);
    });
    const wss = new WebSocketServer({ server: http.server, path: '/ws' });
    try {
      const response = await rawRequest(http.port, plainRequest('/other?q=1'));
      assert.equal(response.status, 200);
      assert.equal(response.headers['x-app'], 'yes');
      assert.equal(response.body, 'app saw /other?q=1');
    } finally {
      await stopServer(wss);
      await http.stop();
    }
  });

  it('leaves a POST with a body to another path untouched, on a kept-alive connection', async () => {
    const http = await startHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`));
    });
    const wss = new WebSocketServer({ server: http.server, path: '/ws' });
    try {
      const client = await RawClient.connect(http.port);
      const body = 'x'.repeat(3000);
      await client.write(`POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      assert.equal((await client.readResponse()).body, `POST /form ${body}`);
      await client.write(plainRequest('/second'));
      assert.equal((await client.readResponse()).body, 'GET /second ');
    } finally {
      await stopServer(wss);
      await http.stop();
    }
  });

  it('answers a plain GET to the WebSocket path with 426 and Upgrade: websocket', async () => {
    let appCalls = 0;
    const http = await startHttpServer((_req, res) => {
      appCalls++;
      res.end('app');
    });
    const wss = new WebSocketServer({ server: http.server, path: '/ws' });
    try {
      const response = await rawRequest(http.port, plainRequest('/ws?x=1'));
      assert.equal(response.status, 426);
      assert.equal(response.headers['upgrade'], 'websocket');
      assert.equal(appCalls, 0, 'the application handler must not see requests for the WebSocket path');
    } finally {
      await stopServer(wss);
      await http.stop();
    }
  });

  it('serves an upgrade to a path no endpoint claims as a plain request (RFC 9110 §7.8)', async () => {
    const http = await startHttpServer((req, res) => res.end(`app ${req.url}`));
    const wss = new WebSocketServer({ server: http.server, path: '/ws' });
    try {
      const response = await rawRequest(http.port, upgradeRequest('/nope'));
      assert.equal(response.status, 200);
      assert.equal(response.body, 'app /nope');
      await assert.rejects(connect(`ws://${HOST}:${http.port}/nope`), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 200);
        return true;
      });
    } finally {
      await stopServer(wss);
      await http.stop();
    }
  });

  it('serves two endpoints on one server, each by its path', async () => {
    const http = await startHttpServer((_req, res) => res.end('app'));
    const a = new WebSocketServer({ server: http.server, path: '/a' });
    const b = new WebSocketServer({ server: http.server, path: '/b' });
    a.on('connection', (ws) => ws.on('message', (data) => ws.send(`a:${data.toString()}`)));
    b.on('connection', (ws) => ws.on('message', (data) => ws.send(`b:${data.toString()}`)));
    try {
      assert.equal(await echoOnce(`ws://${HOST}:${http.port}/a`, 'one'), 'a:one');
      assert.equal(await echoOnce(`ws://${HOST}:${http.port}/b?token=2`, 'two'), 'b:two');
      // Plain HTTP still reaches the application.
      assert.equal((await rawRequest(http.port, plainRequest('/'))).body, 'app');
    } finally {
      await stopServer(a);
      await stopServer(b);
      await http.stop();
    }
  });

  it('refuses a second endpoint for the same path', async () => {
    const http = await startHttpServer();
    const first = new WebSocketServer({ server: http.server, path: '/ws' });
    try {
      assert.throws(() => new WebSocketServer({ server: http.server, path: '/ws' }), /already registered/);
    } finally {
      await stopServer(first);
      await http.stop();
    }
  });
});

describe('standalone server', { timeout: 10_000 }, () => {
  it('accepts WebSocket connections and answers plain requests on its path with 426', async () => {
    const server = await startServer({ path: '/ws' });
    server.wss.on('connection', echo);
    try {
      const response = await rawRequest(server.port, plainRequest('/ws'));
      assert.equal(response.status, 426);
      assert.equal(response.headers['upgrade'], 'websocket');
      assert.equal(await echoOnce(server.url('/ws'), 'hello'), 'hello');
    } finally {
      await server.stop();
    }
  });

  it('without a path, takes every path and answers plain requests with 426', async () => {
    const server = await startServer();
    server.wss.on('connection', echo);
    try {
      assert.equal((await rawRequest(server.port, plainRequest('/anything'))).status, 426);
      assert.equal(await echoOnce(server.url('/any/path'), 'x'), 'x');
    } finally {
      await server.stop();
    }
  });
});

describe('noServer with handleUpgrade', { timeout: 10_000 }, () => {
  it('runs handshakes routed by hand, and only those', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const http = await startHttpServer((_req, res) => res.end('app'));
    const viaCallback: WebSocketConnection[] = [];
    http.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/manual') {
        wss.handleUpgrade(req, socket, head, (ws) => {
          viaCallback.push(ws);
          echo(ws);
        });
      } else {
        socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
    });
    const emitted = nextEvent<[WebSocketConnection, IncomingMessage]>(wss, 'connection');
    try {
      assert.equal(await echoOnce(`ws://${HOST}:${http.port}/manual`, 'by hand'), 'by hand');
      const [ws, req] = await emitted;
      assert.equal(viaCallback.length, 1);
      assert.equal(viaCallback[0], ws, "the callback and 'connection' get the same connection");
      assert.equal(req.url, '/manual');
      assert.equal((await rawRequest(http.port, upgradeRequest('/other'))).status, 418);
      assert.equal(wss.address(), null);
    } finally {
      await stopServer(wss);
      await http.stop();
    }
  });

  it('validates the request itself: a Connection header without "upgrade" gets 400', async () => {
    // Node only emits 'upgrade' when Connection names upgrade, so route a plain request by hand
    // to reach the library's own check (RFC 6455 §4.2.1 item 4).
    const wss = new WebSocketServer({ noServer: true });
    const http = await startHttpServer((req, res) => {
      if (req.headers.upgrade !== undefined) wss.handleUpgrade(req, req.socket, Buffer.alloc(0));
      else res.end('app');
    });
    try {
      const response = await rawRequest(http.port, upgradeRequest('/', { Connection: 'keep-alive' }));
      assert.equal(response.status, 400);
      assert.match(response.body, /Connection/);
    } finally {
      await stopServer(wss);
      await http.stop();
    }
  });
});

// The upgrade router over real sockets: handlers by token and path, the client's order of
// preference, RFC 9110 §7.8 (Connection: upgrade, 101 naming the protocol, refusal answered
// normally), 426 for upgrade-only paths, and the same tokens as HTTP/2 :protocol values.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { connect as http2Connect, createServer as createHttp2Server, type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { switchingProtocols, upgradeRouterFor, type UpgradeHandler, type UpgradeOffer } from '../../src/upgrade/router.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { destroyRawClients, RawClient, rawRequest } from '../helpers/raw-client.js';
import { HOST, startHttpServer, stopServer } from '../helpers/server.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';
import { connect as tlsConnect } from 'node:tls';
import { makeTestCertificate, openSession, startH2Server } from '../http2/support/h2.js';
import { requirePeers } from '../peers/support/requirements.js';

afterEach(destroyRawClients);

/** A toy protocol: after the 101 it echoes every byte, prefixed with its name. */
function echoProtocol(name: string, seen: string[] = []): UpgradeHandler & { seen: string[] } {
  return {
    seen,
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      seen.push(`${name} ${req.url}`);
      socket.write(switchingProtocols(name));
      if (head.length > 0) socket.write(`${name}:${head.toString()}`);
      socket.on('data', (chunk: Buffer) => socket.write(`${name}:${chunk.toString()}`));
      socket.on('end', () => socket.end());
    },
    handleStream(stream: ServerHttp2Stream): void {
      seen.push(`${name} (HTTP/2)`);
      stream.respond({ ':status': 200 });
      stream.on('data', (chunk: Buffer) => stream.write(`${name}:${chunk.toString()}`));
      stream.on('end', () => stream.end());
    },
  };
}

function request(path: string, headers: Record<string, string>, body = ''): string {
  let out = `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n`;
  for (const [name, value] of Object.entries(headers)) out += `${name}: ${value}\r\n`;
  return out + '\r\n' + body;
}

/** Sends an upgrade request and reads the 101; returns the client for the new protocol. */
async function upgrade(port: number, path: string, offers: string): Promise<{ client: RawClient; upgradeHeader: string | undefined; status: number }> {
  const client = await RawClient.connect(port);
  await client.write(request(path, { Connection: 'Upgrade', Upgrade: offers }));
  const response = await client.readResponse();
  return { client, upgradeHeader: response.headers['upgrade'], status: response.status };
}

async function readText(client: RawClient, length: number): Promise<string> {
  const bytes = await client.waitFor(() => (client.buffer.length >= length ? client.buffer : undefined), 2000, `${length} bytes`);
  client.buffer = Buffer.alloc(0);
  return bytes.toString();
}

describe('upgrade router over HTTP/1.1', { timeout: 15_000 }, () => {
  it('picks the first offered token that has a handler, in the client order, and the 101 names it', async () => {
    const http = await startHttpServer((_req, res) => res.end('app'));
    const router = upgradeRouterFor(http.server);
    const alpha = echoProtocol('alpha');
    const beta = echoProtocol('beta');
    router.register('alpha', alpha);
    router.register('Beta', beta);
    try {
      const first = await upgrade(http.port, '/x', 'beta, alpha');
      assert.equal(first.status, 101);
      assert.equal(first.upgradeHeader, 'beta');
      await first.client.write('ping');
      assert.equal(await readText(first.client, 'beta:ping'.length), 'beta:ping');

      const second = await upgrade(http.port, '/x', 'gamma/1, ALPHA, beta');
      assert.equal(second.upgradeHeader, 'alpha', 'unknown tokens are skipped; names compare case-insensitively');
      await second.client.write('pong');
      assert.equal(await readText(second.client, 'alpha:pong'.length), 'alpha:pong');
      assert.deepEqual([...alpha.seen, ...beta.seen].sort(), ['alpha /x', 'beta /x']);
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('gives `Upgrade: websocket` as sent its one offer, a new object per request, as for any other value', async () => {
    const http = await startHttpServer((req, res) => res.end(`app ${req.headers.upgrade}`));
    const offers: UpgradeOffer[] = [];
    const objects = new Set<UpgradeOffer>();
    const handler = echoProtocol('websocket');
    handler.accepts = (_req, offer) => {
      offers.push({ ...offer });
      objects.add(offer);
      // The offer is the handler's: changing it changes nothing for the next request.
      (offer as { name: string }).name = 'changed';
      return offer.raw !== 'websocket' || offers.length === 1;
    };
    upgradeRouterFor(http.server).register('websocket', handler);
    try {
      assert.equal((await upgrade(http.port, '/', 'websocket')).status, 101);
      assert.equal((await upgrade(http.port, '/', 'WebSocket')).status, 101);
      assert.equal((await upgrade(http.port, '/', 'WebSocket/13')).status, 101);
      // Declined by accepts(): served as a request without Upgrade (RFC 9110 §7.8).
      const declined = await upgrade(http.port, '/', 'websocket');
      assert.equal(declined.status, 200);
      assert.deepEqual(offers, [
        { name: 'websocket', version: '', raw: 'websocket' },
        { name: 'websocket', version: '', raw: 'WebSocket' },
        { name: 'websocket', version: '13', raw: 'WebSocket/13' },
        { name: 'websocket', version: '', raw: 'websocket' },
      ]);
      assert.equal(objects.size, 4);
      assert.deepEqual(handler.seen, ['websocket /', 'websocket /', 'websocket /']);
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('passes bytes that came with the request head to the handler', async () => {
    const http = await startHttpServer((_req, res) => res.end('app'));
    upgradeRouterFor(http.server).register('alpha', echoProtocol('alpha'));
    try {
      const client = await RawClient.connect(http.port);
      await client.write(request('/', { Connection: 'Upgrade', Upgrade: 'alpha' }, 'early'));
      assert.equal((await client.readResponse()).status, 101);
      assert.equal(await readText(client, 'alpha:early'.length), 'alpha:early');
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('answers an unknown protocol normally: the application sees the request, and the connection stays usable', async () => {
    const seen: string[] = [];
    const http = await startHttpServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} upgrade=${req.headers.upgrade} connection=${req.headers.connection} body=${body}`);
        res.end(`app ${req.url}`);
      });
    });
    upgradeRouterFor(http.server).register('alpha', echoProtocol('alpha'));
    try {
      const client = await RawClient.connect(http.port);
      await client.write(request('/one', { Connection: 'keep-alive, Upgrade', Upgrade: 'unknown/1' }));
      const first = await client.readResponse();
      assert.equal(first.status, 200);
      assert.equal(first.body, 'app /one');
      // Same socket, next request: HTTP/1.1 goes on.
      await client.write('POST /two HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: nope\r\nContent-Length: 5\r\n\r\nhello');
      const second = await client.readResponse();
      assert.equal(second.body, 'app /two');
      assert.deepEqual(seen, [
        'GET /one upgrade=unknown/1 connection=keep-alive body=',
        'POST /two upgrade=nope connection=undefined body=hello',
      ]);
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('a handler that declines lets the next offer win, or the request be answered normally', async () => {
    const http = await startHttpServer((req, res) => res.end(`app ${req.url}`));
    const router = upgradeRouterFor(http.server);
    const picky: UpgradeHandler = { ...echoProtocol('picky'), accepts: (req) => req.headers['x-allow'] === 'yes' };
    router.register('picky', picky);
    router.register('plain', echoProtocol('plain'));
    try {
      const declined = await upgrade(http.port, '/a', 'picky, plain');
      assert.equal(declined.upgradeHeader, 'plain');
      const client = await RawClient.connect(http.port);
      await client.write(request('/b', { Connection: 'Upgrade', Upgrade: 'picky' }));
      const normal = await client.readResponse();
      assert.equal(normal.status, 200);
      assert.equal(normal.body, 'app /b');
      const accepted = await RawClient.connect(http.port);
      await accepted.write(request('/c', { Connection: 'Upgrade', Upgrade: 'picky', 'X-Allow': 'yes' }));
      assert.equal((await accepted.readResponse()).headers['upgrade'], 'picky');
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('ignores Upgrade without the upgrade connection option (RFC 9110 §7.6.1)', async () => {
    const http = await startHttpServer((req, res) => res.end(`app ${req.headers.upgrade}`));
    const alpha = echoProtocol('alpha');
    upgradeRouterFor(http.server).register('alpha', alpha);
    try {
      const response = await rawRequest(http.port, request('/', { Connection: 'close', Upgrade: 'alpha' }));
      assert.equal(response.status, 200);
      assert.equal(response.body, 'app alpha');
      assert.deepEqual(alpha.seen, []);
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('routes by path: at another path the upgrade is ignored (RFC 9110 §7.8); unregister frees the place', async () => {
    const http = await startHttpServer((req, res) => res.end(`app ${req.url} upgrade=${req.headers.upgrade}`));
    const router = upgradeRouterFor(http.server);
    const handler = echoProtocol('alpha');
    router.register('alpha', handler, { path: '/here' });
    try {
      assert.equal((await upgrade(http.port, '/here?q=1', 'alpha')).status, 101);
      // Served as if no Upgrade had been sent, on a connection that stays usable.
      const client = await RawClient.connect(http.port);
      await client.write(request('/there', { Connection: 'Upgrade', Upgrade: 'alpha' }));
      const elsewhere = await client.readResponse();
      assert.equal(elsewhere.status, 200);
      assert.equal(elsewhere.body, 'app /there upgrade=alpha');
      await client.write(request('/again', {}));
      assert.equal((await client.readResponse()).body, 'app /again upgrade=undefined');
      assert.throws(() => router.register('alpha', echoProtocol('again'), { path: '/here' }), /already registered/);
      assert.throws(() => router.register('bad token', handler), TypeError);
      router.unregister('alpha', handler);
      const replacement = echoProtocol('alpha');
      router.register('alpha', replacement, { path: '/here' });
      assert.equal((await upgrade(http.port, '/here', 'alpha')).upgradeHeader, 'alpha');
      assert.deepEqual(replacement.seen, ['alpha /here']);
      assert.deepEqual(handler.seen, ['alpha /here?q=1']);
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('answers plain requests to a required path with 426 naming its protocols in order', async () => {
    let appCalls = 0;
    const http = await startHttpServer((_req, res) => {
      appCalls++;
      res.end('app');
    });
    const router = upgradeRouterFor(http.server);
    router.register('alpha', echoProtocol('alpha'), { path: '/only', required: true });
    router.register('beta', echoProtocol('beta'), { path: '/only', required: true });
    try {
      const response = await rawRequest(http.port, `GET /only HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(response.status, 426);
      assert.equal(response.headers['upgrade'], 'alpha, beta');
      assert.match(response.headers['connection'] ?? '', /upgrade/i);
      // An upgrade to a protocol the path does not speak is answered normally, which here is 426.
      const other = await rawRequest(http.port, request('/only', { Connection: 'Upgrade', Upgrade: 'h2c' }));
      assert.equal(other.status, 426);
      assert.equal((await rawRequest(http.port, `GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).body, 'app');
      assert.equal(appCalls, 1);
    } finally {
      destroyRawClients();
      await http.stop();
    }
  });

  it('shares a path between a WebSocketServer and another protocol, choosing in the client order', async () => {
    const http = await startHttpServer((_req, res) => res.end('app'));
    const wss = new WebSocketServer({ server: http.server, path: '/ws' });
    upgradeRouterFor(http.server).register('alpha', echoProtocol('alpha'), { path: '/ws' });
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const wsHeaders = { Connection: 'Upgrade', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' };
    try {
      const client = await RawClient.connect(http.port);
      await client.write(request('/ws', { ...wsHeaders, Upgrade: 'alpha, websocket' }));
      assert.equal((await client.readResponse()).headers['upgrade'], 'alpha');
      const ws = await RawClient.connect(http.port);
      await ws.write(request('/ws', { ...wsHeaders, Upgrade: 'websocket, alpha' }));
      const response = await ws.readResponse();
      assert.equal(response.status, 101);
      assert.equal(response.headers['upgrade'], 'websocket');
      assert.equal(response.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    } finally {
      destroyRawClients();
      await stopServer(wss);
      await http.stop();
    }
  });
});

describe('upgrade router over HTTP/2 (extended CONNECT, RFC 8441 §4)', { timeout: 15_000 }, () => {
  async function h2Server(): Promise<{ server: ReturnType<typeof createHttp2Server>; port: number; appStreams: string[]; stop(): Promise<void> }> {
    const appStreams: string[] = [];
    const server = createHttp2Server();
    server.on('stream', (stream, headers) => {
      appStreams.push(`${headers[':method']} ${headers[':protocol'] ?? '-'} ${headers[':path']}`);
      stream.respond({ ':status': 418 });
      stream.end();
    });
    server.listen(0, HOST);
    await within(once(server, 'listening'), EVENT_WAIT_MS, 'listening');
    const port = (server.address() as AddressInfo).port;
    return {
      server,
      port,
      appStreams,
      stop: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
        }),
    };
  }

  async function session(port: number): Promise<ClientHttp2Session> {
    const client = http2Connect(`http://${HOST}:${port}`);
    await within(once(client, 'remoteSettings'), EVENT_WAIT_MS, 'SETTINGS');
    return client;
  }

  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and routes :protocol like an Upgrade token', async () => {
    const h2 = await h2Server();
    const alpha = echoProtocol('alpha');
    upgradeRouterFor(h2.server).register('alpha', alpha, { path: '/tunnel' });
    const client = await session(h2.port);
    try {
      assert.equal(client.remoteSettings.enableConnectProtocol, true);
      const stream = client.request({ ':method': 'CONNECT', ':protocol': 'Alpha', ':path': '/tunnel?x', ':scheme': 'http', ':authority': 'x' }, { endStream: false });
      const [headers] = (await within(once(stream, 'response'), EVENT_WAIT_MS, 'response')) as [Record<string, unknown>];
      assert.equal(headers[':status'], 200);
      stream.write('hi');
      const [data] = (await within(once(stream, 'data'), EVENT_WAIT_MS, 'data')) as [Buffer];
      assert.equal(data.toString(), 'alpha:hi');
      assert.deepEqual(alpha.seen, ['alpha (HTTP/2)']);

      // A registered protocol at an unknown path: 404; a protocol nobody registered: the app's.
      const elsewhere = client.request({ ':method': 'CONNECT', ':protocol': 'alpha', ':path': '/else', ':scheme': 'http', ':authority': 'x' }, { endStream: false });
      const [refusal] = (await within(once(elsewhere, 'response'), EVENT_WAIT_MS, 'response')) as [Record<string, unknown>];
      assert.equal(refusal[':status'], 404);
      const unknown = client.request({ ':method': 'CONNECT', ':protocol': 'other', ':path': '/x', ':scheme': 'http', ':authority': 'x' }, { endStream: false });
      const [appAnswer] = (await within(once(unknown, 'response'), EVENT_WAIT_MS, 'response')) as [Record<string, unknown>];
      assert.equal(appAnswer[':status'], 418);
      assert.deepEqual(h2.appStreams, ['CONNECT other /x']);
      stream.close();
    } finally {
      client.destroy();
      await h2.stop();
    }
  });

  it('answers 501 for a protocol whose handler only speaks HTTP/1.1', async () => {
    const h2 = await h2Server();
    upgradeRouterFor(h2.server).register('legacy', { handleUpgrade: (_req, socket) => socket.destroy() });
    // A WebSocket endpoint makes the server advertise extended CONNECT.
    const wss = new WebSocketServer({ server: h2.server, path: '/ws' });
    const client = await session(h2.port);
    try {
      const stream = client.request({ ':method': 'CONNECT', ':protocol': 'legacy', ':path': '/', ':scheme': 'http', ':authority': 'x' }, { endStream: false });
      const [headers] = (await within(once(stream, 'response'), EVENT_WAIT_MS, 'response')) as [Record<string, unknown>];
      assert.equal(headers[':status'], 501);
    } finally {
      client.destroy();
      await stopServer(wss);
      await h2.stop();
    }
  });
});

const certificate = makeTestCertificate();
const openssl = requirePeers('openssl');

describe('upgrade router on an HTTP/2 secure server that allows HTTP/1.1', { timeout: 15_000 }, () => {
  /** One HTTP/1.1 request over TLS (ALPN http/1.1); resolves with status line and body. */
  function tlsRequest(port: number, head: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ port, host: HOST, ca: (certificate as { cert: Buffer }).cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
        socket.write(head);
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => {
        const [statusLine, ...rest] = text.split('\r\n');
        resolve({ status: Number(statusLine!.split(' ')[1]), body: rest.join('\r\n').split('\r\n\r\n').slice(1).join('\r\n\r\n') });
      });
      socket.on('error', reject);
      setTimeout(() => {
        socket.destroy();
        reject(new Error('Timed out waiting for the TLS response'));
      }, 2000).unref();
    });
  }

  openssl.it('answers declined upgrades normally and plain requests to WebSocket paths with 426 over TLS HTTP/1.1', async () => {
    const h2 = await startH2Server(certificate as { key: Buffer; cert: Buffer });
    h2.server.on('request', (req: { httpVersion: string; url?: string }, res: { end(body: string): void }) => res.end(`app ${req.httpVersion} ${req.url}`));
    const wss = new WebSocketServer({ server: h2.server, path: '/ws' });
    try {
      const declined = await tlsRequest(h2.port, 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: foo\r\n\r\n');
      assert.equal(declined.status, 200);
      assert.match(declined.body, /app 1\.1 \/page/);
      const plain = await tlsRequest(h2.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(plain.status, 426);
      // Over HTTP/2 there is no Upgrade (RFC 9113 §8.6): a GET to the path is the application's.
      const session = await openSession(h2.port, { secure: true, ca: (certificate as { cert: Buffer }).cert });
      const request = session.request({ ':path': '/ws' });
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      await within(once(request, 'end'), EVENT_WAIT_MS, 'the HTTP/2 response');
      assert.equal(body, 'app 2.0 /ws');
      session.destroy();
    } finally {
      await stopServer(wss);
      await h2.stop();
    }
  });
});

// The Node client's connect(): redirects (their credential policy is in redirects.test.ts),
// handshake timeout, extra headers, abort, wss://, refusals.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect, HandshakeError } from '../../src/client/connect.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { EVENT_WAIT_MS, nextEvent, TIMER_SLACK_MS, within } from '../helpers/events.js';
import { encodeFrame, OP } from '../helpers/frames.js';
import { destroyRawClients } from '../helpers/raw-client.js';
import { startRawServer, switchingProtocols, type RawRequest } from '../helpers/raw-server.js';
import { HOST, startHttpServer, startServer } from '../helpers/server.js';
import { makeTestCertificate, startH2cServer } from '../http2/support/h2.js';
import { constants, type ServerHttp2Stream } from 'node:http2';
import { requirePeers } from '../peers/support/requirements.js';

afterEach(destroyRawClients);

/** An HTTP server that answers upgrades to /hop/N with a redirect to /hop/N-1, /hop/0 to /ws. */
async function redirectingServer(target: (hop: number) => string): Promise<{ port: number; requests: IncomingMessage[]; stop(): Promise<void> }> {
  const http = await startHttpServer();
  const requests: IncomingMessage[] = [];
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  http.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    requests.push(req);
    const match = /^\/hop\/(\d+)$/.exec(req.url ?? '');
    if (match === null) return wss.handleUpgrade(req, socket, head);
    const location = target(Number(match[1]));
    socket.end(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  });
  return {
    port: http.port,
    requests,
    stop: async () => {
      await wss.close({ timeout: 200 });
      await http.stop();
    },
  };
}

describe('connect(): redirects', { timeout: 10_000 }, () => {
  it('does not follow redirects by default: HandshakeError with statusCode 302', async () => {
    const server = await redirectingServer(() => '/ws');
    try {
      await assert.rejects(connect(`ws://${HOST}:${server.port}/hop/0`), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 302);
        assert.equal(error.headers?.location, '/ws');
        return true;
      });
      assert.equal(server.requests.length, 1);
    } finally {
      await server.stop();
    }
  });

  it('followRedirects follows relative and absolute locations up to the limit', async () => {
    let port = 0;
    const server = await redirectingServer((hop) => (hop === 0 ? '/ws' : hop % 2 === 0 ? `/hop/${hop - 1}` : `http://${HOST}:${port}/hop/${hop - 1}`));
    port = server.port;
    try {
      const ws = await connect(`ws://${HOST}:${server.port}/hop/2`, { followRedirects: true });
      const echoed = nextEvent<[Buffer]>(ws, 'message');
      ws.send('after redirects');
      assert.equal((await echoed)[0].toString(), 'after redirects');
      assert.deepEqual(
        server.requests.map((req) => req.url),
        ['/hop/2', '/hop/1', '/hop/0', '/ws'],
      );
      ws.terminate();
      const limited = await connect(`ws://${HOST}:${server.port}/hop/2`, { followRedirects: 3 });
      limited.terminate();
    } finally {
      await server.stop();
    }
  });

  it('too many redirects fail with the last redirect status', async () => {
    const server = await redirectingServer((hop) => (hop === 0 ? '/ws' : `/hop/${hop - 1}`));
    try {
      await assert.rejects(connect(`ws://${HOST}:${server.port}/hop/2`, { followRedirects: 2 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 302);
        return true;
      });
      assert.equal(server.requests.length, 3, 'two redirects followed, the third refused');
      // A redirect loop ends at the default limit (10).
      const loop = await redirectingServer(() => '/hop/1');
      try {
        await assert.rejects(connect(`ws://${HOST}:${loop.port}/hop/1`, { followRedirects: true }), HandshakeError);
        assert.equal(loop.requests.length, 11);
      } finally {
        await loop.stop();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('connect(): handshake', { timeout: 10_000 }, () => {
  it('times out against a server that never answers', async () => {
    let serverSocket: Socket | null = null;
    const raw = await startRawServer((_request, socket) => {
      serverSocket = socket;
    });
    try {
      const started = Date.now();
      await assert.rejects(connect(`ws://${HOST}:${raw.port}/`, { handshakeTimeout: 300 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.match(error.message, /timed out after 300 ms/);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 290 && elapsed < 300 + TIMER_SLACK_MS, `failed after ${elapsed} ms`);
      assert.ok(serverSocket !== null);
      // The client hung up.
      if (!(serverSocket as Socket).destroyed) await within(once(serverSocket as Socket, 'close'), EVENT_WAIT_MS, 'the client to hang up');
    } finally {
      await raw.stop();
    }
  });

  it('can be aborted with an AbortSignal', async () => {
    const raw = await startRawServer(() => {});
    try {
      const controller = new AbortController();
      const pending = connect(`ws://${HOST}:${raw.port}/`, { signal: controller.signal });
      controller.abort();
      await assert.rejects(pending, /aborted/);
      await assert.rejects(connect(`ws://${HOST}:${raw.port}/`, { signal: AbortSignal.abort() }), /aborted/);
    } finally {
      await raw.stop();
    }
  });

  it('sends extra headers and the origin to the server', async () => {
    const server = await startServer();
    try {
      const accepted = nextEvent<[unknown, IncomingMessage]>(server.wss, 'connection');
      const ws = await connect(server.url('/path?q=1'), {
        headers: { 'X-Api-Key': 'k123', Cookie: 'a=b', 'X-Multi': ['1', '2'] },
        origin: 'https://app.example',
      });
      const [, req] = await accepted;
      assert.equal(req.headers['x-api-key'], 'k123');
      assert.equal(req.headers.cookie, 'a=b');
      assert.equal(req.headers['x-multi'], '1, 2');
      assert.equal(req.headers.origin, 'https://app.example');
      assert.equal(req.url, '/path?q=1');
      ws.terminate();
    } finally {
      await server.stop();
    }
  });

  it('rejects a 101 with a wrong Sec-WebSocket-Accept', async () => {
    const raw = await startRawServer((request: RawRequest, socket) => {
      socket.write(switchingProtocols({ ...request, headers: { ...request.headers, 'sec-websocket-key': 'AAAAAAAAAAAAAAAAAAAAAA==' } }));
    });
    try {
      await assert.rejects(connect(`ws://${HOST}:${raw.port}/`), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.match(error.message, /Sec-WebSocket-Accept/);
        return true;
      });
    } finally {
      await raw.stop();
    }
  });

  it('rejects a 101 in HTTP/1.0 (RFC 6455 §4.1: HTTP/1.1 or later)', async () => {
    const raw = await startRawServer((request: RawRequest, socket) => {
      socket.write(switchingProtocols(request).replace(/^HTTP\/1\.1 /, 'HTTP/1.0 '));
    });
    try {
      await assert.rejects(connect(`ws://${HOST}:${raw.port}/`), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 101);
        assert.match(error.message, /HTTP\/1\.0; a WebSocket handshake needs HTTP\/1\.1 or later/);
        return true;
      });
      // The client hung up.
      const [socket] = raw.sockets;
      if (socket !== undefined && !socket.destroyed) await within(once(socket, 'close'), EVENT_WAIT_MS, 'the client to hang up');
    } finally {
      await raw.stop();
    }
  });

  it('delivers frames that arrive in the same packet as the 101', async () => {
    const raw = await startRawServer((request, socket) => {
      socket.write(Buffer.concat([Buffer.from(switchingProtocols(request)), encodeFrame(OP.TEXT, 'right away', { mask: false })]));
    });
    try {
      const ws = await connect(`ws://${HOST}:${raw.port}/`);
      const [data, isBinary] = await nextEvent<[Buffer, boolean]>(ws, 'message');
      assert.equal(data.toString(), 'right away');
      assert.equal(isBinary, false);
      ws.terminate();
    } finally {
      await raw.stop();
    }
  });
});

const made = makeTestCertificate();
const certificate = 'skip' in made ? null : made;
const openssl = requirePeers('openssl');

describe('connect(): wss://', { timeout: 10_000 }, () => {
  openssl.it('connects over TLS to a self-signed server with tls.ca, and refuses it without', async () => {
    const { key, cert } = certificate!;
    const https = createHttpsServer({ key, cert });
    https.listen(0, HOST);
    await within(once(https, 'listening'), EVENT_WAIT_MS, 'https listening');
    const port = (https.address() as AddressInfo).port;
    const wss = new WebSocketServer({ server: https, path: '/secure' });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`tls:${data.toString()}`)));
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const ws = await connect(`wss://${HOST}:${port}/secure`, { tls: { ca: cert } });
      const reply = nextEvent<[Buffer]>(ws, 'message');
      ws.send('hi');
      assert.equal((await reply)[0].toString(), 'tls:hi');
      const closed = nextEvent(ws, 'close');
      ws.close(1000);
      await closed;

      const insecure = await connect(`wss://localhost:${port}/secure`, { tls: { rejectUnauthorized: false } });
      insecure.terminate();

      await assert.rejects(connect(`wss://${HOST}:${port}/secure`, { handshakeTimeout: 3000 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.match(error.message, /self.signed/i);
        assert.match(String((error.cause as NodeJS.ErrnoException).code), /SELF_SIGNED|DEPTH_ZERO/);
        return true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        warnings.map((warning) => warning.message),
        [],
        'no warnings (e.g. DEP0123: an IP address as TLS server name)',
      );
    } finally {
      process.off('warning', onWarning);
      await wss.close({ timeout: 200 });
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    }
  });
});

describe('connect(): refusals and failures, over both transports', { timeout: 10_000 }, () => {
  it('puts the first KiB of a refusal body in the error, without waiting for the rest (HTTP/1.1)', async () => {
    const raw = await startRawServer((_request, socket) => {
      // A body that never ends: the client must not wait for it.
      socket.write(`HTTP/1.1 403 Forbidden\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(64 * 1024)}`);
    });
    try {
      await assert.rejects(connect(`ws://${HOST}:${raw.port}/`, { handshakeTimeout: 5000 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 403);
        assert.match(error.message, /^Unexpected server response: 403 \(x{1024}\)$/);
        return true;
      });
    } finally {
      await raw.stop();
    }
  });

  it('puts the first KiB of a refusal body in the error, without waiting for the rest (HTTP/2)', async () => {
    const h2 = await startH2cServer({ settings: { enableConnectProtocol: true } });
    const streams: ServerHttp2Stream[] = [];
    h2.server.on('stream', (stream: ServerHttp2Stream) => {
      streams.push(stream);
      stream.on('error', () => {});
      stream.respond({ ':status': 503, 'content-type': 'text/plain' });
      stream.write('y'.repeat(64 * 1024));
    });
    try {
      await assert.rejects(connect(`ws://${HOST}:${h2.port}/`, { http2: true, handshakeTimeout: 5000 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 503);
        assert.match(error.message, /^Unexpected server response: 503 \(y{1024}\)$/);
        return true;
      });
      // The client reset the stream it no longer reads.
      const [stream] = streams;
      if (!stream!.closed) await within(once(stream!, 'close'), EVENT_WAIT_MS, 'the stream to close');
      assert.equal(stream!.rstCode, constants.NGHTTP2_CANCEL);
    } finally {
      await h2.stop();
    }
  });

  it('TLS options that Node refuses fail the handshake with Node\'s error as the cause', async () => {
    for (const http2 of [false, true]) {
      await assert.rejects(connect(`wss://${HOST}:1/`, { http2, tls: { minVersion: 'TLSv9' as 'TLSv1.3' } }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError, String(error));
        assert.match(error.message, /^Could not open a WebSocket to wss:\/\/127\.0\.0\.1:1\/: .*TLSv9/);
        assert.equal((error.cause as NodeJS.ErrnoException).code, 'ERR_TLS_INVALID_PROTOCOL_VERSION');
        return true;
      });
    }
  });

  it('a refused connection is a HandshakeError with the socket error as the cause, over both transports', async () => {
    const raw = await startRawServer(() => {});
    const port = raw.port;
    await raw.stop();
    for (const http2 of [false, true]) {
      await assert.rejects(connect(`ws://${HOST}:${port}/`, { http2 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError, String(error));
        assert.match(error.message, /ECONNREFUSED/);
        assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
        return true;
      });
    }
  });
});

// RFC 8441 against a real browser: Debian's headless Chromium (driven through playwright-core)
// loads a page over HTTPS/HTTP/2 from our server, then opens wss:// WebSockets to the same
// origin. Chromium runs them as extended CONNECT streams on the HTTP/2 connection it already has
// (it saw SETTINGS_ENABLE_CONNECT_PROTOCOL); the server side proves it: every WebSocket arrives
// as a CONNECT on HTTP/2, on the very session that served the page. The same server object then
// takes a Chromium without HTTP/2 over the HTTP/1.1 upgrade. The certificate is made at test time.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Http2Session, Http2ServerRequest, ServerHttp2Stream } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { perMessageDeflate, WebSocketServer, type WebSocketConnection } from '../../src/index.js';
import { makeTestCertificate, startH2Server, type StartedH2 } from '../http2/support/h2.js';
import { CHROMIUM_ARGS, withTimeout } from './support/peers.js';
import { requirePeers } from './support/requirements.js';
import type { Http2SecureServer } from 'node:http2';

const peers = requirePeers('chromium', 'openssl');
const { it, before, after } = peers;
const CHROMIUM = peers.path('chromium');

const CHROMIUM_FLAGS = [...CHROMIUM_ARGS, '--ignore-certificate-errors'];

const PAGE = '<!doctype html><meta charset="utf-8"><title>upshift h2</title><p>RFC 8441 test page</p>';

interface Arrival {
  httpVersion: string;
  method: string | undefined;
  session: Http2Session | null;
  ws: WebSocketConnection;
}

function launch(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, ...extraArgs], timeout: 30_000 });
}

describe('WebSockets over HTTP/2 with headless Chromium', { timeout: 120_000 }, () => {
  let h2: StartedH2<Http2SecureServer>;
  let wss: WebSocketServer;
  let base: string;
  const arrivals: Arrival[] = [];
  const pageSessions: (Http2Session | null)[] = [];

  before(async () => {
    const tls = makeTestCertificate();
    if ('skip' in tls) assert.fail(tls.skip);
    h2 = await startH2Server(tls);
    h2.server.on('request', (req: IncomingMessage | Http2ServerRequest, res) => {
      pageSessions.push('stream' in req ? req.stream.session ?? null : null);
      res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.url === '/' ? PAGE : 'not found');
    });
    wss = new WebSocketServer({ server: h2.server, path: '/ws', protocols: ['chat'], extensions: [perMessageDeflate()] });
    wss.on('connection', (ws, req) => {
      const stream = ws.rawTransport as Partial<ServerHttp2Stream>;
      arrivals.push({ httpVersion: req.httpVersion, method: req.method, session: stream.session ?? null, ws });
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    base = `https://127.0.0.1:${h2.port}`;
  });

  after(async () => {
    await wss?.close({ timeout: 500 });
    await h2?.stop();
  });

  it('opens wss:// WebSockets as extended CONNECT streams on the page’s HTTP/2 connection', async () => {
    const browser = await launch();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(15_000);
      const response = await page.goto(`${base}/`);
      assert.equal(response?.status(), 200);
      const payloadHash = createHash('sha256');
      const binary = Buffer.alloc(70_000);
      for (let i = 0; i < binary.length; i++) binary[i] = (i * 31) & 0xff;
      payloadHash.update(binary);

      const result = await withTimeout(
        page.evaluate(async (url: string) => {
          const open = (): Promise<WebSocket> =>
            new Promise((resolve, reject) => {
              const ws = new WebSocket(url, ['chat']);
              ws.binaryType = 'arraybuffer';
              ws.onopen = () => resolve(ws);
              ws.onerror = () => reject(new Error('WebSocket error'));
            });
          const reply = (ws: WebSocket, data: string | ArrayBuffer): Promise<string | ArrayBuffer> =>
            new Promise((resolve) => {
              ws.addEventListener('message', (event) => resolve(event.data as string | ArrayBuffer), { once: true });
              ws.send(data);
            });
          const sockets = [await open(), await open(), await open()];
          const echoes = await Promise.all(sockets.map((ws, i) => reply(ws, `hello ${i}`)));
          // 70,000 bytes: more than one HTTP/2 stream window (65,535), so flow control must turn.
          const big = new Uint8Array(70_000);
          for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
          const bigEcho = (await reply(sockets[1]!, big.buffer)) as ArrayBuffer;
          // Compressible text: permessage-deflate (RFC 7692) runs over the stream as over TCP.
          const text = 'compress me over HTTP/2 '.repeat(4000);
          const textEcho = await reply(sockets[2]!, text);
          const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bigEcho)), (b) => b.toString(16).padStart(2, '0')).join('');
          // Close one: the others must go on.
          const closed = new Promise<{ code: number; wasClean: boolean }>((resolve) => {
            sockets[0]!.onclose = (event) => resolve({ code: event.code, wasClean: event.wasClean });
          });
          sockets[0]!.close(4000, 'bye');
          const closeEvent = await closed;
          const after = await reply(sockets[2]!, 'after close');
          return {
            protocols: sockets.map((ws) => ws.protocol),
            extensions: sockets.map((ws) => ws.extensions),
            textOk: textEcho === text,
            echoes,
            bigLength: bigEcho.byteLength,
            digest,
            closeEvent,
            after,
          };
        }, `wss://127.0.0.1:${h2.port}/ws`),
        30_000,
        'the page script',
      );

      assert.deepEqual(result.protocols, ['chat', 'chat', 'chat']);
      for (const extensions of result.extensions) assert.match(extensions, /^permessage-deflate/);
      assert.equal(result.textOk, true);
      for (const arrival of arrivals) assert.match(arrival.ws.extensions, /^permessage-deflate/);
      assert.deepEqual(result.echoes, ['hello 0', 'hello 1', 'hello 2']);
      assert.equal(result.bigLength, 70_000);
      assert.equal(result.digest, payloadHash.digest('hex'));
      assert.deepEqual(result.closeEvent, { code: 4000, wasClean: true });
      assert.equal(result.after, 'after close');

      // The server-side proof that these were RFC 8441 streams, not HTTP/1.1 upgrades.
      assert.equal(arrivals.length, 3);
      for (const arrival of arrivals) {
        assert.equal(arrival.httpVersion, '2.0');
        assert.equal(arrival.method, 'CONNECT');
        assert.notEqual(arrival.session, null);
      }
      const pageSession = pageSessions[0];
      assert.ok(pageSession, 'the page came over HTTP/2');
      for (const arrival of arrivals) assert.equal(arrival.session, pageSession, 'same HTTP/2 connection as the page');
      assert.equal(arrivals[0]!.ws.closeCode, 4000);
      assert.equal(arrivals[0]!.ws.closeReason, 'bye');

      // A server-initiated close reaches the browser with its code.
      const serverClose = page.evaluate(
        (url: string) =>
          new Promise<number>((resolve, reject) => {
            const ws = new WebSocket(url, ['chat']);
            ws.onclose = (event) => resolve(event.code);
            ws.onerror = () => reject(new Error('WebSocket error'));
          }),
        `wss://127.0.0.1:${h2.port}/ws`,
      );
      const fourth = await withTimeout(
        new Promise<WebSocketConnection>((resolve) => wss.once('connection', (ws) => resolve(ws))),
        15_000,
        'the fourth WebSocket',
      );
      fourth.close(1001, 'going away');
      assert.equal(await withTimeout(serverClose, 15_000, 'the browser to see the close'), 1001);
      assert.equal(arrivals[3]!.session, pageSession);
    } finally {
      await withTimeout(browser.close(), 15_000, 'Chromium to close');
    }
  });

  it('the same server object takes a Chromium without HTTP/2 over the HTTP/1.1 upgrade', async () => {
    const browser = await launch(['--disable-http2']);
    const before = arrivals.length;
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(`${base}/`);
      const echo = await withTimeout(
        page.evaluate(
          (url: string) =>
            new Promise<string>((resolve, reject) => {
              const ws = new WebSocket(url, ['chat']);
              ws.onopen = () => ws.send('over http/1.1');
              ws.onmessage = (event) => {
                resolve(String(event.data));
                ws.close(1000);
              };
              ws.onerror = () => reject(new Error('WebSocket error'));
            }),
          `wss://127.0.0.1:${h2.port}/ws`,
        ),
        15_000,
        'the HTTP/1.1 WebSocket',
      );
      assert.equal(echo, 'over http/1.1');
      const arrival = arrivals[before]!;
      assert.equal(arrival.httpVersion, '1.1');
      assert.equal(arrival.method, 'GET');
      assert.equal(arrival.session, null);
    } finally {
      await withTimeout(browser.close(), 15_000, 'Chromium to close');
    }
  });
});

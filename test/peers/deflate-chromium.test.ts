// permessage-deflate with headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// the browser's own default offer against our server, with our default policy, with no context
// takeover demanded, and with limited windows. The page echoes-checks text and binary messages of
// several sizes; the server checks the offer, the answer and the bytes on the wire. Between the
// echoes the server broadcasts and publishes a message (compressed once for all peers, see
// SharedMessage): the browser's one decompression stream must take it in its place.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WebSocketServer, type WebSocketConnection, type PerMessageDeflateServerOptions } from '../../src/index.js';
import { CHROMIUM_ARGS, nextEvent, withTimeout } from './support/peers.js';
import { requirePeers } from './support/requirements.js';

const peers = requirePeers('chromium');
const { it, before, after } = peers;
const CHROMIUM = peers.path('chromium');

const STEP_TIMEOUT = 20_000;

interface Case {
  name: string;
  policy: PerMessageDeflateServerOptions;
  answer: string;
}

const CASES: Case[] = [
  {
    // The server compresses with 13 bits, under the 15 the browser could take, and limits the
    // browser to 13 (it offered client_max_window_bits); the messages below span several windows.
    name: 'our defaults (13-bit windows both ways, seeded shared contexts)',
    policy: {},
    answer: 'permessage-deflate; server_max_window_bits=13; client_max_window_bits=13',
  },
  {
    name: "the old defaults (15-bit windows, the connection's own contexts)",
    policy: { serverMaxWindowBits: 15, clientMaxWindowBits: 15, contextIdleTimeout: 10_000 },
    answer: 'permessage-deflate',
  },
  {
    name: 'no context takeover demanded by the server',
    policy: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    answer: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=13; client_max_window_bits=13',
  },
  {
    name: 'windows limited by the server (server 9, client 10)',
    policy: { serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
    answer: 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=10',
  },
  {
    name: 'the smallest windows (server 8, client 8)',
    policy: { serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    answer: 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=8',
  },
];

/** What the page reports: per message, whether the echo matched; and the server's greeting. */
interface PageResult {
  extensions: string;
  echoes: { kind: string; size: number; same: boolean }[];
  greeting: number;
  /** Per broadcast/published message: whether it arrived as sent. */
  published: boolean[];
}

describe('permessage-deflate with headless Chromium', { timeout: 180_000 }, () => {
  let http: HttpServer;
  let port: number;
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let page: Page;

  before(async () => {
    http = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>deflate</title><p>permessage-deflate test page</p>');
    });
    http.listen(0, '127.0.0.1');
    await nextEvent(http, 'listening');
    port = (http.address() as AddressInfo).port;
    userDataDir = mkdtempSync(join(tmpdir(), 'upshift-deflate-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT);
    await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
  });

  after(async () => {
    try {
      if (context !== undefined) await withTimeout(context.close(), 15_000, 'Chromium to close');
    } finally {
      if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
      http.closeAllConnections();
      await withTimeout(new Promise((resolve) => http.close(resolve)), 5000, 'the HTTP server to close');
    }
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const path = `/deflate-${CASES.indexOf(c)}`;
      const wss = new WebSocketServer({ server: http, path, perMessageDeflate: { threshold: 0, ...c.policy } });
      const greeting = JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ id: i, name: `greeting ${i % 10}` })));
      const published = 'published:' + JSON.stringify(Array.from({ length: 800 }, (_, i) => ({ id: i, topic: path, n: i % 7 })));
      let offer: string | undefined;
      let serverSide: WebSocketConnection | undefined;
      wss.on('connection', (ws, req) => {
        offer = req.headers['sec-websocket-extensions'];
        serverSide = ws;
        ws.subscribe(`deflate-${CASES.indexOf(c)}`);
        ws.send(greeting); // compressed by the server, inflated by the browser
        let echoed = 0;
        ws.on('message', (data, isBinary) => {
          ws.send(data, { binary: isBinary });
          // Shared messages between the connection's own: after the first "repeated" message
          // (which the next one refers back to, with context takeover) and before the last one.
          if (++echoed === 2) wss.broadcast(published);
          if (echoed === 8) wss.publish(`deflate-${CASES.indexOf(c)}`, published);
        });
      });
      try {
        const result: PageResult = await page.evaluate(
          async ([url, timeoutMs, publishedText]) => {
            function jsonText(bytes: number, seed: number): string {
              let text = '';
              for (let i = seed; text.length < bytes; i++) text += JSON.stringify({ id: i, user: `user${i % 31}`, n: (i * 7919) % 1000 }) + '\n';
              return text.slice(0, bytes);
            }
            function randomBytes(size: number): Uint8Array {
              const bytes = new Uint8Array(size);
              for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
              return bytes;
            }
            const repeated = jsonText(3000, 7);
            const messages: (string | Uint8Array)[] = [
              jsonText(10, 0),
              repeated,
              repeated,
              '',
              randomBytes(40_000),
              'aé€😀'.repeat(500),
              jsonText(300_000, 3),
              repeated,
              jsonText(1024 * 1024 + 3, 11),
            ];
            const socket = new WebSocket(url);
            socket.binaryType = 'arraybuffer';
            const echoes: { kind: string; size: number; same: boolean }[] = [];
            let greetingLength = -1;
            const published: boolean[] = [];
            await new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`timed out after ${echoes.length} echoes`)), timeoutMs);
              socket.onerror = () => reject(new Error('socket error'));
              socket.onclose = (event) => reject(new Error(`closed early: ${event.code} ${event.reason}`));
              socket.onopen = () => {
                for (const message of messages) socket.send(message);
              };
              socket.onmessage = (event) => {
                if (greetingLength === -1) {
                  greetingLength = String(event.data).length;
                  return;
                }
                if (typeof event.data === 'string' && event.data.startsWith('published:')) {
                  published.push(event.data === publishedText);
                  return;
                }
                const sent = messages[echoes.length]!;
                let same: boolean;
                if (typeof sent === 'string') {
                  same = event.data === sent;
                } else {
                  const got = new Uint8Array(event.data as ArrayBuffer);
                  same = got.length === sent.length && got.every((byte, i) => byte === sent[i]);
                }
                echoes.push({ kind: typeof sent === 'string' ? 'text' : 'binary', size: typeof sent === 'string' ? sent.length : sent.length, same });
                if (echoes.length === messages.length) {
                  clearTimeout(timer);
                  socket.onclose = null;
                  resolve();
                }
              };
            });
            const extensions = socket.extensions;
            await new Promise<void>((resolve) => {
              socket.onclose = () => resolve();
              socket.close(1000);
            });
            return { extensions, echoes, greeting: greetingLength, published };
          },
          [`ws://127.0.0.1:${port}${path}`, STEP_TIMEOUT, published] as const,
        );
        // Chromium's default offer, answered by our policy.
        assert.equal(offer, 'permessage-deflate; client_max_window_bits');
        assert.equal(result.extensions, c.answer);
        assert.equal(serverSide!.extensions, c.answer);
        assert.equal(result.greeting, greeting.length);
        assert.deepEqual(result.published, [true, true], 'the broadcast and the published message, in place');
        assert.equal(result.echoes.length, 9);
        for (const [i, echo] of result.echoes.entries()) assert.equal(echo.same, true, `echo ${i} (${echo.kind}, ${echo.size})`);
        // Compression was used both ways: the JSON-heavy traffic shrinks several times.
        const socket = serverSide!.rawTransport as Socket;
        const payload = 10 + 3 * 3000 + 40_000 + 5000 + 300_000 + 1024 * 1024 + 3;
        assert.ok(socket.bytesRead < payload * 0.5, `Chromium → Upshift: ${socket.bytesRead} bytes for ${payload}`);
        assert.ok(socket.bytesWritten < payload * 0.5, `Upshift → Chromium: ${socket.bytesWritten} bytes`);
      } finally {
        await withTimeout(wss.close({ timeout: 1000 }), 5000, 'the WebSocket endpoint to close');
      }
    });
  }
});

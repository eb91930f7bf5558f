// The `npm start` demo page in a real browser: Debian's headless Chromium, driven through
// playwright-core. The demo runs as a real process (dist/src/demo/server.js); a second,
// in-process Upshift server lets the test see what the browser sends when it closes.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WebSocketServer, type WebSocketConnection } from '../../src/index.js';
import { CHROMIUM_ARGS, ChildPeer, nextEvent, startDemoProcess, withTimeout } from './support/peers.js';
import { requirePeers } from './support/requirements.js';

const peers = requirePeers('chromium');
const { test, before, after } = peers;
const CHROMIUM = peers.path('chromium');

const STEP_TIMEOUT = 10_000;

describe('the demo page in headless Chromium', { timeout: 120_000 }, () => {
  let demo: ChildPeer | undefined;
  let base: string;
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let page: Page;

  before(async () => {
    ({ demo, base } = await startDemoProcess());
    userDataDir = mkdtempSync(join(tmpdir(), 'upshift-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT);
  });

  after(async () => {
    try {
      if (context !== undefined) await withTimeout(context.close(), 15_000, 'Chromium to close');
    } finally {
      await demo?.stop();
      if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
    }
  });

  test('opens with subprotocol echo, and a typed message comes back', async () => {
    const response = await page.goto(`${base}/`, { waitUntil: 'load' });
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), 'Upshift echo');
    await page.locator('#status', { hasText: 'open (subprotocol: echo)' }).waitFor();

    await page.locator('#text').fill('hello from Chromium ✓');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#log .out', { hasText: '→ hello from Chromium ✓' }).waitFor();
    const echoed = page.locator('#log .in');
    await echoed.waitFor();
    assert.equal(await echoed.textContent(), '← hello from Chromium ✓');
    assert.equal(await page.locator('#text').inputValue(), '', 'the input is cleared after sending');

    // A second message by pressing Enter in the form.
    await page.locator('#text').fill('second');
    await page.locator('#text').press('Enter');
    await page.locator('#log .in', { hasText: '← second' }).waitFor();
    assert.deepEqual(await page.locator('#log .in').allTextContents(), ['← hello from Chromium ✓', '← second']);
  });

  test('an ArrayBuffer goes to the demo /echo and comes back byte for byte', async () => {
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await page.locator('#status', { hasText: 'open (subprotocol: echo)' }).waitFor();
    const result = await page.evaluate(async (timeoutMs) => {
      const socket = new WebSocket(new URL('/echo', location.href.replace(/^http/, 'ws')), 'echo');
      socket.binaryType = 'arraybuffer';
      const sizes = [0, 1, 125, 126, 65535, 65536, 300_000];
      const outcome: { size: number; same: boolean; type: string }[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('binary round trip timed out')), timeoutMs);
        socket.onerror = () => reject(new Error('socket error'));
        socket.onopen = () => {
          for (const size of sizes) {
            const bytes = new Uint8Array(size);
            for (let i = 0; i < size; i++) bytes[i] = (i * 31 + size) & 0xff;
            socket.send(bytes.buffer);
          }
        };
        socket.onmessage = (event) => {
          const size = sizes[outcome.length]!;
          const type = event.data instanceof ArrayBuffer ? 'arraybuffer' : typeof event.data;
          let same = event.data instanceof ArrayBuffer && event.data.byteLength === size;
          if (same) {
            const got = new Uint8Array(event.data as ArrayBuffer);
            for (let i = 0; i < size && same; i++) same = got[i] === ((i * 31 + size) & 0xff);
          }
          outcome.push({ size, same, type });
          if (outcome.length === sizes.length) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      socket.close(1000);
      return outcome;
    }, STEP_TIMEOUT);
    assert.deepEqual(
      result,
      [0, 1, 125, 126, 65535, 65536, 300_000].map((size) => ({ size, same: true, type: 'arraybuffer' })),
    );
  });

  test("the page's own socket closes with 4000 and the page shows it", async () => {
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await page.locator('#status', { hasText: 'open (subprotocol: echo)' }).waitFor();
    // `ws` is the page script's top-level binding; the server echoes the close code (§5.5.1).
    await page.evaluate('ws.close(4000, "page done")');
    await page.locator('#status', { hasText: 'closed (4000)' }).waitFor();
  });

  test('a close with code 4000 from Chromium reaches an Upshift server with code and reason', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/watch', protocols: ['echo'] });
    try {
      await nextEvent(server, 'listening');
      const address = server.address();
      assert.ok(address !== null && typeof address !== 'string');
      const connected = nextEvent<[WebSocketConnection]>(server, 'connection', STEP_TIMEOUT);
      await page.goto(`${base}/`, { waitUntil: 'load' });
      // A cross-origin WebSocket from the demo page to the watching server.
      const browserSide = page.evaluate(
        async ([port, timeoutMs]) => {
          const socket = new WebSocket(`ws://127.0.0.1:${port}/watch`, ['echo']);
          return await new Promise<{ protocol: string; code: number; reason: string; wasClean: boolean }>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('close timed out')), timeoutMs);
            socket.onerror = () => reject(new Error('socket error'));
            socket.onopen = () => socket.close(4000, 'bye from Chromium');
            socket.onclose = (event) => {
              clearTimeout(timer);
              resolve({ protocol: socket.protocol, code: event.code, reason: event.reason, wasClean: event.wasClean });
            };
          });
        },
        [address.port, STEP_TIMEOUT] as const,
      );
      const [serverSide] = await connected;
      assert.equal(serverSide.protocol, 'echo');
      const [code, reason] = await nextEvent<[number, string]>(serverSide, 'close', STEP_TIMEOUT);
      assert.equal(code, 4000);
      assert.equal(reason, 'bye from Chromium');
      assert.deepEqual(await browserSide, { protocol: 'echo', code: 4000, reason: '', wasClean: true });
    } finally {
      await withTimeout(server.close({ timeout: 1000 }), 5000, 'the watching server to close');
    }
  });
});

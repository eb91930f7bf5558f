// `serve --dashboard --metrics` in headless Chromium: the page connects to its live feed, its
// figures move while traffic runs (messages, bytes, per-endpoint and per-topic rows), a refused
// handshake is listed with its reason, the charts are drawn; a screenshot is left in
// test-output/cli/. The Prometheus text is checked beside it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { CHROMIUM_ARGS, withTimeout } from '../peers/support/peers.js';
import { startServe, testOutput, toolSkip, type Served } from './support/cli.js';

const CHROMIUM = '/usr/bin/chromium';

/** "1234", "12.5k", "1.20M", "3.4 kB" → a number (units ignored: only changes are compared). */
function figure(text: string | null): number {
  const match = /^([\d.]+)\s*([kMG]?)/.exec((text ?? '').trim());
  if (match === null) return NaN;
  return Number(match[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[match[2]!]!;
}

describe('the dashboard in headless Chromium', { timeout: 90_000, skip: toolSkip(CHROMIUM, 'apt-get install chromium') }, () => {
  let served: Served;
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let page: Page;

  before(async () => {
    served = await startServe(['--no-static', '-q', '--dashboard', '--metrics', '--echo', '/echo', '--topics', '/t']);
    userDataDir = mkdtempSync(join(tmpdir(), 'upshift-dashboard-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000, viewport: { width: 1280, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
  });
  after(async () => {
    try {
      if (context !== undefined) await withTimeout(context.close(), 15_000, 'Chromium to close');
    } finally {
      await served?.stop();
      if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
    }
  });

  test('live figures move with traffic; refusals, endpoints and topics are listed; charts drawn', async () => {
    const response = await page.goto(`${served.base}/_upshift/`, { waitUntil: 'load' });
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), 'Upshift dashboard');
    await page.locator('#status', { hasText: 'live' }).waitFor();
    await page.locator('#open', { hasText: '0' }).waitFor();
    const before = figure(await page.locator('#messages-in').textContent());
    assert.equal(before, 0, 'the dashboard does not count its own feed');

    // A refused handshake (a version the server does not speak: 426).
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${served.base}/echo`, {
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 426);

    // Traffic: echo round trips and a topic, until the page has seen them move twice.
    const echo: WebSocketConnection = await connect(`${served.wsBase}/echo`);
    const sub = await connect(`${served.wsBase}/t`);
    const pub = await connect(`${served.wsBase}/t`);
    sub.send('sub prices/+');
    const traffic = setInterval(() => {
      for (let i = 0; i < 20; i++) echo.send('x'.repeat(100));
      pub.send('pub prices/acme 42');
    }, 20);
    let seenOnPage = 0;
    try {
      await page.locator('#open', { hasText: '3' }).waitFor();
      await page.waitForFunction(() => Number(document.getElementById('messages-in')!.textContent!.replace(/[^\d.]/g, '')) > 0);
      const first = figure(await page.locator('#messages-in').textContent());
      await page.waitForFunction((seen) => {
        const text = document.getElementById('messages-in')!.textContent!;
        const scale = text.endsWith('k') ? 1e3 : text.endsWith('M') ? 1e6 : 1;
        return parseFloat(text) * scale > seen;
      }, first);
      const second = figure(await page.locator('#messages-in').textContent());
      assert.ok(second > first, `messages in went from ${first} to ${second}`);
      seenOnPage = second;
      assert.ok(figure(await page.locator('#messages-in-rate').textContent()) > 0, 'a rate is shown');
      assert.ok(figure(await page.locator('#bytes-out').textContent()) > 0);
      await page.locator('#endpoints tr', { hasText: '/echo' }).waitFor();
      await page.locator('#topics tr', { hasText: 'prices/acme' }).waitFor();
      await page.locator('#topics tr', { hasText: 'prices/+' }).waitFor();
      const refusal = page.locator('#refusals tr', { hasText: '426' });
      await refusal.waitFor();
      assert.match((await refusal.textContent()) ?? '', /\/echo.*only version 13/);
      assert.equal(await page.locator('#refused').textContent(), '1');
      // The messages chart has ink on it (a line, not only its grid).
      await page.waitForFunction(() => {
        const canvas = document.getElementById('chart-messages') as HTMLCanvasElement;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let coloured = 0;
        // The lines are bright (a channel above 190); the grid, labels and background are not.
        for (let i = 0; i < data.length; i += 4) if (Math.max(data[i]!, data[i + 1]!, data[i + 2]!) > 190) coloured++;
        return coloured > 20;
      });
      await page.screenshot({ path: join(testOutput(), 'dashboard.png'), fullPage: true });
    } finally {
      clearInterval(traffic);
      for (const ws of [echo, sub, pub]) ws.close(1000);
    }

    const metrics = await (await fetch(`${served.base}/_upshift/metrics`)).text();
    assert.match(metrics, /^# TYPE upshift_messages_received_total counter$/m);
    const received = /^upshift_messages_received_total\{kind="echo",path="\/echo"\} (\d+)$/m.exec(metrics);
    assert.ok(received !== null && Number(received[1]) >= seenOnPage, metrics);
    assert.match(metrics, /^upshift_handshakes_refused_total\{status="426"\} 1$/m);
    assert.match(metrics, /^upshift_topic_published_total\{topic="prices\/acme"\} [1-9]\d*$/m);
  });
});

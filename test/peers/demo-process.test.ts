// `npm start`'s demo as a real process (node dist/src/demo/server.js, HOST/PORT from the
// environment): our clients talk to /echo, then SIGTERM shuts it down gracefully: every open
// connection is closed with 1001 Going Away (RFC 6455 §7.4.1) and the process exits with 0.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, WebSocket, type CloseEvent } from '../../src/index.js';
import { binaryOfBytes, nextEvent, startDemoProcess, textOfBytes, withTimeout } from './support/peers.js';

describe('the npm start demo as a process', { timeout: 60_000 }, () => {
  test('echoes with subprotocol echo, and SIGTERM closes clients with 1001 then exits 0', async () => {
    const { demo, base } = await startDemoProcess();
    try {
      const url = `${base.replace(/^http/, 'ws')}/echo`;
      const ws = await connect(url, { protocols: ['echo'], handshakeTimeout: 5000 });
      assert.equal(ws.protocol, 'echo');

      const text = textOfBytes(70_000);
      let echo = nextEvent<[Buffer, boolean]>(ws, 'message');
      ws.send(text);
      let [data, isBinary] = await echo;
      assert.equal(isBinary, false, 'text stays text');
      assert.equal(data.toString(), text);

      const bytes = binaryOfBytes(4096);
      echo = nextEvent<[Buffer, boolean]>(ws, 'message');
      ws.send(bytes);
      [data, isBinary] = await echo;
      assert.equal(isBinary, true, 'binary stays binary');
      assert.ok(data.equals(bytes));

      // A second client, the WHATWG one, also open when the signal comes.
      const browserLike = new WebSocket(url, 'echo');
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          browserLike.onopen = () => resolve();
          browserLike.onerror = (event) => reject(new Error(event.message));
        }),
        5000,
        'the WHATWG client to open',
      );
      assert.equal(browserLike.protocol, 'echo');

      const closed = nextEvent<[number, string]>(ws, 'close', 10_000);
      const browserClosed = withTimeout(
        new Promise<CloseEvent>((resolve) => (browserLike.onclose = (event) => resolve(event))),
        10_000,
        'the WHATWG close',
      );
      assert.ok(demo.child.kill('SIGTERM'));
      const [code, reason] = await closed;
      assert.equal(code, 1001);
      assert.equal(reason, 'Server shutting down');
      const event = await browserClosed;
      assert.equal(event.code, 1001);
      assert.equal(event.wasClean, true);

      const exit = await demo.waitForExit(10_000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.equal(await demo.nextLine(1000, 'the shutdown line'), 'SIGTERM: closing 2 connection(s)');
    } finally {
      await demo.stop();
    }
  });

  test('SIGINT with no client open also exits with 0', async () => {
    const { demo, base } = await startDemoProcess();
    try {
      // The page is served while it runs.
      const response = await withTimeout(fetch(`${base}/`), 5000, 'GET /');
      assert.equal(response.status, 200);
      assert.match(await response.text(), /Upshift echo/);
      assert.ok(demo.child.kill('SIGINT'));
      assert.deepEqual(await demo.waitForExit(10_000), { code: 0, signal: null });
      assert.equal(await demo.nextLine(1000, 'the shutdown line'), 'SIGINT: closing 0 connection(s)');
    } finally {
      await demo.stop();
    }
  });
});

// What the library itself puts on the wire when it refuses (RFC 9110: Date in every answer,
// Upgrade in every 426), and errors of the servers it is attached to, reported as Node reports
// them.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { destroyRawClients, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { HOST, startHttpServer, startServer, stopServer } from '../helpers/server.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';
import { openSession, startH2cServer, webSocketConnectHeaders } from '../http2/support/h2.js';

afterEach(destroyRawClients);

function assertDated(headers: Record<string, unknown>): void {
  const date = headers['date'];
  assert.equal(typeof date, 'string', 'RFC 9110 §6.6.1: a Date header');
  // IMF-fixdate (RFC 9110 §5.6.7), and now.
  assert.match(date as string, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert.ok(Math.abs(Date.parse(date as string) - Date.now()) < 60_000);
}

describe('refusals on the wire', { timeout: 15_000 }, () => {
  it('a 426 for an unsupported version names websocket in Upgrade (RFC 9110 §15.5.22), dated', async () => {
    const server = await startServer();
    try {
      const response = await rawRequest(server.port, upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }));
      assert.equal(response.status, 426);
      assert.equal(response.headers['upgrade'], 'websocket');
      assert.match(response.headers['connection'] ?? '', /\bupgrade\b/i, 'RFC 9110 §7.8: Upgrade goes with Connection: upgrade');
      assert.match(response.headers['connection'] ?? '', /\bclose\b/i);
      assert.equal(response.headers['sec-websocket-version'], '13');
      assertDated(response.headers);
    } finally {
      await server.stop();
    }
  });

  it('every other refusal written by the library is dated too: 400, 403, 405, 503', async () => {
    const server = await startServer({ origins: ['https://ok.example'], maxConnections: 0 });
    const open = await startServer({ origins: ['https://ok.example'] });
    try {
      const cases: [number, number, string][] = [
        [open.port, 400, upgradeRequest('/', { 'Sec-WebSocket-Key': '' })],
        [open.port, 403, upgradeRequest('/', { Origin: 'https://evil.example' })],
        [open.port, 405, upgradeRequest('/', { Origin: 'https://ok.example' }, 'POST')],
        [server.port, 503, upgradeRequest('/', { Origin: 'https://ok.example' })],
      ];
      for (const [port, status, request] of cases) {
        const response = await rawRequest(port, request);
        assert.equal(response.status, status, response.statusLine);
        assertDated(response.headers);
      }
    } finally {
      await server.stop();
      await open.stop();
    }
  });

  it('HTTP/2 refusals are dated as well', async () => {
    const h2 = await startH2cServer();
    const wss = new WebSocketServer({ server: h2.server, path: '/ws' });
    const session = await openSession(h2.port);
    try {
      const stream = session.request(webSocketConnectHeaders('/missing'), { endStream: false });
      const [headers] = (await within(once(stream, 'response'), EVENT_WAIT_MS, 'the response')) as [Record<string, unknown>];
      assert.equal(headers[':status'], 404);
      assertDated(headers);
    } finally {
      session.destroy();
      await stopServer(wss);
      await h2.stop();
    }
  });
});

describe('errors of an attached server', { timeout: 15_000 }, () => {
  it('a port in use reads as Node’s own error, with no trace of the router', async () => {
    const taken = await startHttpServer();
    try {
      // Handled: the error as Node made it.
      const server = createServer();
      const wss = new WebSocketServer({ server });
      server.listen(taken.port, HOST);
      const [error] = (await within(once(server, 'error'), EVENT_WAIT_MS, 'the listen error')) as [NodeJS.ErrnoException];
      assert.equal(error.code, 'EADDRINUSE');
      assert.doesNotMatch(error.stack ?? '', /router/);
      await stopServer(wss);

      // Unhandled: what the process prints as it dies, "Emitted 'error' event … at:" included.
      const index = new URL('../../src/index.js', import.meta.url).href;
      const script =
        `import { createServer } from 'node:http';\n` +
        `import { WebSocketServer } from ${JSON.stringify(index)};\n` +
        `const server = createServer();\n` +
        `new WebSocketServer({ server });\n` +
        `server.listen(${taken.port}, ${JSON.stringify(HOST)});\n`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const [code] = (await within(once(child, 'exit'), 10_000, 'the child process to exit')) as [number | null];
      assert.notEqual(code, 0);
      assert.match(stderr, /EADDRINUSE/);
      assert.match(stderr, /Emitted 'error' event on Server instance/);
      assert.doesNotMatch(stderr, /router|dist\/src/, stderr);
    } finally {
      await taken.stop();
    }
  });
});

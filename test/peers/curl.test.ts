// The demo server (as a real process) seen by curl, an independent HTTP/1.1 client: plain GETs,
// and a hand-made WebSocket opening handshake (RFC 6455 §1.3, §4.2.2).

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ChildPeer, startDemoProcess } from './support/peers.js';
import { requirePeers } from './support/requirements.js';

const peers = requirePeers('curl');
const { test, before, after } = peers;
const CURL = peers.path('curl');

/** The RFC 6455 §1.3 example: this key must be answered with this accept value. */
const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

interface CurlResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Runs curl to completion (bounded by --max-time and a spawn timeout) and parses its -i output. */
function curl(args: string[]): CurlResponse {
  const run = spawnSync(CURL, ['-sS', '-i', '--max-time', '5', ...args], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(run.status, 0, `curl ${args.join(' ')} failed: ${run.stderr}`);
  return parseResponse(run.stdout);
}

function parseResponse(text: string): CurlResponse {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no header block in: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine!);
  assert.ok(match, `bad status line: ${statusLine}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), headers, body: text.slice(end + 4) };
}

describe('curl against the demo server', { timeout: 60_000 }, () => {
  let demo: ChildPeer | undefined;
  let base: string;
  before(async () => {
    ({ demo, base } = await startDemoProcess());
  });
  after(async () => {
    await demo?.stop();
  });

  test('GET / is the demo page', () => {
    const response = curl([`${base}/`]);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(response.body, /<title>Upshift echo<\/title>/);
    assert.match(response.body, /new WebSocket\(url, \['echo'\]\)/);
  });

  test('a plain GET on /echo is 426 Upgrade Required naming websocket', () => {
    const response = curl([`${base}/echo`]);
    assert.equal(response.status, 426);
    assert.equal(response.headers.get('upgrade')?.toLowerCase(), 'websocket');
    assert.match(response.headers.get('connection') ?? '', /upgrade/i);
  });

  test('an unknown path is 404', () => {
    assert.equal(curl([`${base}/nothing-here`]).status, 404);
  });

  test('an upgrade without Sec-WebSocket-Key is refused with 400', () => {
    const response = curl(['-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', `${base}/echo`]);
    assert.equal(response.status, 400);
  });

  test('an upgrade to an unsupported version is 426 naming version 13 (§4.2.2)', () => {
    const response = curl([
      '-H', 'Connection: Upgrade',
      '-H', 'Upgrade: websocket',
      '-H', `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
      '-H', 'Sec-WebSocket-Version: 8',
      `${base}/echo`,
    ]);
    assert.equal(response.status, 426);
    assert.equal(response.headers.get('sec-websocket-version'), '13');
  });

  test('a handshake by hand gets 101 with the RFC sample Sec-WebSocket-Accept and subprotocol', async () => {
    // The connection stays open after the 101, so curl is read line by line and stopped once the
    // header block is complete (--max-time bounds it in any case). curl writes headers through
    // stdio, which holds them until exit on a pipe; stdbuf -o0 makes them arrive at once.
    const STDBUF = '/usr/bin/stdbuf';
    const unbuffered = existsSync(STDBUF);
    const client = new ChildPeer(unbuffered ? STDBUF : CURL, [
      ...(unbuffered ? ['-o0', CURL] : []),
      '-sS', '-i', '-N', '--max-time', '2',
      '-H', 'Connection: Upgrade',
      '-H', 'Upgrade: websocket',
      '-H', `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
      '-H', 'Sec-WebSocket-Version: 13',
      '-H', 'Sec-WebSocket-Protocol: chat, echo',
      `${base}/echo`,
    ]);
    try {
      const lines: string[] = [];
      for (;;) {
        const line = await client.nextLine(5000, 'the 101 response headers');
        if (line === '') break;
        lines.push(line);
      }
      const response = parseResponse(lines.join('\r\n') + '\r\n\r\n');
      assert.equal(response.status, 101);
      assert.equal(response.headers.get('upgrade')?.toLowerCase(), 'websocket');
      assert.match(response.headers.get('connection') ?? '', /^upgrade$/i);
      assert.equal(response.headers.get('sec-websocket-accept'), SAMPLE_ACCEPT);
      assert.equal(response.headers.get('sec-websocket-protocol'), 'echo');
      assert.equal(response.headers.has('sec-websocket-extensions'), false, 'no extension was offered');
    } finally {
      await client.stop();
    }
  });
});

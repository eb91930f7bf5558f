// The h2c upgrade (RFC 7540 §3.2) against real HTTP/2 clients: curl --http2 and nghttp -u
// (Debian's nghttp2-client) on http:// URLs. The server is a plain node:http server with
// enableH2c(); the application's request handler answers both HTTP/1.1 and the upgraded HTTP/2
// requests, and records which stream of which session each one came on.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import { enableH2c } from '../../src/upgrade/h2c.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { startHttpServer } from '../helpers/server.js';
import { requirePeers } from './support/requirements.js';

const curl = requirePeers('curl');
const nghttp = requirePeers('nghttp');
const CURL = curl.path('curl');
const NGHTTP = nghttp.path('nghttp');

interface Seen {
  version: string;
  path: string;
  streamId: number | null;
  session: Http2Session | null;
  body: string;
}

/** Runs a client to completion (bounded by its own timeout and ours); resolves with its output. */
function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 15_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('h2c upgrade with real clients', { timeout: 60_000 }, () => {
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  let wss: WebSocketServer;
  const seen: Seen[] = [];
  let base: string;

  before(async () => {
    http = await startHttpServer((request: IncomingMessage, response: ServerResponse) => {
      const req = request as IncomingMessage | Http2ServerRequest;
      const res = response as ServerResponse | Http2ServerResponse;
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const stream = 'stream' in req ? req.stream : null;
        seen.push({ version: req.httpVersion, path: req.url ?? '', streamId: stream?.id ?? null, session: stream?.session ?? null, body });
        res.setHeader('content-type', 'text/plain');
        res.end(`hello ${req.url} over HTTP/${req.httpVersion}\n`);
      });
    });
    enableH2c(http.server);
    // A WebSocket endpoint on the same server keeps working next to h2c.
    wss = new WebSocketServer({ server: http.server, path: '/ws' });
    base = `http://127.0.0.1:${http.port}`;
  });

  after(async () => {
    await wss.close({ timeout: 200 });
    await http.stop();
  });

  curl.it('curl --http2 upgrades, gets the first answer on stream 1, and reuses the HTTP/2 connection', async () => {
    seen.length = 0;
    const result = await run(CURL, ['-sS', '-v', '--http2', '--max-time', '10', '-w', '[%{http_version}]\\n', `${base}/one`, `${base}/two`]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /< HTTP\/1\.1 101 Switching Protocols/);
    assert.match(result.stderr, /< Upgrade: h2c/i);
    assert.equal(result.stdout, 'hello /one over HTTP/2.0\n[2]\nhello /two over HTTP/2.0\n[2]\n');
    assert.deepEqual(
      seen.map((s) => [s.version, s.path, s.streamId]),
      [
        ['2.0', '/one', 1],
        ['2.0', '/two', 3],
      ],
    );
    assert.equal(seen[0]!.session, seen[1]!.session, 'one connection, upgraded once');
  });

  curl.it('curl --http2 with a request body is answered over HTTP/1.1', async () => {
    seen.length = 0;
    const result = await run(CURL, ['-sS', '--http2', '--max-time', '10', '-d', 'a=1', '-w', '[%{http_version}]', `${base}/form`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hello /form over HTTP/1.1\n[1.1]');
    assert.deepEqual(seen.map((s) => [s.version, s.body]), [['1.1', 'a=1']]);
  });

  curl.it('curl --http2 to the WebSocket-only path: 426 stays an HTTP/1.1 matter, HTTP/2 goes to the application', async () => {
    const plain = await run(CURL, ['-sS', '--http1.1', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `${base}/ws`]);
    assert.equal(plain.stdout, '426');
    const upgraded = await run(CURL, ['-sS', '--http2', '--max-time', '10', '-w', '[%{http_version}]', `${base}/ws`]);
    assert.equal(upgraded.stdout, 'hello /ws over HTTP/2.0\n[2]');
  });

  nghttp.it('nghttp -u upgrades and fetches several resources on the one connection', async () => {
    seen.length = 0;
    const result = await run(NGHTTP, ['-u', '-v', '-t', '10', `${base}/a`, `${base}/b`]);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /HTTP Upgrade response\nHTTP\/1\.1 101 Switching Protocols/);
    assert.match(result.stdout, /HTTP Upgrade success/);
    assert.match(result.stdout, /hello \/a over HTTP\/2\.0/);
    assert.match(result.stdout, /hello \/b over HTTP\/2\.0/);
    assert.match(result.stdout, /recv SETTINGS frame <length=0, flags=0x01, stream_id=0>/, 'the client got its SETTINGS ACK');
    assert.doesNotMatch(result.stdout, /PROTOCOL_ERROR|GOAWAY frame <[^>]*>\s*\(last_stream_id=\d+, error_code=(?!NO_ERROR)/);
    const byStream = [...seen].sort((x, y) => Number(x.streamId) - Number(y.streamId));
    assert.deepEqual(byStream.map((s) => [s.version, s.path]), [['2.0', '/a'], ['2.0', '/b']]);
    assert.equal(byStream[0]!.streamId, 1, 'the upgrade request is answered on stream 1');
    // nghttp opens idle streams for its priority tree first, so /b gets a later odd stream id.
    assert.ok(byStream[1]!.streamId! > 1 && byStream[1]!.streamId! % 2 === 1);
    assert.equal(seen[0]!.session, seen[1]!.session);
  });
});

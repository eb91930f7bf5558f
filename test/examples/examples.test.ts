// Every example in examples/ runs as a process of its own, as a reader would run it
// (`node examples/x.js` from the repository root, `upshift` resolving to the package itself through
// package.json "exports"), loopback only, bounded in time; its output is compared with what it
// must print. And every code block of the README is one of these files, or an excerpt of one: the
// README cannot show code that does not run.

import { describe } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requirePeers, type Peer } from '../peers/support/requirements.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TIMEOUT_MS = 30_000;

interface Expected {
  /** The whole of stdout. */
  stdout: string;
  /** Programs outside Node the example runs. */
  peers?: Peer[];
}

const EXPECTED: Record<string, Expected> = {
  'server.js': {
    stdout: [
      'http: plain HTTP still works',
      'protocol: chat.v1',
      'bob got: hello from alice',
      'server: closed 1000 bye',
      'server: closed 1000 bye',
    ].join('\n'),
  },
  'whatwg-client.js': { stdout: ['message: hello', 'message: Uint8Array(3) [ 1, 2, 3 ]', 'close: 1000 true'].join('\n') },
  'connect.js': {
    stdout: ['feed: one', 'feed: two', 'feed: three', 'closed: 1000 that is all'].join('\n'),
    peers: ['openssl'],
  },
  'verify.js': { stdout: ['refused: 401 Bearer', 'accepted: welcome, Ada'].join('\n') },
  'compression.js': {
    stdout: ['negotiated: permessage-deflate; server_max_window_bits=13; client_max_window_bits=13', 'server received 59781 bytes', 'server received 4096 bytes'].join('\n'),
  },
  'http2.js': {
    stdout: ['hello over HTTP/2.0', 'hello over HTTP/2.0', 'hello over HTTP/1.1'].join('\n'),
    peers: ['openssl'],
  },
  'h2c.js': { stdout: ['hello over HTTP/2.0', 'curl saw HTTP/2'].join('\n'), peers: ['curl'] },
  'graceful-shutdown.js': {
    stdout: [
      'during shutdown: 503',
      'client: last words before the shutdown | 1001 maintenance',
      'client: last words before the shutdown | 1001 maintenance',
      'endpoint closed; clients left: 0',
    ].join('\n'),
  },
  'upgrade-router.js': {
    stdout: ['switched: 101 my-proto', 'my-proto says: HELLO', 'not switched: 200 plain answer for /elsewhere'].join('\n'),
  },
  'coming-from-ws.js': {
    stdout: [
      'TypeError: new WebSocketServer(): unknown option "verifyClient". Use verify(req, info): it may be async, and returns true/false or { accept, status, headers }.',
      'readyState is OPEN: true',
      'send callback: written',
      'answers: WRITTEN BINARY A B',
      'wss.close callback',
    ].join('\n'),
  },
  'observability.js': {
    stdout: [
      'refused: 403 by policy at /chat',
      'closed: 1000 done, clean: true',
      'open: 0, accepted: 1, refused: {"403":1}',
      'messages in/out: 1/1, payload bytes in/out: 5/5',
    ].join('\n'),
  },
  'pubsub.js': { stdout: ['delivered to 2 subscribers', 'prices/AAPL subscriber: {"bid":189.2}', 'prices/+ subscriber: {"bid":189.2}'].join('\n') },
};

function run(file: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join('examples', file)],
      { cwd: repo, timeout: TIMEOUT_MS, killSignal: 'SIGKILL', encoding: 'utf8' },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string; signal?: string }) | null;
        done({
          code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
          signal: failure?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

describe('examples/', () => {
  const files = readdirSync(join(repo, 'examples')).filter((name) => name.endsWith('.js')).sort();

  requirePeers().test('every example has its expected output here, and nothing else is expected', () => {
    assert.deepEqual(files, Object.keys(EXPECTED).sort());
  });

  for (const file of files) {
    const expected = EXPECTED[file];
    if (expected === undefined) continue;
    requirePeers(...(expected.peers ?? [])).test(`${file} runs, exits by itself and prints what it should`, { timeout: TIMEOUT_MS + 5_000 }, async () => {
      const result = await run(file);
      assert.equal(result.stderr, '', `${file} wrote to stderr`);
      assert.deepEqual({ code: result.code, signal: result.signal }, { code: 0, signal: null }, `${file} must exit 0 by itself`);
      assert.equal(result.stdout.trimEnd(), expected.stdout);
    });
  }
});

describe('README code blocks', () => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');

  requirePeers().test('every js block is an example file, shown whole or as an excerpt of it', () => {
    const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)];
    assert.ok(blocks.length > 0, 'the README shows code');
    for (const block of blocks) {
      const before = readme.slice(0, block.index).trimEnd();
      const marker = /<!-- (examples\/[\w/.-]+\.js)( \(excerpt\))? -->$/.exec(before);
      assert.ok(marker !== null, `a js block without an <!-- examples/… --> marker before it:\n${block[1]!.slice(0, 200)}`);
      const source = readFileSync(join(repo, marker[1]!), 'utf8');
      const shown = block[1]!;
      if (marker[2] === undefined) assert.equal(shown, source, `${marker[1]} is shown whole but differs from the file`);
      else assert.ok(source.includes(shown), `${marker[1]} (excerpt): the shown lines are not in the file as shown`);
    }
  });
});

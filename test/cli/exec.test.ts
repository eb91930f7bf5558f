// `serve --exec PATH -- program`: one process per connection, as websocketd. A shell script
// chooses what to do from QUERY_STRING: echo lines (and show its CGI environment), exit early
// with status 0 or 3, or start a background process and wait (to see the process group go when
// the WebSocket closes). A second server runs `cat` with --exec-binary.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { startServe, type Served } from './support/cli.js';
import { EVENT_WAIT_MS, Inbox, waitUntil } from '../helpers/events.js';

const SCRIPT = `#!/bin/sh
case "$QUERY_STRING" in
  mode=echo*)
    echo "env $REMOTE_ADDR|$QUERY_STRING|$REQUEST_URI|$REQUEST_METHOD|$SERVER_PROTOCOL|$HTTP_X_TEST|\${HTTP_PROXY:-no proxy}|$WEBSOCKET_PROTOCOL"
    while IFS= read -r line; do echo "echo: $line"; done ;;
  mode=ok) echo "bye"; exit 0 ;;
  mode=fail) echo "oops" >&2; echo "failing"; exit 3 ;;
  mode=group)
    sleep 300 &
    echo "$! $$"
    wait ;;
esac
`;

/** Collects messages (text, or 'B:' + hex for binary) and the close of a connection. */
function record(ws: WebSocketConnection): { messages: string[]; closed: Promise<[number, string]>; next(): Promise<string> } {
  const inbox = new Inbox<string>();
  ws.on('message', (data, isBinary) => inbox.push(isBinary ? 'B:' + data.toString('hex') : data.toString()));
  const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, reason])));
  return { messages: inbox.items, closed, next: () => inbox.take(5000, 'a message') };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


describe('serve --exec', { timeout: 60_000 }, () => {
  let dir: string;
  let lines: Served;
  let binary: Served;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upshift-exec-'));
    const script = join(dir, 'script.sh');
    writeFileSync(script, SCRIPT);
    chmodSync(script, 0o755);
    [lines, binary] = await Promise.all([
      startServe(['--no-static', '-s', 'chat', '--exec', '/run', '--', script]),
      startServe(['--no-static', '-q', '--exec', '/cat', '--exec-binary', '--', 'cat']),
    ]);
  });
  after(async () => {
    await lines?.stop();
    await binary?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('lines both ways, with the request in CGI variables (and no HTTP_PROXY from a Proxy header)', async () => {
    const ws = await connect(`${lines.wsBase}/run?mode=echo&x=1`, { headers: { 'X-Test': 'yes', Proxy: 'http://evil' }, protocols: ['chat'] });
    const seen = record(ws);
    assert.equal(await seen.next(), 'env 127.0.0.1|mode=echo&x=1|/run?mode=echo&x=1|GET|HTTP/1.1|yes|no proxy|chat');
    ws.send('first');
    ws.send('second line');
    ws.send('ünïcödé');
    assert.equal(await seen.next(), 'echo: first');
    assert.equal(await seen.next(), 'echo: second line');
    assert.equal(await seen.next(), 'echo: ünïcödé');
    ws.close(1000);
    assert.deepEqual(await seen.closed, [1000, '']);
  });

  test('the program exiting closes the WebSocket: 1000 on status 0, 1011 otherwise, after its output', async () => {
    const ok = record(await connect(`${lines.wsBase}/run?mode=ok`));
    assert.deepEqual(await ok.closed, [1000, 'program exited']);
    assert.deepEqual(ok.messages, ['bye']);
    const fail = record(await connect(`${lines.wsBase}/run?mode=fail`));
    assert.deepEqual(await fail.closed, [1011, 'program exited with status 3']);
    assert.deepEqual(fail.messages, ['failing']);
    // Its stderr goes to the server's log, tagged with the endpoint.
    await waitUntil(() => lines.peer.stderr.some((line) => /exec \/run \[\d+\]: oops/.test(line)), EVENT_WAIT_MS, () => `"oops" in the log: ${lines.peer.stderr.join('\n')}`, 20);
  });

  test('the WebSocket closing ends the program and everything in its process group', async () => {
    const ws = await connect(`${lines.wsBase}/run?mode=group`);
    const seen = record(ws);
    const [background, shell] = (await seen.next()).split(' ').map(Number) as [number, number];
    assert.ok(alive(background) && alive(shell));
    ws.close(1000);
    await seen.closed;
    await waitUntil(() => !alive(shell), EVENT_WAIT_MS, 'the program to be gone', 20);
    await waitUntil(() => !alive(background), EVENT_WAIT_MS, 'its background child to be gone', 20);
  });

  test('--exec-binary: bytes both ways as binary messages', async () => {
    const ws = await connect(`${binary.wsBase}/cat`);
    const chunks: Buffer[] = [];
    let total = 0;
    const payload = Buffer.from([0, 1, 2, 10, 13, 255, 0x80, 0x0a]);
    const done = new Promise<void>((resolve) =>
      ws.on('message', (data, isBinary) => {
        assert.equal(isBinary, true);
        chunks.push(data);
        total += data.length;
        if (total >= payload.length * 2) resolve();
      }),
    );
    ws.send(payload);
    ws.send(payload);
    await done;
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat([payload, payload]));
    ws.close(1000);
  });
});

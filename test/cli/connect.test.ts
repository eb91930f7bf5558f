// `upshift connect` as a process against `upshift serve`: pipe mode (stdin lines → messages →
// stdout lines, exit status from the close code), its options, and the interactive prompt under
// a real pseudo-terminal (tmux): incoming messages printed above the line being typed without
// garbling it, commands, history, and the exit status after /close.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { CLI_JS, run, runCli, startServe, toolSkip, type Served } from './support/cli.js';
import { EVENT_WAIT_MS, waitUntil } from '../helpers/events.js';

const TMUX = '/usr/bin/tmux';

describe('connect in pipe mode', { timeout: 60_000 }, () => {
  let served: Served;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upshift-connect-'));
    const script = join(dir, 'status.sh');
    // Answers one line, then exits with the status it was given in the query.
    writeFileSync(script, '#!/bin/sh\nIFS= read -r line\necho "got $line"\nexit "${QUERY_STRING:-0}"\n');
    chmodSync(script, 0o755);
    served = await startServe(['--no-static', '-q', '--http2', '--echo', '/echo', '-s', 'chat', '--exec', '/status', '--', script]);
  });
  after(async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('stdin lines come back as stdout lines; end of input closes with 1000, exit 0', async () => {
    const result = await runCli(['connect', `${served.wsBase}/echo`], 'one\ntwo words\n\nünïcödé\n');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'one\ntwo words\n\nünïcödé\n');
    assert.match(result.stderr, /^connected to ws:\/\/127\.0\.0\.1:\d+\/echo \(HTTP\/1\.1\)$/m);
    assert.match(result.stderr, /^closed: 1000$/m);
  });

  test('--binary sends lines as binary messages, --binary-as base64 shows them; -s and --http2; -q', async () => {
    const [result, quiet] = await Promise.all([
      runCli(['connect', `${served.wsBase}/echo`, '--binary', '--binary-as', 'base64', '-s', 'chat', '--http2'], 'abc\n'),
      runCli(['connect', `${served.wsBase}/echo`, '-q', '--binary'], 'x\n'),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, Buffer.from('abc').toString('base64') + '\n');
    assert.match(result.stderr, /\(HTTP\/2, subprotocol chat\)/);
    assert.equal(quiet.stdout, '78\n');
    assert.equal(quiet.stderr, '');
  });

  test('the exit status follows the close code: --keep-open waits for the server, 1011 → 1, 1000 → 0', async () => {
    const [failing, fine] = await Promise.all([
      runCli(['connect', `${served.wsBase}/status?3`, '--keep-open'], 'hi\n'),
      runCli(['connect', `${served.wsBase}/status?0`, '--keep-open'], 'hi\n'),
    ]);
    assert.equal(failing.stdout, 'got hi\n');
    assert.match(failing.stderr, /closed: 1011 program exited with status 3/);
    assert.equal(failing.code, 1);
    assert.equal(fine.code, 0);
  });

  test('a refused handshake, a bad header and a missing URL', async () => {
    const [refused, badHeader, noUrl] = await Promise.all([
      runCli(['connect', `${served.wsBase}/nowhere`], ''),
      runCli(['connect', `${served.wsBase}/echo`, '-H', 'no colon'], ''),
      runCli(['connect'], ''),
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Unexpected server response: 404/);
    assert.equal(badHeader.code, 2);
    assert.match(badHeader.stderr, /-H needs 'Name: value'/);
    assert.equal(noUrl.code, 2);
    assert.match(noUrl.stderr, /missing URL/);
  });
});

/** A tmux server of our own (its own socket), for one pseudo-terminal. */
class Tmux {
  readonly socket: string;
  constructor(dir: string) {
    this.socket = join(dir, 'tmux.sock');
  }
  async cmd(...args: string[]): Promise<string> {
    const result = await run(TMUX, ['-S', this.socket, ...args], 5000);
    assert.equal(result.code, 0, `tmux ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }
  /** The visible screen, trailing blank lines dropped. */
  async screen(): Promise<string[]> {
    const lines = (await this.cmd('capture-pane', '-p', '-t', 'cli')).split('\n');
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
    return lines;
  }
  /** Polls the screen until `check` holds (bounded): the terminal has no events to wait for. */
  async waitFor(what: string, check: (lines: string[]) => boolean, ms = EVENT_WAIT_MS): Promise<string[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const lines = await this.screen();
      if (check(lines)) return lines;
      if (Date.now() > deadline) throw new Error(`screen never showed ${what}:\n${lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('connect interactively under a pseudo-terminal (tmux)', { timeout: 60_000, skip: toolSkip(TMUX, 'apt-get install tmux') }, () => {
  let served: Served;
  let dir: string;
  let tmux: Tmux;
  let peer: WebSocketConnection;
  const received: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upshift-tty-'));
    tmux = new Tmux(dir);
    served = await startServe(['--no-static', '-q', '--broadcast', '/room']);
    peer = await connect(`${served.wsBase}/room`);
    peer.on('message', (data, isBinary) => received.push(isBinary ? 'B:' + data.toString('hex') : String(data)));
  });
  after(async () => {
    peer?.terminate();
    if (existsSync(tmux.socket)) await run(TMUX, ['-S', tmux.socket, 'kill-server']);
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function peerGot(what: string): Promise<void> {
    await waitUntil(() => received.includes(what), EVENT_WAIT_MS, () => `the peer to get ${what}: ${JSON.stringify(received)}`, 20);
  }

  test('prompt, messages above the typed line, commands, history, exit status after /close', async () => {
    const status = join(dir, 'status');
    const history = join(dir, 'history');
    const command = `NO_COLOR=1 ${process.execPath} ${CLI_JS} connect ${served.wsBase}/room --history ${history}; echo $? > ${status}; sleep 60`;
    await tmux.cmd('new-session', '-d', '-s', 'cli', '-x', '100', '-y', '30', command);
    await tmux.waitFor('the prompt', (lines) => lines.some((l) => l.startsWith('connected to ')) && lines[lines.length - 1] === '>');

    // Half a line typed, then a message arrives: it is printed above, the typed text redrawn.
    await tmux.cmd('send-keys', '-t', 'cli', '-l', 'half typed');
    await tmux.waitFor('the typed text', (lines) => lines[lines.length - 1] === '> half typed');
    peer.send('incoming while typing');
    let screen = await tmux.waitFor('the message', (lines) => lines.includes('< incoming while typing'));
    assert.equal(screen[screen.length - 1], '> half typed');
    assert.equal(screen[screen.length - 2], '< incoming while typing');
    assert.ok(!screen.some((l) => l.includes('half typed<') || l.includes('typing>')), screen.join('\n'));
    await tmux.cmd('send-keys', '-t', 'cli', '-l', ' and finished');
    await tmux.cmd('send-keys', '-t', 'cli', 'Enter');
    await peerGot('half typed and finished');

    // Commands: binary in both directions, ping with its pong, //escape, an unknown command.
    await tmux.cmd('send-keys', '-t', 'cli', '/binary 00 ff 10', 'Enter');
    await peerGot('B:00ff10');
    peer.send(Buffer.from([0xca, 0xfe]));
    await tmux.waitFor('the binary message', (lines) => lines.includes('< [binary 2 B] cafe'));
    await tmux.cmd('send-keys', '-t', 'cli', '/ping hello', 'Enter');
    await tmux.waitFor('the pong', (lines) => lines.some((l) => /^< pong \(\d+\.\d ms\) hello$/.test(l)));
    await tmux.cmd('send-keys', '-t', 'cli', '//not a command', 'Enter');
    await peerGot('/not a command');
    await tmux.cmd('send-keys', '-t', 'cli', '/frobnicate', 'Enter');
    await tmux.waitFor('the error', (lines) => lines.some((l) => l.startsWith('unknown command /frobnicate')));

    // History: Up brings back the last line sent.
    await tmux.cmd('send-keys', '-t', 'cli', 'Up');
    await tmux.waitFor('the recalled line', (lines) => lines[lines.length - 1] === '> /frobnicate');
    await tmux.cmd('send-keys', '-t', 'cli', 'C-u');

    // /close with a code that is not 1000/1001: the server answers with the same code (its
    // reason is its own: none), the exit status is 1, and no prompt is drawn after it.
    await tmux.cmd('send-keys', '-t', 'cli', '/close 4000 done here', 'Enter');
    screen = await tmux.waitFor('the close', (lines) => lines.includes('closed: 4000'));
    assert.equal(screen[screen.length - 1], 'closed: 4000');
    await waitUntil(() => existsSync(status) && readFileSync(status, 'utf8') !== '', EVENT_WAIT_MS, 'connect to exit', 20);
    assert.equal(readFileSync(status, 'utf8').trim(), '1');
    assert.deepEqual(readFileSync(history, 'utf8').trim().split('\n').slice(-3), ['//not a command', '/frobnicate', '/close 4000 done here']);
  });
});

// Helpers for the CLI tests: `upshift` run as a real process (dist/src/cli/main.js), a serve
// process on a free port, tools that may be missing (skipped with an install hint outside CI,
// a failure under CI=true), and the test output folder.

import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { ChildPeer, REPO_ROOT } from '../../peers/support/peers.js';
import { skipUnlessInstalled } from '../../peers/support/requirements.js';

export const CLI_JS = `${REPO_ROOT}dist/src/cli/main.js`;
/** Screenshots and reports the tests leave behind for a human to look at (gitignored). */
export const TEST_OUTPUT = `${REPO_ROOT}test-output/cli/`;

export function testOutput(): string {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return TEST_OUTPUT;
}

/** false when `path` exists; else the reason to skip — except under CI, where nothing is skipped. */
export function toolSkip(path: string, hint: string): string | false {
  return skipUnlessInstalled(path, hint);
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `upshift args…` to completion (bounded), with `input` on stdin. */
export function runCli(args: string[], input = '', timeoutMs = 15_000, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI_JS, ...args], { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(input);
  });
}

/** Runs any program to completion (bounded). */
export function run(command: string, args: string[], timeoutMs = 15_000, encoding: BufferEncoding = 'utf8'): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, encoding, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Served {
  peer: ChildPeer;
  port: number;
  /** http://127.0.0.1:PORT (or https://). */
  base: string;
  /** ws://127.0.0.1:PORT (or wss://). */
  wsBase: string;
  /** The lines `serve` printed at start (its endpoints, the certificate…). */
  banner: string[];
  stop(): Promise<void>;
}

/** `upshift serve -p 0 …` as a process; resolves once it is listening. */
export async function startServe(args: string[]): Promise<Served> {
  const peer = new ChildPeer(process.execPath, [CLI_JS, 'serve', '-p', '0', ...args]);
  try {
    const first = await peer.waitForLine(/^listening on /, 15_000);
    const base = /^listening on (\S+?)\/$/.exec(first)![1]!;
    const banner = [first];
    // The banner ends with the line saying how to stop the server.
    for (;;) {
      const line = await peer.nextLine(5000, 'the rest of the banner');
      banner.push(line);
      if (line.startsWith('Ctrl-C')) break;
    }
    const port = Number(/:(\d+)$/.exec(base)![1]);
    return { peer, port, base, wsBase: base.replace(/^http/, 'ws'), banner, stop: () => peer.stop() };
  } catch (error) {
    await peer.stop();
    throw error;
  }
}

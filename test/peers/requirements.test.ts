// The real-peer gate (test/peers/support/requirements.ts) seen from outside: a suite that needs a
// peer runs in a child process whose PATH hides the peer or holds a stand-in for it. Outside CI
// every test is skipped on its own with the install command; under CI every test fails with it.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./support/fixtures/needs-peer.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'upshift-peer-gate-'));

/** A folder holding stand-in executables: name -> exit status. */
function binDir(name: string, programs: Record<string, number>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [program, status] of Object.entries(programs)) {
    writeFileSync(join(dir, program), `#!/bin/sh\nexit ${status}\n`);
    chmodSync(join(dir, program), 0o755);
  }
  return dir;
}

const EMPTY = binDir('empty', {});
const FAKE_CURL = binDir('curl', { curl: 0 });
const PYTHON_WITHOUT_MODULE = binDir('python-bare', { python3: 1 });
const PYTHON_WITH_MODULE = binDir('python-ok', { python3: 0 });

interface Run {
  status: number | null;
  out: string;
  count(name: string): number;
}

/** Runs the fixture suite for `peer` with only `path` and, if given, CI in the environment. */
function runSuite(peer: string, path: string, ci?: string): Run {
  const env: NodeJS.ProcessEnv = { PATH: path };
  if (ci !== undefined) env.CI = ci;
  const run = spawnSync(process.execPath, ['--test-reporter=tap', FIXTURE, peer], { env, encoding: 'utf8', timeout: 20_000 });
  const out = run.stdout + run.stderr;
  return {
    status: run.status,
    out,
    count: (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? NaN),
  };
}

describe('real peers: one gate for every suite', { timeout: 60_000 }, () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  it('outside CI, a missing peer skips each test with the apt-get command, and runs no hook', () => {
    for (const ci of [undefined, '', 'false', '0']) {
      const run = runSuite('curl', EMPTY, ci);
      assert.equal(run.status, 0, `CI=${ci}\n${run.out}`);
      assert.equal(run.count('tests'), 2);
      assert.equal(run.count('skipped'), 2, 'each test is a skip of its own');
      assert.equal(run.out.match(/# SKIP needs curl: curl is not on PATH \(apt-get install curl\)/g)?.length, 2, run.out);
      assert.doesNotMatch(run.out, /hook ran/);
    }
  });

  it('under CI, a missing peer fails each test with the apt-get command', () => {
    for (const ci of ['true', '1']) {
      const run = runSuite('curl', EMPTY, ci);
      assert.equal(run.status, 1, run.out);
      assert.equal(run.count('fail'), 2, run.out);
      assert.equal(run.count('skipped'), 0);
      assert.equal(run.out.match(/needs curl: curl is not on PATH \(apt-get install curl\)\. CI runs every real-peer test/g)?.length, 2, run.out);
      assert.doesNotMatch(run.out, /hook ran/);
    }
  });

  it('a peer found on PATH runs the tests and the hooks, with its absolute path', () => {
    for (const ci of [undefined, 'true']) {
      const run = runSuite('curl', FAKE_CURL, ci);
      assert.equal(run.status, 0, run.out);
      assert.equal(run.count('pass'), 2);
      assert.ok(run.out.includes(`before hook ran; curl is ${join(FAKE_CURL, 'curl')}`), run.out);
      assert.match(run.out, /after hook ran/);
    }
  });

  it('python3 without the websockets module counts as missing; a later python3 on PATH that has it is taken', () => {
    const bare = runSuite('python3-websockets', PYTHON_WITHOUT_MODULE);
    assert.equal(bare.count('skipped'), 2, bare.out);
    assert.match(bare.out, /# SKIP needs python3-websockets: \S+python3 cannot import websockets: .*\(apt-get install python3-websockets\)/);

    const both = runSuite('python3-websockets', `${PYTHON_WITHOUT_MODULE}:${PYTHON_WITH_MODULE}`, 'true');
    assert.equal(both.status, 0, both.out);
    assert.equal(both.count('pass'), 2);
    assert.ok(both.out.includes(`python3-websockets is ${join(PYTHON_WITH_MODULE, 'python3')}`), both.out);
  });

  it('names the Debian package of every peer', () => {
    for (const [peer, debian] of [['chromium', 'chromium'], ['nghttp', 'nghttp2-client'], ['openssl', 'openssl']]) {
      const run = runSuite(peer!, EMPTY);
      assert.equal(run.count('skipped'), 2, run.out);
      assert.ok(run.out.includes(`(apt-get install ${debian})`), run.out);
    }
  });
});

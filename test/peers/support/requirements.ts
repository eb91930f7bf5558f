// The one place that decides what a test does when a real peer (a program outside Node) is
// missing. Outside CI each test that needs it is reported as skipped, one by one, with the
// command that installs the peer. Under CI (CI set to anything but '', '0' or 'false') the same
// tests FAIL with that command: a CI run that did not talk to every peer must not pass.
//
// Peers are looked up on PATH, as a user's shell would, so hiding one is honest:
//   PATH=/somewhere/without/curl node --test …
//
// Use it in place of node:test's test/it and hooks:
//   const peers = requirePeers('curl');
//   const { test, before, after } = peers;
//   const CURL = peers.path('curl');

import * as nodeTest from 'node:test';
import type { HookOptions, TestContext, TestOptions } from 'node:test';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export type Peer = 'chromium' | 'python3-websockets' | 'curl' | 'nghttp' | 'openssl';

interface PeerSpec {
  /** The command looked up on PATH. */
  command: string;
  /** The Debian package that provides it. */
  debian: string;
  /** A further check once the command is found; returns why it is unusable, or null. */
  probe?: (path: string) => string | null;
}

const PEERS: Record<Peer, PeerSpec> = {
  chromium: { command: 'chromium', debian: 'chromium' },
  'python3-websockets': {
    command: 'python3',
    debian: 'python3-websockets',
    probe: (python) => {
      const run = spawnSync(python, ['-c', 'import websockets'], { encoding: 'utf8', timeout: 10_000 });
      return run.status === 0 ? null : `${python} cannot import websockets: ${(run.stderr || String(run.error)).trim()}`;
    },
  },
  curl: { command: 'curl', debian: 'curl' },
  nghttp: { command: 'nghttp', debian: 'nghttp2-client' },
  openssl: { command: 'openssl', debian: 'openssl' },
};

/** True when the environment says this is a CI run. */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/**
 * For a whole suite that needs an installed file (a binary at a fixed path): outside CI, the
 * reason to skip it (also logged) when the file is missing; under CI (or when it is there) false,
 * so a missing peer fails the suite's tests instead of hiding them.
 */
export function skipUnlessInstalled(path: string, install: string, what = 'tests'): string | false {
  if (inCI() || existsSync(path)) return false;
  const reason = `${path} is not installed (${install})`;
  console.log(`# skipping the ${what}: ${reason}`);
  return reason;
}

/** The absolute paths of the executables named `command` on PATH, in PATH order. */
export function findOnPath(command: string, path = process.env.PATH ?? ''): string[] {
  const found: string[] = [];
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      if (!found.includes(candidate)) found.push(candidate);
    } catch {
      // not there, or not executable: keep looking
    }
  }
  return found;
}

type Found = { path: string } | { missing: string };
const found = new Map<Peer, Found>();

/**
 * Looks a peer up once per process: the first command on PATH that passes the probe (a pyenv
 * python3 early on PATH may lack the websockets module that /usr/bin/python3 has).
 */
function lookUp(peer: Peer): Found {
  let result = found.get(peer);
  if (result === undefined) {
    const spec = PEERS[peer];
    const candidates = findOnPath(spec.command);
    const problems: string[] = [];
    for (const path of candidates) {
      const problem = spec.probe?.(path) ?? null;
      if (problem === null) {
        result = { path };
        break;
      }
      problems.push(problem);
    }
    if (result === undefined) {
      const problem = candidates.length === 0 ? `${spec.command} is not on PATH` : problems.join('; ');
      result = { missing: `${problem} (apt-get install ${spec.debian})` };
    }
    found.set(peer, result);
  }
  return result;
}

type Body = (t: TestContext) => unknown;
type Hook = (fn: () => unknown, options?: HookOptions) => void;

interface GatedTest {
  (name: string, fn: Body): void;
  (name: string, options: TestOptions, fn: Body): void;
}

export interface PeerGate {
  /** Why the tests cannot run ('' when every peer is there): what is missing and how to install it. */
  readonly missing: string;
  /** The absolute path of a peer's command (the bare command name when it is missing). */
  path(peer: Peer): string;
  /** node:test's test/it and hooks, bound to the peers being there. */
  readonly test: GatedTest;
  readonly it: GatedTest;
  readonly before: Hook;
  readonly after: Hook;
  readonly beforeEach: Hook;
  readonly afterEach: Hook;
}

/**
 * Tests and hooks that need `peers`. With every peer present they are node:test's own. With one
 * missing, hooks are not registered (they would start the peer) and each test is skipped with the
 * install command, or under CI fails with it.
 */
export function requirePeers(...peers: Peer[]): PeerGate {
  const reasons: string[] = [];
  for (const peer of peers) {
    const result = lookUp(peer);
    if ('missing' in result) reasons.push(`needs ${peer}: ${result.missing}`);
  }
  const missing = reasons.join('; ');
  const ci = inCI();

  const gated: GatedTest = (name: string, optionsOrFn: TestOptions | Body, maybeFn?: Body): void => {
    const options = typeof optionsOrFn === 'function' ? {} : optionsOrFn;
    const fn = typeof optionsOrFn === 'function' ? optionsOrFn : maybeFn!;
    if (missing === '') {
      void nodeTest.test(name, options, fn as nodeTest.TestFn);
    } else if (ci) {
      void nodeTest.test(name, options, () => {
        throw new Error(`${missing}. CI runs every real-peer test; install the peer on the CI machine (see .ci/run).`);
      });
    } else {
      void nodeTest.test(name, { ...options, skip: missing });
    }
  };
  const hook =
    (register: (fn: nodeTest.HookFn, options?: HookOptions) => void): Hook =>
    (fn, options) => {
      if (missing === '') register(fn, options);
    };

  return {
    missing,
    path: (peer) => {
      const result = lookUp(peer);
      return 'path' in result ? result.path : PEERS[peer].command;
    },
    test: gated,
    it: gated,
    before: hook(nodeTest.before),
    after: hook(nodeTest.after),
    beforeEach: hook(nodeTest.beforeEach),
    afterEach: hook(nodeTest.afterEach),
  };
}

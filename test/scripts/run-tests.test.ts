// scripts/run-tests.mjs leaves out compiled tests whose source is gone (the output of a renamed or
// deleted test that tsc left behind), instead of running them under their old name; it ends its
// output with the counts and the failed tests, each with its file, line and cause; --repeat N says
// how often each test failed over N rounds.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The runner started as a process of its own (not as a test file of this run) on `args`. */
function runTests(args: string[]): SpawnSyncReturns<string> {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, [join(REPO, 'scripts', 'run-tests.mjs'), ...args], { cwd: REPO, env, encoding: 'utf8', timeout: 30_000 });
}

/**
 * A compiled test file made up for one test, as dist/test/scripts/<name>.test.js, with an empty
 * source beside it unless `withSource` is false; removed by `remove()`.
 */
function fixture(kind: string, lines: string[], withSource = true): { name: string; file: string; remove(): void } {
  const name = `zz-${kind}-${process.pid}.test`;
  const compiled = join(REPO, 'dist', 'test', 'scripts', `${name}.js`);
  const source = join(REPO, 'test', 'scripts', `${name}.ts`); // only its existence matters
  writeFileSync(compiled, [...lines, ''].join('\n'));
  if (withSource) writeFileSync(source, '');
  return {
    name,
    file: `dist/test/scripts/${name}.js`,
    remove: () => {
      rmSync(compiled, { force: true });
      rmSync(source, { force: true });
    },
  };
}

describe('scripts/run-tests.mjs', { timeout: 60_000 }, () => {
  it('does not run a compiled test whose source is gone', () => {
    const stale = fixture('stale', ["import { it } from 'node:test';", "it('stale output of a renamed test', () => { throw new Error('ran'); });"], false);
    try {
      const run = runTests([stale.name]);
      const out = run.stdout + run.stderr;
      assert.ok(out.includes(`# not running ${stale.file}: stale output, its source test/scripts/${stale.name}.ts is gone`), out);
      assert.match(out, /no test files found/);
      assert.doesNotMatch(out, /stale output of a renamed test/);
      assert.equal(run.status, 1);
    } finally {
      stale.remove();
    }
  });

  it('ends its output with the counts and each failed test, its place and its cause', () => {
    const failing = fixture('failing', [
      "import { describe, it, before } from 'node:test';",
      "it('passes', () => {});",
      "it('throws', () => { throw new RangeError('first line\\nsecond line'); });",
      "it.skip('is skipped', () => {});",
      "describe('a suite whose hook throws', () => { before(() => { throw new Error('hook broke'); }); it('never runs', () => {}); });",
    ]);
    try {
      const run = runTests([failing.name]);
      const tail = run.stdout.trimEnd().split('\n').slice(-5);
      assert.deepEqual(tail.slice(0, 1), ['tests: 1 passed, 2 failed, 1 skipped, 0 todo'], run.stdout);
      assert.ok(tail.includes(`failed: ${failing.file}:3 throws: RangeError: first line | second line`), tail.join('\n'));
      assert.ok(tail.includes(`failed: ${failing.file}:5 a suite whose hook throws: Error: hook broke`), tail.join('\n'));
      assert.equal(tail.at(-1), 'tests: exit status 1');
      assert.equal(run.status, 1);
    } finally {
      failing.remove();
    }
  });

  it('--repeat N runs the selection N times and says in which rounds each test failed', () => {
    const counter = join(REPO, 'dist', 'test', 'scripts', `zz-flaky-${process.pid}.count`);
    // Fails in the second round only: the rounds are counted in a file.
    const flaky = fixture('flaky', [
      "import { it } from 'node:test';",
      "import { existsSync, readFileSync, writeFileSync } from 'node:fs';",
      `const file = ${JSON.stringify(counter)};`,
      "const round = (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0) + 1;",
      'writeFileSync(file, String(round));',
      "it('steady', () => {});",
      "it('flaky', () => { if (round === 2) throw new Error('round two'); });",
    ]);
    try {
      const run = runTests(['--repeat', '3', flaky.name]);
      assert.deepEqual(
        run.stdout.split('\n').filter((line) => /^(round|tests:|failed)/.test(line)),
        [
          'round 1 of 3: 2 passed, 0 failed, 0 skipped, 0 todo',
          'round 2 of 3: 1 passed, 1 failed, 0 skipped, 0 todo',
          `failed: ${flaky.file}:7 flaky: Error: round two`,
          'round 3 of 3: 2 passed, 0 failed, 0 skipped, 0 todo',
          'tests: 3 rounds, 1 test(s) failed in some round',
          `failed in 1 of 3 rounds (2): ${flaky.file}:7 flaky`,
          'tests: exit status 1',
        ],
        run.stdout,
      );
      assert.equal(run.status, 1);
    } finally {
      flaky.remove();
      rmSync(counter, { force: true });
    }
  });
});

// scripts/run-tests.mjs leaves out compiled tests whose source is gone (the output of a renamed or
// deleted test that tsc left behind), instead of running them under their old name.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

describe('scripts/run-tests.mjs', { timeout: 60_000 }, () => {
  it('does not run a compiled test whose source is gone', () => {
    const name = `zz-stale-${process.pid}.test.js`;
    const stale = join(REPO, 'dist', 'test', 'scripts', name);
    writeFileSync(stale, "import { it } from 'node:test';\nit('stale output of a renamed test', () => { throw new Error('ran'); });\n");
    try {
      const env = { ...process.env };
      delete env.NODE_TEST_CONTEXT; // this child is a runner of its own, not a test file of ours
      const run = spawnSync(process.execPath, [join(REPO, 'scripts', 'run-tests.mjs'), name], { cwd: REPO, env, encoding: 'utf8', timeout: 30_000 });
      const out = run.stdout + run.stderr;
      assert.ok(out.includes(`# not running dist/test/scripts/${name}: stale output, its source test/scripts/${name.replace(/\.js$/, '.ts')} is gone`), out);
      assert.match(out, /no test files found/);
      assert.doesNotMatch(out, /stale output of a renamed test/);
      assert.equal(run.status, 1);
    } finally {
      rmSync(stale, { force: true });
    }
  });
});

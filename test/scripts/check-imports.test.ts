// scripts/check-imports.mjs on small source trees made for the test: cycles (type-only ones too),
// imports up the layering, the allow-list, and the repository's own src/.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

type CheckImports = (root?: string, allowlist?: string) => { lines: string[]; failures: number };
// Plain JavaScript outside the TypeScript project: loaded by URL (this file runs from dist/test/scripts/).
const SCRIPT = new URL('../../../scripts/check-imports.mjs', import.meta.url);
const { checkImports } = (await import(SCRIPT.href)) as { checkImports: CheckImports };
const scratch = mkdtempSync(join(tmpdir(), 'upshift-imports-'));
let trees = 0;

/** Writes a source tree (path -> text) and an allow-list; returns the check's exit status and output. */
function check(sources: Record<string, string>, allowlist = ''): { status: number; out: string } {
  const dir = join(scratch, String(trees++));
  for (const [path, text] of Object.entries(sources)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  writeFileSync(join(dir, 'allow.txt'), allowlist);
  const { lines, failures } = checkImports(join(dir, 'src'), join(dir, 'allow.txt'));
  return { status: failures > 0 ? 1 : 0, out: lines.join('\n') };
}

describe('scripts/check-imports.mjs', { timeout: 60_000 }, () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('accepts imports within a folder and down the layers', () => {
    const { status, out } = check({
      'src/util/ticker.ts': 'export const t = 1;\n',
      'src/protocol/frames.ts': "import { t } from '../util/ticker.js';\nimport { createHash } from 'node:crypto';\nexport const f = t;\n",
      'src/protocol/mask.ts': "import { f } from './frames.js';\nexport const m = f;\n",
      'src/extensions/deflate/codec.ts': "import { m } from '../../protocol/mask.js';\nexport const c = m;\n",
      'src/server/server.ts': "import { c } from '../extensions/deflate/codec.js';\nexport const s = c;\n",
      'src/index.ts': "export * from './server/server.js';\n",
      'src/demo/server.ts': "import { s } from '../index.js';\n",
    });
    assert.equal(status, 0, out);
    assert.match(out, /0 cycle\/layering finding\(s\)/);
  });

  it('reports a cycle, also when one side only imports types', () => {
    const { status, out } = check({
      'src/client/connect.ts': "import { pool } from './http2.js';\nexport const connect = pool;\n",
      'src/client/http2.ts': "import type { Options } from './connect.js';\nexport const pool = 1;\n",
    });
    assert.equal(status, 1);
    assert.match(out, /^cycle: src\/client\/connect\.ts <-> src\/client\/http2\.ts$/m);
  });

  it('reports imports up the layering and between folders of the same rank, in every form', () => {
    const { status, out } = check({
      'src/protocol/a.ts': "export type { Limits } from '../connection/limits.js';\n",
      'src/connection/limits.ts': "import('../upgrade/router.js');\nexport type Limits = number;\n",
      'src/upgrade/router.ts': "// import { x } from '../server/s.js' is only a comment\nexport const r = 'import { y } from \"../server/s.js\"';\n",
      'src/client/c.ts': "import { type S } from '../server/s.js';\n",
      'src/server/s.ts': 'export type S = 1;\n',
      'src/index.ts': "import './demo/d.js';\n",
      'src/demo/d.ts': '',
    });
    assert.equal(status, 1);
    const found = out.split('\n').filter((line) => line.startsWith('layer: '));
    assert.deepEqual(found, [
      'layer: src/client/c.ts -> src/server/s.ts (client may not import server)',
      'layer: src/connection/limits.ts -> src/upgrade/router.ts (connection may not import upgrade)',
      'layer: src/index.ts -> src/demo/d.ts (index may not import demo)',
      'layer: src/protocol/a.ts -> src/connection/limits.ts (protocol may not import connection)',
    ]);
    assert.doesNotMatch(out, /router\.ts ->/, 'comments and strings are not imports');
  });

  it('tolerates allow-listed findings and fails on stale allow-list lines', () => {
    const sources = {
      'src/server/a.ts': "import './b.js';\n",
      'src/server/b.ts': "import './a.js';\n",
      'src/util/u.ts': "import '../server/a.js';\n",
    };
    const listed = 'cycle: src/server/a.ts <-> src/server/b.ts\nlayer: src/util/u.ts -> src/server/a.ts (util may not import server)\n';
    const allowed = check(sources, `# known\n${listed}`);
    assert.equal(allowed.status, 0, allowed.out);
    assert.match(allowed.out, /\(2 allowed\), 0 failure/);

    const partly = check(sources, 'cycle: src/server/a.ts <-> src/server/b.ts\n');
    assert.equal(partly.status, 1);
    assert.match(partly.out, /\(1 allowed\), 1 failure/);

    const stale = check({ 'src/server/a.ts': '' }, listed);
    assert.equal(stale.status, 1);
    assert.equal(stale.out.match(/^stale allow-list entry/gm)?.length, 2, stale.out);
  });

  it('rejects a folder that has no rank', () => {
    const { status, out } = check({ 'src/misc/x.ts': '' });
    assert.equal(status, 1);
    assert.match(out, /unknown layer: src\/misc\/x\.ts is in 'misc'/);
  });

  it("passes on this repository's src/ with its allow-list", () => {
    const { lines, failures } = checkImports();
    assert.equal(failures, 0, lines.join('\n'));
  });
});

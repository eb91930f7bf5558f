// scripts/coverage-gate.mjs on LCOV reports made up for the test, over this repository's modules:
// what counts (src/ without src/demo/), the thresholds, and modules no test loaded.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Thresholds {
  lines: number;
  branches: number;
  files?: Record<string, { lines?: number; branches?: number }>;
}
type Gate = (lcov: string, thresholds?: Thresholds, cwd?: string) => { ok: boolean; lines: string[] };

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
// Plain JavaScript outside the TypeScript project: loaded by URL (this file runs from dist/test/scripts/).
const { gate, THRESHOLDS } = (await import(new URL('../../../scripts/coverage-gate.mjs', import.meta.url).href)) as { gate: Gate; THRESHOLDS: Thresholds };

/** src/**.ts modules that hold code, as the gate names them (the ones in src/demo/ included). */
function modules(dir = join(REPO, 'src'), out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) modules(path, out);
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) out.push(relative(REPO, path).split('\\').join('/'));
  }
  return out;
}

/** One LCOV record for the compiled form of a source module (or for any other path). */
function record(path: string, lines: [number, number], branches: [number, number]): string {
  const compiled = path.startsWith('src/') ? `dist/${path.replace(/\.ts$/, '.js')}` : path;
  return `TN:\nSF:${compiled}\nBRF:${branches[0]}\nBRH:${branches[1]}\nLH:${lines[1]}\nLF:${lines[0]}\nend_of_record\n`;
}

const library = modules().filter((m) => !m.startsWith('src/demo/') && !m.startsWith('src/cli/'));
const LOOSE: Thresholds = { lines: 90, branches: 90 };

describe('scripts/coverage-gate.mjs', () => {
  it('sums the library modules only: not src/demo/, not tests, not bench', () => {
    const report =
      library.map((m) => record(m, [100, 95], [10, 9])).join('') +
      record('src/demo/server.ts', [100, 0], [10, 0]) +
      record('dist/test/protocol/mask.test.js', [100, 0], [10, 0]) +
      record('dist/bench/run.js', [100, 0], [10, 0]);
    const { ok, lines } = gate(report, LOOSE, REPO);
    assert.equal(ok, true, lines.join('\n'));
    const n = library.length;
    assert.ok(
      lines.includes(`coverage (src/ without src/demo/ and src/cli/): lines 95.00% (${95 * n}/${100 * n}), branches 90.00% (${9 * n}/${10 * n}); required: lines 90%, branches 90%`),
      lines.join('\n'),
    );
  });

  it('fails below the overall line or branch threshold', () => {
    const lowLines = gate(library.map((m) => record(m, [100, 89], [10, 10])).join(''), LOOSE, REPO);
    assert.equal(lowLines.ok, false);
    assert.ok(lowLines.lines.includes('coverage: FAIL: line coverage 89.00% is below 90%'), lowLines.lines.join('\n'));
    const lowBranches = gate(library.map((m) => record(m, [100, 100], [100, 89])).join(''), LOOSE, REPO);
    assert.equal(lowBranches.ok, false);
    assert.ok(lowBranches.lines.includes('coverage: FAIL: branch coverage 89.00% is below 90%'), lowBranches.lines.join('\n'));
  });

  it('applies per-file thresholds', () => {
    const [weak, ...rest] = library;
    const report = record(weak!, [100, 100], [20, 17]) + rest.map((m) => record(m, [100, 100], [100, 100])).join('');
    const strict = gate(report, { ...LOOSE, files: { [weak!]: { branches: 90 } } }, REPO);
    assert.equal(strict.ok, false);
    assert.ok(strict.lines.includes(`coverage: FAIL: ${weak}: branches 85.00% is below 90%`), strict.lines.join('\n'));
    assert.equal(gate(report, { ...LOOSE, files: { [weak!]: { branches: 85 } } }, REPO).ok, true);
  });

  it('counts a module that no test loaded as uncovered', () => {
    const withCode = library.find((m) => m === 'src/protocol/mask.ts')!;
    const report = library
      .filter((m) => m !== withCode)
      .map((m) => record(m, [100, 100], [10, 10]))
      .join('');
    const { lines } = gate(report, LOOSE, REPO);
    assert.ok(
      lines.some((line) => line.startsWith(`coverage: ${withCode} was not loaded by any test: counted as uncovered (`)),
      lines.join('\n'),
    );
  });

  it('fails on a report without the library (coverage not measured)', () => {
    assert.equal(gate('', LOOSE, REPO).ok, false);
  });

  it('holds the overall gate at 93% branches or more, and per-file gates for the HTTP/2 adapters', () => {
    assert.ok(THRESHOLDS.branches >= 93);
    assert.deepEqual(Object.keys(THRESHOLDS.files ?? {}).sort(), ['src/client/http2-transport.ts', 'src/server/http2-stream.ts']);
  });
});

// What `npm pack` ships, tried the way a user gets it: the packed files copied into a
// node_modules/upshift of a throwaway project, then loaded with import and with require().
// The package is ESM only; require() of it works from Node 20.19 on (require(esm)), which is why
// engines says >=20.19.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The files `npm pack` would put in the tarball (scripts not run: dist/ is already built). */
function packedFiles(): string[] {
  // Under `npm test`, npm_execpath is npm's own CLI; otherwise npm is found on PATH.
  const npm = process.env.npm_execpath;
  const command = npm !== undefined && npm.endsWith('.js') ? process.execPath : 'npm';
  const args = [...(command === process.execPath ? [npm!] : []), 'pack', '--dry-run', '--json', '--ignore-scripts'];
  const run = spawnSync(command, args, { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `npm pack --dry-run failed: ${run.error ?? run.stderr}`);
  const [result] = JSON.parse(run.stdout) as { files: { path: string }[] }[];
  return result!.files.map((file) => file.path).sort();
}

function node(cwd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 30_000 });
}

describe('the published package', { timeout: 120_000 }, () => {
  let files: string[];
  let project: string;

  before(() => {
    files = packedFiles();
    project = mkdtempSync(join(tmpdir(), 'upshift-package-'));
    // The project's own package.json ends the package scope here, so no package.json further up
    // (one named upshift, say) can take the import by self-reference.
    writeFileSync(join(project, 'package.json'), '{ "name": "try-upshift", "private": true }\n');
    const installed = join(project, 'node_modules', 'upshift');
    for (const file of files) {
      mkdirSync(dirname(join(installed, file)), { recursive: true });
      cpSync(join(REPO, file), join(installed, file));
    }
  });
  after(() => {
    if (project !== undefined) rmSync(project, { recursive: true, force: true });
  });

  it('ships the compiled library and its types, and nothing that listens, maps to missing sources or tests', () => {
    assert.ok(files.includes('package.json'));
    assert.ok(files.includes('dist/src/index.js'));
    assert.ok(files.includes('dist/src/index.d.ts'));
    const unwanted = files.filter(
      (file) =>
        file.startsWith('dist/src/demo/') || // the demo server listens when imported
        file.endsWith('.map') || // would point at src/*.ts, which is not shipped
        (file.endsWith('.ts') && !file.endsWith('.d.ts')) ||
        file.startsWith('dist/test/') ||
        file.startsWith('dist/bench/') ||
        file.includes('tsbuildinfo'),
    );
    assert.deepEqual(unwanted, []);
  });

  it('builds when packed, not when installed', () => {
    assert.equal(manifest.scripts.prepack, 'node scripts/build.mjs');
    for (const script of ['prepare', 'preinstall', 'install', 'postinstall']) assert.equal(manifest.scripts[script], undefined, script);
  });

  it('loads with import from the installed files', () => {
    writeFileSync(join(project, 'use.mjs'), "import { WebSocketServer, connect } from 'upshift';\nconsole.log(typeof WebSocketServer, typeof connect);\n");
    const run = node(project, ['use.mjs']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'function function\n');
  });

  it('loads with require() on this Node, as engines (>=20.19, require(esm)) promises', () => {
    assert.equal(manifest.engines.node, '>=20.19');
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    assert.ok(major > 20 || (major === 20 && minor >= 19), `Node ${process.versions.node} is older than engines allows`);
    writeFileSync(join(project, 'use.cjs'), "const { WebSocketServer, connect } = require('upshift');\nconsole.log(typeof WebSocketServer, typeof connect);\n");
    const run = node(project, ['use.cjs']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'function function\n');
  });
});

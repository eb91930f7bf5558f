// docs/api.md documents every export of the package: each name the built index exports at run
// time, and each type src/index.ts exports by name, appears in it as `code`. (Types re-exported
// with `export *` belong to the pub/sub and WAMP guides the reference links to.)

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function documented(reference: string, name: string): boolean {
  return new RegExp('`[^`\\n]*\\b' + name + '\\b[^`\\n]*`').test(reference);
}

test('docs/api.md names every export of the package', async () => {
  const reference = readFileSync(join(repo, 'docs', 'api.md'), 'utf8');
  const runtime = Object.keys((await import(pathToFileURL(join(repo, 'dist', 'src', 'index.js')).href)) as object);
  const index = readFileSync(join(repo, 'src', 'index.ts'), 'utf8');
  const named = [...index.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((match) =>
    match[1]!
      .split(',')
      .map((item) => item.trim().replace(/^type /, ''))
      .filter((item) => item !== '')
      .map((item) => item.split(/\s+as\s+/).pop()!),
  );
  assert.ok(runtime.includes('WebSocketServer') && named.includes('ClientOptions'), 'the exports were read');
  const missing = [...new Set([...runtime, ...named])].filter((name) => !documented(reference, name)).sort();
  assert.deepEqual(missing, [], 'exports not named in docs/api.md');
});

#!/usr/bin/env node
// Builds into an emptied dist/: tsc never deletes the output of a source that was renamed or
// removed, and scripts/run-tests.mjs would still run such a stale test. (dist/.tsbuildinfo goes
// too, so this is a full build; `npx tsc -p .` stays the quick incremental one.)

import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(repo, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', repo], { stdio: 'inherit' });
process.exit(result.status ?? 1);

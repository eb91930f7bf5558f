// Runs every compiled test file under dist/test with node:test.
// Node 20's `--test` does not expand globs itself, so we list the files here. A compiled test
// whose source (test/**/*.test.ts) is gone is stale output of a renamed or deleted test: it is
// left out, with a note (scripts/build.mjs empties dist/ before building, so npm test has none).
//
// Usage: node scripts/run-tests.mjs [--coverage] [substring-filter ...]
//   --coverage  measure coverage (Node's --experimental-test-coverage), write dist/coverage/lcov.info
//               and, for a run of the whole suite, apply the gate of scripts/coverage-gate.mjs.
//               Outside CI, a run that skipped tests (a real peer is missing) covers less: the gate
//               then reports without failing. Under CI nothing is skipped: a missing peer fails.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gate } from './coverage-gate.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(repo);

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const coverage = args.includes('--coverage');
const filters = args.filter((a) => a !== '--coverage');
let files = [];
for (const file of existsSync('dist/test') ? collect('dist/test', []) : []) {
  const source = relative('dist', file).replace(/\.js$/, '.ts');
  if (existsSync(source)) files.push(file);
  else console.log(`# not running ${file}: stale output, its source ${source.split(sep).join('/')} is gone`);
}
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}

const flags = ['--test', '--test-concurrency=2'];
const lcov = join('dist', 'coverage', 'lcov.info');
// One counts file per run: a test may start a runner of its own while this one runs.
const countsFile = join('dist', 'coverage', `counts-${process.pid}.json`);
mkdirSync(dirname(countsFile), { recursive: true });
// Node's default reporter (spec on a terminal, tap otherwise), the counts and failures (for the
// summary below and the gate: was anything skipped?), and under --coverage an LCOV file for the gate.
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
flags.push(
  `--test-reporter=${reporter}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${pathToFileURL(join(repo, 'scripts', 'counts-reporter.mjs')).href}`,
  `--test-reporter-destination=${countsFile}`,
);
if (coverage) flags.push('--experimental-test-coverage', '--test-reporter=lcov', `--test-reporter-destination=${lcov}`);
const result = spawnSync(process.execPath, [...flags, ...files], { stdio: 'inherit' });
let status = result.status ?? 1;
const counts = existsSync(countsFile) ? JSON.parse(readFileSync(countsFile, 'utf8')) : null;
rmSync(countsFile, { force: true });

if (coverage) {
  const report = existsSync(lcov) ? readFileSync(lcov, 'utf8') : '';
  const { ok, lines, summary } = gate(report);
  for (const line of filters.length > 0 ? [summary] : lines) console.log(line);
  const skipped = counts?.skipped ?? 0;
  const ci = (process.env.CI ?? '') !== '' && !['0', 'false'].includes(process.env.CI.toLowerCase());
  if (filters.length > 0) {
    console.log('coverage: a filtered run covers less: the gate applies to the whole suite only');
  } else if (!ok && skipped > 0 && !ci) {
    console.log(`coverage: not enforced: ${skipped} test(s) were skipped (see the SKIP lines for what to install); it is under CI, where nothing may be skipped`);
  } else if (!ok && status === 0) {
    status = 1;
  }
}

// The last lines of the output: what passed and what failed, after the long coverage table.
if (counts === null) {
  console.log(`tests: no counts were written (the runner exited with ${result.status ?? result.signal})`);
} else {
  console.log(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped, ${counts.todo} todo`);
  for (const failure of counts.failures) {
    const path = failure.file.startsWith('file:') ? fileURLToPath(failure.file) : failure.file;
    const where = path === '' ? '' : `${relative(repo, path).split(sep).join('/')}:${failure.line} `;
    console.log(`failed: ${where}${failure.name}: ${failure.error}`);
  }
}
console.log(`tests: exit status ${status}`);
process.exit(status);

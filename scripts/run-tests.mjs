// Runs every compiled test file under dist/test with node:test.
// Node 20's `--test` does not expand globs itself, so we list the files here. A compiled test
// whose source (test/**/*.test.ts) is gone is stale output of a renamed or deleted test: it is
// left out, with a note (scripts/build.mjs empties dist/ before building, so npm test has none).
//
// Usage: node scripts/run-tests.mjs [--coverage | --repeat N] [substring-filter ...]
//   --coverage  measure coverage (Node's --experimental-test-coverage), write dist/coverage/lcov.info
//               and, for a run of the whole suite, apply the gate of scripts/coverage-gate.mjs.
//               Outside CI, a run that skipped tests (a real peer is missing) covers less: the gate
//               then reports without failing. Under CI nothing is skipped: a missing peer fails.
//   --repeat N  run the selection N times, each in a fresh runner, and end with how often each
//               failed test failed: for hunting a test that fails now and then (never a retry: the
//               exit status is 1 when any round failed).
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
const repeatAt = args.indexOf('--repeat');
const rounds = repeatAt === -1 ? 1 : Number(args[repeatAt + 1]);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`--repeat takes a whole number of rounds, got ${args[repeatAt + 1]}`);
  process.exit(2);
}
if (coverage && repeatAt !== -1) {
  console.error('--coverage and --repeat do not go together: coverage is for one run of the suite');
  process.exit(2);
}
const filters = args.filter((a, i) => a !== '--coverage' && (repeatAt === -1 || (i !== repeatAt && i !== repeatAt + 1)));
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

/** One run of the selected files: the runner's exit status and what the counts reporter wrote. */
function runOnce() {
  const result = spawnSync(process.execPath, [...flags, ...files], { stdio: 'inherit' });
  const counts = existsSync(countsFile) ? JSON.parse(readFileSync(countsFile, 'utf8')) : null;
  rmSync(countsFile, { force: true });
  return { status: result.status ?? 1, exited: result.status ?? result.signal, counts };
}

/** A failure as one line: file:line, test name, cause. */
function describeFailure(failure) {
  const path = failure.file.startsWith('file:') ? fileURLToPath(failure.file) : failure.file;
  const where = path === '' ? '' : `${relative(repo, path).split(sep).join('/')}:${failure.line} `;
  return `${where}${failure.name}: ${failure.error}`;
}

/** The counts and each failure, as the last lines of a run's output. */
function summarise({ exited, counts }, prefix = 'tests') {
  if (counts === null) {
    console.log(`${prefix}: no counts were written (the runner exited with ${exited})`);
    return;
  }
  console.log(`${prefix}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped, ${counts.todo} todo`);
  for (const failure of counts.failures) console.log(`failed: ${describeFailure(failure)}`);
}

if (rounds > 1) {
  const failedRounds = new Map(); // a failed test (file:line name) → the rounds it failed in
  let status = 0;
  for (let round = 1; round <= rounds; round++) {
    const run = runOnce();
    summarise(run, `round ${round} of ${rounds}`);
    if (run.status !== 0) status = 1;
    let failures = run.counts?.failures ?? [];
    // A runner that failed without a failed test (it crashed, or a file failed to load).
    if (failures.length === 0 && run.status !== 0) failures = [{ file: '', line: 0, name: `the runner (exit ${run.exited})`, error: '' }];
    for (const failure of failures) {
      const key = describeFailure({ ...failure, error: '' }).replace(/: $/, '');
      failedRounds.set(key, [...(failedRounds.get(key) ?? []), round]);
    }
  }
  console.log(`tests: ${rounds} rounds, ${failedRounds.size === 0 ? 'no failures' : `${failedRounds.size} test(s) failed in some round`}`);
  for (const [test, inRounds] of failedRounds) console.log(`failed in ${inRounds.length} of ${rounds} rounds (${inRounds.join(', ')}): ${test}`);
  console.log(`tests: exit status ${status}`);
  process.exit(status);
}

const run = runOnce();
let status = run.status;

if (coverage) {
  const report = existsSync(lcov) ? readFileSync(lcov, 'utf8') : '';
  const { ok, lines, summary } = gate(report);
  for (const line of filters.length > 0 ? [summary] : lines) console.log(line);
  const skipped = run.counts?.skipped ?? 0;
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
summarise(run);
console.log(`tests: exit status ${status}`);
process.exit(status);

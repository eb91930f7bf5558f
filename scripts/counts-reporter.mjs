// A node:test reporter for scripts/run-tests.mjs: writes the counts of a run, and the tests that
// failed, as one JSON document. The coverage gate needs to know whether tests were skipped, and
// the runner repeats the failures after the coverage table, at the end of the output, which is the
// part of a CI log one reads first (and sometimes the only part one gets).
const MESSAGE_MAX = 500;

/** The first lines of a failure's cause, short enough to read in a log tail. */
function describeError(error) {
  let cause = error;
  // node:test wraps what a test threw: code ERR_TEST_FAILURE, the thrown value as .cause.
  while (cause?.code === 'ERR_TEST_FAILURE' && cause.cause !== undefined) cause = cause.cause;
  const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  const oneLine = text.split('\n').slice(0, 6).join(' | ');
  return oneLine.length > MESSAGE_MAX ? `${oneLine.slice(0, MESSAGE_MAX)}…` : oneLine;
}

export default async function* counts(source) {
  const total = { passed: 0, failed: 0, skipped: 0, todo: 0, failures: [] };
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    if (data.details?.type === 'suite') {
      // A suite fails by itself when a hook throws or it times out; when it fails only because
      // tests in it failed, those are listed already.
      const error = data.details.error;
      if (type === 'test:fail' && error?.failureType !== 'subtestsFailed') {
        total.failures.push({ file: data.file ?? '', line: data.line ?? 0, name: data.name, error: describeError(error) });
      }
      continue;
    }
    if (data.skip !== undefined && data.skip !== false) total.skipped++;
    else if (data.todo !== undefined && data.todo !== false) total.todo++;
    else if (type === 'test:pass') total.passed++;
    else {
      total.failed++;
      total.failures.push({ file: data.file ?? '', line: data.line ?? 0, name: data.name, error: describeError(data.details?.error) });
    }
  }
  yield `${JSON.stringify(total)}\n`;
}

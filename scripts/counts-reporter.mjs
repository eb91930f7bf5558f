// A node:test reporter that writes the counts of a run as one JSON line, for
// scripts/run-tests.mjs: the coverage gate needs to know whether tests were skipped.
export default async function* counts(source) {
  const total = { passed: 0, failed: 0, skipped: 0, todo: 0 };
  for await (const { type, data } of source) {
    if ((type !== 'test:pass' && type !== 'test:fail') || data.details?.type === 'suite') continue;
    if (data.skip !== undefined && data.skip !== false) total.skipped++;
    else if (data.todo !== undefined && data.todo !== false) total.todo++;
    else if (type === 'test:pass') total.passed++;
    else total.failed++;
  }
  yield `${JSON.stringify(total)}\n`;
}

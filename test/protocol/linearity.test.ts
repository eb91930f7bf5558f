// The linearity check used by the hostile-input tests must tell linear from quadratic work.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertLinear, LINEAR_N, MAX_RATIO } from './support/linearity.js';

/** Distinct tokens p0,p1,… of about n characters. */
const tokens = (n: number): string => Array.from({ length: Math.ceil(n / 6) }, (_, i) => `p${i}`).join(',');

/** Duplicate check with a Set: linear. */
function uniqueWithSet(list: string): boolean {
  const items = list.split(',');
  return new Set(items).size === items.length;
}

/** The same check with Array#includes: quadratic, the kind of slip the tests must catch. */
function uniqueWithIncludes(list: string): boolean {
  const seen: string[] = [];
  for (const item of list.split(',')) {
    if (seen.includes(item)) return false;
    seen.push(item);
  }
  return true;
}

describe('linearity check (test/protocol/support/linearity.ts)', { timeout: 60_000 }, () => {
  it('passes linear work', () => {
    assert.equal(uniqueWithSet(tokens(100)), true);
    assertLinear('Set', LINEAR_N, tokens, uniqueWithSet);
  });

  it('fails quadratic work', () => {
    assert.equal(uniqueWithIncludes(tokens(100)), true);
    assert.throws(() => assertLinear('includes', LINEAR_N, tokens, uniqueWithIncludes), (error: Error) => {
      const ratio = Number(/took ([\d.]+)× the CPU time/.exec(error.message)?.[1]);
      assert.ok(ratio >= MAX_RATIO, error.message);
      return true;
    });
  });
});

// URI patterns (WAMP Advanced Profile, "Pattern-based Subscription" and "Pattern-based
// Registration"): exact, prefix (a string prefix of the URI) and wildcard (an empty component
// matches any one component). And the precedence rule that picks the one registration a call goes
// to when several match ("Calls matching multiple registrations"): exact first, then the longest
// prefix, then the wildcard pattern whose literal runs are longest, compared run by run from the
// left (`a1.b2..d4` before `a1...d4`).

import type { MatchPolicy } from './protocol.js';

export interface Pattern {
  readonly uri: string;
  readonly match: MatchPolicy;
}

/** Does `pattern` match the URI? The reference semantics (the dealer and broker use tries). */
export function patternMatches(pattern: Pattern, uri: string): boolean {
  if (pattern.match === 'exact') return pattern.uri === uri;
  if (pattern.match === 'prefix') return uri.startsWith(pattern.uri);
  const want = pattern.uri.split('.');
  const got = uri.split('.');
  if (want.length !== got.length) return false;
  for (let i = 0; i < want.length; i++) if (want[i] !== '' && want[i] !== got[i]) return false;
  return true;
}

/** A wildcard pattern's rank: the number of literal components in each run between wildcards. */
export function wildcardRuns(uri: string): number[] {
  const runs = [0];
  for (const component of uri.split('.')) {
    if (component === '') runs.push(0);
    else runs[runs.length - 1]!++;
  }
  return runs;
}

/**
 * Orders two patterns that both match one URI: negative when `a` wins. Exact beats prefix beats
 * wildcard; a longer prefix beats a shorter one (it has at least as many components); between
 * wildcards the longer first literal run wins, then the second, and so on.
 */
export function comparePatterns(
  a: Pattern & { runs?: readonly number[] | undefined },
  b: Pattern & { runs?: readonly number[] | undefined },
): number {
  const rank = (match: MatchPolicy): number => (match === 'exact' ? 0 : match === 'prefix' ? 1 : 2);
  if (a.match !== b.match) return rank(a.match) - rank(b.match);
  if (a.match === 'prefix') return b.uri.length - a.uri.length;
  if (a.match === 'exact') return 0;
  const ra = a.runs ?? wildcardRuns(a.uri);
  const rb = b.runs ?? wildcardRuns(b.uri);
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    if (ra[i] !== rb[i]) return rb[i]! - ra[i]!;
  }
  return rb.length - ra.length;
}

/**
 * A small table of patterns with a value each, answering "the best pattern matching this URI".
 * For permission lists (a few entries per role); the dealer indexes registrations in a trie.
 */
export class PatternTable<T> {
  readonly #exact = new Map<string, T>();
  /** Longest first. */
  #prefixes: { uri: string; value: T }[] = [];
  /** Best rank first. */
  #wildcards: { pattern: Pattern & { runs: number[] }; value: T }[] = [];

  add(pattern: Pattern, value: T): void {
    if (pattern.match === 'exact') {
      this.#exact.set(pattern.uri, value);
    } else if (pattern.match === 'prefix') {
      this.#prefixes.push({ uri: pattern.uri, value });
      this.#prefixes.sort((a, b) => b.uri.length - a.uri.length);
    } else {
      this.#wildcards.push({ pattern: { ...pattern, runs: wildcardRuns(pattern.uri) }, value });
      this.#wildcards.sort((a, b) => comparePatterns(a.pattern, b.pattern));
    }
  }

  /** The value of the best pattern matching `uri`, or undefined. */
  best(uri: string): T | undefined {
    const exact = this.#exact.get(uri);
    if (exact !== undefined) return exact;
    for (const { uri: prefix, value } of this.#prefixes) if (uri.startsWith(prefix)) return value;
    for (const { pattern, value } of this.#wildcards) if (patternMatches(pattern, uri)) return value;
    return undefined;
  }
}

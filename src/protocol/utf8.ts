// Streaming UTF-8 validation for WebSocket text messages.
//
// Well-formedness follows RFC 3629 §4 (UTF8-octets ABNF): no overlong forms,
// no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. RFC 6455 §8.1 lets an
// endpoint fail the connection as soon as invalid data is seen, so `write`
// reports failure at the first byte that cannot continue any valid string.
//
// Large chunks go through `isUtf8` (simdutf) on the longest prefix that ends on
// a character boundary; a tiny DFA handles the incomplete tail and small input.

import { isUtf8 } from 'node:buffer';

// DFA states. 0 = at a character boundary; 1..7 = inside a sequence, waiting
// for the byte range LO[s]!..HI[s]!, then moving to NEXT[s]!; FAIL is sticky.
//   1..3: 1..3 continuation bytes (80..BF) still needed
//   4: after E0 (A0..BF, no overlong)   5: after ED (80..9F, no surrogates)
//   6: after F0 (90..BF, no overlong)   7: after F4 (80..8F, <= U+10FFFF)
const FAIL = 8;
const LO = Uint8Array.of(0, 0x80, 0x80, 0x80, 0xa0, 0x80, 0x90, 0x80);
const HI = Uint8Array.of(0, 0xbf, 0xbf, 0xbf, 0xbf, 0x9f, 0xbf, 0x8f);
const NEXT = Uint8Array.of(0, 0, 1, 2, 1, 1, 2, 2);

// State entered from state 0 on each byte (RFC 3629 §4 first-octet ranges).
const LEAD = new Uint8Array(256);
for (let b = 0x80; b < 0x100; b++) {
  LEAD[b] =
    b < 0xc2 ? FAIL // 80..BF lone continuation, C0/C1 always overlong
    : b < 0xe0 ? 1
    : b === 0xe0 ? 4
    : b === 0xed ? 5
    : b < 0xf0 ? 2
    : b === 0xf0 ? 6
    : b < 0xf4 ? 3
    : b === 0xf4 ? 7
    : FAIL; // F5..FF would exceed U+10FFFF
}

/** Chunks at least this long (from a boundary) are checked with simdutf. */
const FAST_MIN = 32;

/** Runs the DFA over bytes[i, end) from `state`; returns the new state (FAIL on error). */
function run(state: number, bytes: Uint8Array, i: number, end: number): number {
  for (; i < end; i++) {
    const b = bytes[i]!;
    if (state === 0) {
      if (b < 0x80) continue;
      state = LEAD[b]!;
      if (state === FAIL) return FAIL;
    } else {
      if (b < LO[state]! || b > HI[state]!) return FAIL;
      state = NEXT[state]!;
    }
  }
  return state;
}

/**
 * Index in [start, end] where a possibly incomplete trailing sequence begins
 * (end if the last sequence looks complete). A pending sequence holds at most
 * 3 bytes (RFC 3629 §3: sequences are 1..4 octets), so look back 3 bytes.
 */
function tailStart(bytes: Uint8Array, start: number, end: number): number {
  const stop = end - 3 > start ? end - 3 : start;
  for (let j = end - 1; j >= stop; j--) {
    const b = bytes[j]!;
    if (b < 0x80) return end;
    if (b >= 0xc0) {
      const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return j + len > end ? j : end;
    }
  }
  return end;
}

function view(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
}

function checkRange(bytes: Uint8Array, start: number, end: number): void {
  if (!(start >= 0 && start <= end && end <= bytes.length)) {
    throw new RangeError(`invalid range [${start}, ${end}) for length ${bytes.length}`);
  }
}

/** Incremental UTF-8 validator; one per connection, reset between messages. */
export class Utf8Validator {
  #state = 0;

  /**
   * Validates bytes[start, end). Returns false as soon as the bytes seen so far
   * cannot be a prefix of valid UTF-8 (e.g. a trailing F4 90 fails immediately).
   * Once false, stays false until reset().
   */
  write(bytes: Uint8Array, start: number, end: number): boolean {
    checkRange(bytes, start, end);
    let s = this.#state;
    if (s === FAIL) return false;
    let i = start;
    // Finish a sequence left pending by the previous chunk (<= 3 bytes).
    while (s !== 0 && i < end) {
      const b = bytes[i++]!;
      if (b < LO[s]! || b > HI[s]!) {
        this.#state = FAIL;
        return false;
      }
      s = NEXT[s]!;
    }
    if (end - i >= FAST_MIN) {
      const cut = tailStart(bytes, i, end);
      // The prefix ends on a boundary, so it must be complete valid UTF-8; the
      // DFA then checks the tail exactly. If simdutf rejects it, rerun the DFA
      // over the whole chunk (fails as well, and keeps the logic exact).
      s = isUtf8(view(bytes, i, cut)) ? run(0, bytes, cut, end) : run(0, bytes, i, end);
    } else if (i < end) {
      s = run(s, bytes, i, end);
    }
    this.#state = s;
    return s !== FAIL;
  }

  /** True when the input so far ended on a character boundary (call at the end of a message). */
  end(): boolean {
    return this.#state === 0;
  }

  reset(): void {
    this.#state = 0;
  }

  /** True when no partial sequence is pending (false after a failure). */
  get atBoundary(): boolean {
    return this.#state === 0;
  }
}

/** Whole-buffer check of bytes[start, end) (no copy). */
export function isValidUtf8(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  checkRange(bytes, start, end);
  if (end - start >= FAST_MIN) return isUtf8(view(bytes, start, end));
  return run(0, bytes, start, end) === 0;
}

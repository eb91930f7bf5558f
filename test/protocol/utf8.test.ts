import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Utf8Validator, isValidUtf8 } from '../../src/protocol/utf8.js';
import { prng } from './support/frames.js';

// ---------------------------------------------------------------------------
// Reference model, written from the RFC 3629 definition (code point ranges),
// independent of the DFA tables in the implementation.
// ---------------------------------------------------------------------------

interface RefResult {
  /** Index of the first byte after which the input can no longer be a prefix of valid UTF-8, or -1. */
  failAt: number;
  /** True when the whole input is valid UTF-8 (failAt === -1 and no sequence pending). */
  valid: boolean;
}

/** Can some completion of a sequence whose known bits give `cp` (with `rest` 6-bit groups missing) be a valid scalar >= min? */
function completable(cp: number, rest: number, min: number): boolean {
  const lo = cp * 2 ** (6 * rest);
  const hi = lo + 2 ** (6 * rest) - 1;
  const overlaps = (a: number, b: number): boolean => lo <= b && hi >= a;
  // Scalar values (RFC 3629 §3): U+0000..U+D7FF, U+E000..U+10FFFF; shortest form: >= min.
  return overlaps(Math.max(min, 0), 0xd7ff) || overlaps(Math.max(min, 0xe000), 0x10ffff);
}

function reference(bytes: Uint8Array): RefResult {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let cp: number;
    if ((b & 0xe0) === 0xc0) [len, cp] = [2, b & 0x1f];
    else if ((b & 0xf0) === 0xe0) [len, cp] = [3, b & 0x0f];
    else if ((b & 0xf8) === 0xf0) [len, cp] = [4, b & 0x07];
    else return { failAt: i, valid: false }; // continuation or F8..FF as a lead
    const min = [0, 0, 0x80, 0x800, 0x10000][len]!;
    if (!completable(cp, len - 1, min)) return { failAt: i, valid: false };
    for (let k = 1; k < len; k++) {
      if (i + k >= n) return { failAt: -1, valid: false }; // truncated, but still a valid prefix
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) return { failAt: i + k, valid: false };
      cp = (cp << 6) | (c & 0x3f);
      if (!completable(cp, len - 1 - k, min)) return { failAt: i + k, valid: false };
    }
    i += len;
  }
  return { failAt: -1, valid: true };
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const utf8 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf8'));
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const show = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** 'κόσμε' as used by Autobahn (ό = U+1F79, 3 bytes): 11 bytes. */
const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

/**
 * Feeds `bytes` cut at `cuts` (ascending) and checks each write's result
 * against the reference: true until the piece holding failAt, false from it on.
 */
function feedAndCheck(bytes: Uint8Array, cuts: number[], ref: RefResult, label: string): void {
  const v = new Utf8Validator();
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    const expected = ref.failAt === -1 || ref.failAt >= cut;
    assert.equal(v.write(bytes, prev, cut), expected, `${label} write [${prev}, ${cut}) of ${show(bytes)}`);
    prev = cut;
  }
  assert.equal(v.end(), ref.valid, `${label} end() of ${show(bytes)}`);
}

/** Feeds the pieces as separate arrays embedded in larger buffers at odd offsets (views, not copies). */
function feedCopies(bytes: Uint8Array, cuts: number[]): boolean {
  const v = new Utf8Validator();
  let prev = 0;
  let ok = true;
  for (const cut of [...cuts, bytes.length]) {
    const host = new Uint8Array(cut - prev + 6).fill(0xff); // junk around the piece
    host.set(bytes.subarray(prev, cut), 3);
    ok = v.write(host, 3, 3 + cut - prev) && ok;
    prev = cut;
  }
  return ok && v.end();
}


// ---------------------------------------------------------------------------
// Vectors
// ---------------------------------------------------------------------------

const VALID: Array<[string, Uint8Array]> = [
  ['empty', hex('')],
  ['U+0000 (1-byte min)', hex('00')],
  ['U+007F (1-byte max)', hex('7f')],
  ['U+0080 (2-byte min)', hex('c2 80')],
  ['U+07FF (2-byte max)', hex('df bf')],
  ['U+0800 (3-byte min)', hex('e0 a0 80')],
  ['U+0FFF', hex('e0 bf bf')],
  ['U+1000', hex('e1 80 80')],
  ['U+D7FF (last before surrogates)', hex('ed 9f bf')],
  ['U+E000 (first after surrogates)', hex('ee 80 80')],
  ['U+FEFF (BOM)', hex('ef bb bf')],
  ['U+FFFD', hex('ef bf bd')],
  ['U+FFFE (noncharacter, still valid)', hex('ef bf be')],
  ['U+FFFF (3-byte max)', hex('ef bf bf')],
  ['U+10000 (4-byte min)', hex('f0 90 80 80')],
  ['U+3FFFF', hex('f0 bf bf bf')],
  ['U+40000', hex('f1 80 80 80')],
  ['U+FFFFF', hex('f3 bf bf bf')],
  ['U+100000', hex('f4 80 80 80')],
  ['U+10FFFF (max scalar)', hex('f4 8f bf bf')],
  ['κόσμε', KOSME],
  ['Hello-µ@ßöäüàá-UTF-8!!', utf8('Hello-µ@ßöäüàá-UTF-8!!')],
  ['emoji', utf8('😀🎉👍🏽')],
  ['long ascii', utf8('The quick brown fox jumps over the lazy dog. '.repeat(3))],
  ['long ascii + 4-byte at end', utf8('a'.repeat(40) + '😀')],
  ['long ascii + 3-byte at end', utf8('a'.repeat(41) + '€')],
  ['long ascii + 2-byte at end', utf8('a'.repeat(42) + 'ß')],
  ['long mixed', utf8('Ünïcödé ✓ — 日本語テキスト 𝄞 κόσμε 😀 ASCII tail'.repeat(2))],
  ['every length boundary', hex('7f c2 80 df bf e0 a0 80 ef bf bf f0 90 80 80 f4 8f bf bf 00')],
];

/** Invalid strings with the index of the first byte that makes them invalid. */
const INVALID: Array<[string, Uint8Array, number]> = [
  ['lone continuation 80', hex('80'), 0],
  ['lone continuation BF', hex('bf'), 0],
  ['ascii then continuation', hex('41 80'), 1],
  ['extra continuation', hex('c2 80 80'), 2],
  ['overlong C0 80 (NUL)', hex('c0 80'), 0],
  ['overlong C0 AF (/)', hex('c0 af'), 0],
  ['overlong C1 BF', hex('c1 bf'), 0],
  ['overlong E0 80 80', hex('e0 80 80'), 1],
  ['overlong E0 80 AF', hex('e0 80 af'), 1],
  ['overlong E0 9F BF (U+07FF)', hex('e0 9f bf'), 1],
  ['overlong F0 80 80 80', hex('f0 80 80 80'), 1],
  ['overlong F0 80 80 AF', hex('f0 80 80 af'), 1],
  ['overlong F0 8F BF BF (U+FFFF)', hex('f0 8f bf bf'), 1],
  ['surrogate U+D800', hex('ed a0 80'), 1],
  ['surrogate U+DBFF', hex('ed af bf'), 1],
  ['surrogate U+DC00', hex('ed b0 80'), 1],
  ['surrogate U+DFFF', hex('ed bf bf'), 1],
  ['surrogate pair', hex('ed a0 80 ed b0 80'), 1],
  ['U+110000 (F4 90 80 80)', hex('f4 90 80 80'), 1],
  ['F4 BF BF BF', hex('f4 bf bf bf'), 1],
  ['F5 (U+140000)', hex('f5 80 80 80'), 0],
  ['F7 BF BF BF (U+1FFFFF)', hex('f7 bf bf bf'), 0],
  ['5-byte F8', hex('f8 88 80 80 80'), 0],
  ['6-byte FC', hex('fc 84 80 80 80 80'), 0],
  ['FE', hex('fe'), 0],
  ['FF', hex('ff'), 0],
  ['2-byte missing continuation', hex('c2 41'), 1],
  ['3-byte missing 2nd continuation', hex('e1 80 41'), 2],
  ['4-byte missing 3rd continuation', hex('f1 80 80 41'), 3],
  ['lead after lead', hex('c2 c2 80'), 1],
  ['truncated 3-byte then ascii', hex('e1 80 41 41'), 2],
  ['κόσμε then C3 41', concat(KOSME, hex('c3 41')), 12],
  ['long ascii + F4 90', concat(utf8('a'.repeat(50)), hex('f4 90 80 80')), 51],
  ['long ascii + ED A0', concat(utf8('b'.repeat(50)), hex('ed a0 80'), utf8('tail')), 51],
  ['long ascii + lone continuation mid', concat(utf8('c'.repeat(40)), hex('80'), utf8('d'.repeat(40))), 40],
  ['long ascii + C0 mid', concat(utf8('c'.repeat(40)), hex('c0 80'), utf8('d'.repeat(40))), 40],
  ['long ascii + FF at end', concat(utf8('e'.repeat(40)), hex('ff')), 40],
  ['long ascii + truncated 3-byte then ascii', concat(utf8('f'.repeat(40)), hex('e2 82'), utf8('g'.repeat(40))), 42],
];

/** Valid prefixes that are incomplete at the end. */
const TRUNCATED: Array<[string, Uint8Array]> = [
  ['C2', hex('c2')],
  ['DF', hex('df')],
  ['E0', hex('e0')],
  ['E0 A0', hex('e0 a0')],
  ['E1', hex('e1')],
  ['E1 80', hex('e1 80')],
  ['ED', hex('ed')],
  ['ED 9F', hex('ed 9f')],
  ['EF BF', hex('ef bf')],
  ['F0', hex('f0')],
  ['F0 90', hex('f0 90')],
  ['F0 90 80', hex('f0 90 80')],
  ['F1 80 80', hex('f1 80 80')],
  ['F4', hex('f4')],
  ['F4 8F', hex('f4 8f')],
  ['F4 8F BF', hex('f4 8f bf')],
  ['κόσμε + C3', concat(KOSME, hex('c3'))],
  ['long ascii + F0 9F 98', concat(utf8('a'.repeat(60)), hex('f0 9f 98'))],
  ['long ascii + E2 82', concat(utf8('a'.repeat(61)), hex('e2 82'))],
  ['long ascii + C3', concat(utf8('a'.repeat(62)), hex('c3'))],
  ['long ascii + F4', concat(utf8('a'.repeat(63)), hex('f4'))],
];

// ---------------------------------------------------------------------------

describe('reference model sanity', () => {
  it('agrees with the hand-written expectations', () => {
    for (const [name, bytes] of VALID) assert.deepEqual(reference(bytes), { failAt: -1, valid: true }, name);
    for (const [name, bytes, at] of INVALID) assert.deepEqual(reference(bytes), { failAt: at, valid: false }, name);
    for (const [name, bytes] of TRUNCATED) assert.deepEqual(reference(bytes), { failAt: -1, valid: false }, name);
  });

  it('agrees with TextDecoder on every vector', () => {
    for (const [name, bytes] of [...VALID, ...INVALID, ...TRUNCATED]) {
      let ok = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        ok = false;
      }
      assert.equal(reference(bytes).valid, ok, name);
    }
  });
});

describe('isValidUtf8', () => {
  it('accepts RFC 3629 boundary code points and valid text', () => {
    for (const [name, bytes] of VALID) assert.equal(isValidUtf8(bytes), true, name);
  });

  it('rejects overlongs, surrogates, > U+10FFFF, F5..FF, lone continuations', () => {
    for (const [name, bytes] of INVALID) assert.equal(isValidUtf8(bytes), false, name);
  });

  it('rejects truncated sequences', () => {
    for (const [name, bytes] of TRUNCATED) assert.equal(isValidUtf8(bytes), false, name);
  });

  it('rejects every single byte 80..FF alone, and accepts 00..7F', () => {
    for (let b = 0; b < 256; b++) assert.equal(isValidUtf8(Uint8Array.of(b)), b < 0x80, b.toString(16));
  });

  it('checks every 2-byte combination against the reference', () => {
    const buf = new Uint8Array(2);
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        buf[0] = a;
        buf[1] = b;
        assert.equal(isValidUtf8(buf), reference(buf).valid, show(buf));
      }
    }
  });

  it('checks every lead E0..F4 with every 2nd byte and valid/invalid 3rd/4th bytes', () => {
    for (let a = 0xe0; a <= 0xf4; a++) {
      for (let b = 0; b < 256; b++) {
        for (const c of [0x41, 0x80, 0xbf, 0xc0]) {
          for (const d of [0x80, 0xbf, 0x41]) {
            const buf = Uint8Array.of(a, b, c, d);
            assert.equal(isValidUtf8(buf), reference(buf).valid, show(buf));
          }
        }
      }
    }
  });

  it('honours start/end without looking outside the range (small and large)', () => {
    for (const inner of [utf8('κόσμε'), utf8('x'.repeat(100) + 'κόσμε')]) {
      const host = concat(hex('ff fe'), inner, hex('c0 80 ed'));
      assert.equal(isValidUtf8(host, 2, 2 + inner.length), true);
      assert.equal(isValidUtf8(host), false);
      assert.equal(isValidUtf8(host, 1, 2 + inner.length), false);
      assert.equal(isValidUtf8(host, 2, 3 + inner.length), false);
      assert.equal(isValidUtf8(host, 2, 1 + inner.length), false); // cuts ε (CE B5) in half
      assert.equal(isValidUtf8(host, 5, 5), true); // empty
      // Default end is bytes.length.
      assert.equal(isValidUtf8(host.subarray(2, 2 + inner.length), 0), true);
    }
  });

  it('works on Buffers and subarrays at odd byte offsets', () => {
    const long = Buffer.from('z'.repeat(77) + '😀€ß');
    const host = Buffer.alloc(long.length + 3);
    long.copy(host, 3);
    assert.equal(isValidUtf8(host.subarray(3)), true);
    assert.equal(isValidUtf8(long), true);
  });

  it('throws RangeError on bad ranges', () => {
    const b = utf8('abc');
    assert.throws(() => isValidUtf8(b, -1, 2), RangeError);
    assert.throws(() => isValidUtf8(b, 2, 1), RangeError);
    assert.throws(() => isValidUtf8(b, 0, 4), RangeError);
  });
});

describe('Utf8Validator', () => {
  it('accepts valid input in one write and end() is true', () => {
    for (const [name, bytes] of VALID) {
      const v = new Utf8Validator();
      assert.equal(v.write(bytes, 0, bytes.length), true, name);
      assert.equal(v.atBoundary, true, name);
      assert.equal(v.end(), true, name);
    }
  });

  it('fails at the write that holds the first bad byte', () => {
    for (const [name, bytes, at] of INVALID) {
      const v = new Utf8Validator();
      assert.equal(v.write(bytes, 0, bytes.length), false, name);
      assert.equal(v.end(), false, name);
      // Byte by byte: exactly the byte at `at` fails.
      const w = new Utf8Validator();
      for (let i = 0; i < bytes.length; i++) {
        assert.equal(w.write(bytes, i, i + 1), i < at, `${name} byte ${i}`);
      }
    }
  });

  it('accepts truncated tails as prefixes, but end() is false', () => {
    for (const [name, bytes] of TRUNCATED) {
      const v = new Utf8Validator();
      assert.equal(v.write(bytes, 0, bytes.length), true, name);
      assert.equal(v.atBoundary, false, name);
      assert.equal(v.end(), false, name);
    }
  });

  it('completes a pending sequence in the next write', () => {
    const v = new Utf8Validator();
    const s = concat(utf8('a'.repeat(63)), utf8('😀'), utf8('b'.repeat(50)));
    assert.equal(v.write(s, 0, 65), true); // ends after F0 9F
    assert.equal(v.atBoundary, false);
    assert.equal(v.write(s, 65, 66), true); // 98
    assert.equal(v.atBoundary, false);
    assert.equal(v.write(s, 66, s.length), true); // 80 + 50 ASCII (fast path after finishing)
    assert.equal(v.atBoundary, true);
    assert.equal(v.end(), true);
  });

  it('empty writes change nothing', () => {
    const v = new Utf8Validator();
    const b = hex('e2 82 ac');
    assert.equal(v.write(b, 0, 0), true);
    assert.equal(v.write(b, 0, 1), true);
    assert.equal(v.write(b, 1, 1), true);
    assert.equal(v.atBoundary, false);
    assert.equal(v.write(b, 1, 3), true);
    assert.equal(v.end(), true);
  });

  it('failure is sticky until reset()', () => {
    const v = new Utf8Validator();
    assert.equal(v.write(hex('c0'), 0, 1), false);
    assert.equal(v.write(utf8('ok'), 0, 2), false);
    assert.equal(v.write(utf8('x'.repeat(100)), 0, 100), false);
    assert.equal(v.atBoundary, false);
    assert.equal(v.end(), false);
    v.reset();
    assert.equal(v.atBoundary, true);
    assert.equal(v.write(utf8('ok'), 0, 2), true);
    assert.equal(v.end(), true);
  });

  it('reset() discards a pending sequence', () => {
    const v = new Utf8Validator();
    assert.equal(v.write(hex('f0 9f'), 0, 2), true);
    v.reset();
    assert.equal(v.atBoundary, true);
    assert.equal(v.write(utf8('a'), 0, 1), true);
    assert.equal(v.end(), true);
  });

  it('ignores bytes outside [start, end)', () => {
    const host = concat(hex('ff'), utf8('x'.repeat(40) + 'é'), hex('80'));
    const v = new Utf8Validator();
    assert.equal(v.write(host, 1, host.length - 1), true);
    assert.equal(v.end(), true);
  });

  it('throws RangeError on bad ranges', () => {
    const v = new Utf8Validator();
    const b = utf8('abc');
    assert.throws(() => v.write(b, -1, 1), RangeError);
    assert.throws(() => v.write(b, 2, 1), RangeError);
    assert.throws(() => v.write(b, 0, 4), RangeError);
  });
});

describe('fail-fast (Autobahn 6.4, RFC 6455 §8.1)', () => {
  const kosme = KOSME;
  const edited = utf8('edited');

  it('6.4.1: fragments [κόσμε, F4 90 80 80, edited] fail at the 2nd', () => {
    const v = new Utf8Validator();
    assert.equal(v.write(kosme, 0, kosme.length), true);
    const bad = hex('f4 90 80 80');
    assert.equal(v.write(bad, 0, bad.length), false);
    assert.equal(v.write(edited, 0, edited.length), false);
  });

  it('6.4.2: fragments [κόσμε F4, 90, 80 80 edited] fail at the 2nd', () => {
    const v = new Utf8Validator();
    const f1 = concat(kosme, hex('f4'));
    assert.equal(v.write(f1, 0, f1.length), true);
    assert.equal(v.write(hex('90'), 0, 1), false);
  });

  it('a first fragment ending in F4 90 fails at that write, not at end()', () => {
    for (const prefix of [kosme, utf8('p'.repeat(100)), utf8('ü'.repeat(40))]) {
      const f1 = concat(prefix, hex('f4 90'));
      const v = new Utf8Validator();
      assert.equal(v.write(f1, 0, f1.length), false, show(f1));
      assert.equal(isValidUtf8(f1), false);
    }
  });

  it('trailing prefixes that can never complete fail immediately', () => {
    for (const tail of ['e0 80', 'e0 9f', 'ed a0', 'ed bf', 'f0 80', 'f0 8f', 'f4 90', 'f4 bf', 'c0', 'c1', 'f5', 'ff']) {
      for (const prefix of [hex(''), utf8('q'.repeat(70))]) {
        const b = concat(prefix, hex(tail));
        assert.equal(new Utf8Validator().write(b, 0, b.length), false, `${prefix.length} + ${tail}`);
      }
    }
  });

  it('6.4.3/6.4.4: streamed byte by byte, fails exactly at the 0x90', () => {
    const payload = concat(kosme, hex('f4 90 80 80'), edited);
    const v = new Utf8Validator();
    for (let i = 0; i < payload.length; i++) {
      assert.equal(v.write(payload, i, i + 1), i < kosme.length + 1, `byte ${i}`);
    }
  });
});

describe('piecewise feeding agrees with the whole-buffer result', () => {
  const all: Array<[string, Uint8Array]> = [
    ...VALID,
    ...INVALID.map(([n, b]) => [n, b] as [string, Uint8Array]),
    ...TRUNCATED,
  ];

  it('every split into 2 pieces', () => {
    for (const [name, bytes] of all) {
      const ref = reference(bytes);
      assert.equal(isValidUtf8(bytes), ref.valid, name);
      for (let a = 0; a <= bytes.length; a++) {
        feedAndCheck(bytes, [a], ref, `${name} @${a}`);
        assert.equal(feedCopies(bytes, [a]), ref.valid, `${name} copies @${a}`);
      }
    }
  });

  it('every split into 3 pieces', () => {
    for (const [name, bytes] of all) {
      const ref = reference(bytes);
      for (let a = 0; a <= bytes.length; a++) {
        for (let b = a; b <= bytes.length; b++) {
          feedAndCheck(bytes, [a, b], ref, `${name} @${a},${b}`);
        }
      }
    }
  });

  it('one byte at a time', () => {
    for (const [name, bytes] of all) {
      const cuts = Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1);
      feedAndCheck(bytes, cuts, reference(bytes), name);
    }
  });
});

describe('randomized differential test vs TextDecoder (fatal)', () => {
  const SPECIAL = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff];

  function encode(cp: number, out: number[]): void {
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }

  /** Random bytes, mostly UTF-8-looking: whole characters, with occasional corruption. */
  function randomBytes(rnd: () => number): Uint8Array {
    const out: number[] = [];
    const target = rnd() < 0.5 ? Math.floor(rnd() * 16) : Math.floor(rnd() * 120);
    const bad = rnd() < 0.6; // ~40% of strings are all well-formed characters
    while (out.length < target) {
      const r = rnd();
      if (r < 0.3) out.push(0x20 + Math.floor(rnd() * 0x5f));
      else if (r < 0.45) encode(0x80 + Math.floor(rnd() * 0x780), out);
      else if (r < 0.6) {
        let cp = 0x800 + Math.floor(rnd() * 0xf800);
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        encode(cp, out);
      } else if (r < 0.75) encode(0x10000 + Math.floor(rnd() * 0x100000), out);
      else if (r < 0.85) {
        // Boundary code points.
        const edges = [0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff];
        encode(edges[Math.floor(rnd() * edges.length)]!, out);
      } else if (bad) {
        if (r < 0.92) out.push(SPECIAL[Math.floor(rnd() * SPECIAL.length)]!);
        else if (r < 0.96) {
          // Truncated valid sequence.
          const tmp: number[] = [];
          encode(0x80 + Math.floor(rnd() * 0x10ff7f), tmp);
          out.push(...tmp.slice(0, 1 + Math.floor(rnd() * (tmp.length - 1))));
        } else out.push(Math.floor(rnd() * 256));
      } else out.push(0x41);
    }
    return Uint8Array.from(out);
  }

  function decoderValid(bytes: Uint8Array): boolean {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      return true;
    } catch {
      return false;
    }
  }

  /** Streaming decode: throws as soon as the bytes cannot be a prefix of valid UTF-8. */
  function decoderPrefixValid(bytes: Uint8Array): boolean {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
      return true;
    } catch {
      return false;
    }
  }

  it('agrees on 5000 random strings (whole, prefix, random splits)', () => {
    const rnd = prng(0x5eed1234);
    let valid = 0;
    let invalid = 0;
    for (let n = 0; n < 5000; n++) {
      const bytes = randomBytes(rnd);
      const expected = decoderValid(bytes);
      if (expected) valid++;
      else invalid++;
      const ref = reference(bytes);
      assert.equal(ref.valid, expected, `reference vs TextDecoder ${show(bytes)}`);
      assert.equal(isValidUtf8(bytes), expected, `isValidUtf8 ${show(bytes)}`);

      // Fail-fast agreement with the streaming decoder and the reference.
      const v = new Utf8Validator();
      const prefixOk = v.write(bytes, 0, bytes.length);
      assert.equal(prefixOk, decoderPrefixValid(bytes), `prefix ${show(bytes)}`);
      assert.equal(prefixOk, ref.failAt === -1, `prefix vs reference ${show(bytes)}`);
      assert.equal(v.end(), expected, `end ${show(bytes)}`);

      // A random split into up to 4 pieces.
      const cuts = Array.from({ length: Math.floor(rnd() * 4) }, () => Math.floor(rnd() * (bytes.length + 1))).sort((x, y) => x - y);
      feedAndCheck(bytes, cuts, ref, 'random');
    }
    // The generator must actually exercise both outcomes.
    assert.ok(valid > 1000 && invalid > 1000, `valid ${valid}, invalid ${invalid}`);
  });

  it('agrees on every prefix of random strings (exact fail position)', () => {
    const rnd = prng(42);
    for (let n = 0; n < 300; n++) {
      const bytes = randomBytes(rnd);
      const ref = reference(bytes);
      for (let len = 0; len <= bytes.length; len++) {
        const prefix = bytes.subarray(0, len);
        const ok = new Utf8Validator().write(prefix, 0, len);
        assert.equal(ok, decoderPrefixValid(prefix), `prefix ${show(prefix)}`);
        assert.equal(ok, ref.failAt === -1 || ref.failAt >= len, `prefix vs reference ${show(prefix)}`);
        assert.equal(isValidUtf8(prefix), decoderValid(prefix), `whole ${show(prefix)}`);
      }
    }
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatExtension,
  formatExtensionHeader,
  parseExtensionHeader,
  type ExtensionOffer,
} from '../../src/protocol/extension-header.js';
import { assertLinear, LINEAR_N } from './support/linearity.js';

// Plain-object view of a parse result, for deepEqual.
function plain(list: ExtensionOffer[] | null) {
  if (list === null) return null;
  return list.map((e) => ({ name: e.name, params: Object.fromEntries(e.params), dup: e.duplicateParams }));
}

describe('parseExtensionHeader: basics (RFC 6455 §9.1)', () => {
  it('returns [] for undefined, empty and all-empty lists', () => {
    assert.deepEqual(parseExtensionHeader(undefined), []);
    assert.deepEqual(parseExtensionHeader(''), []);
    assert.deepEqual(parseExtensionHeader([]), []);
    assert.deepEqual(parseExtensionHeader(' , ,, '), []);
  });

  it('parses a bare extension name', () => {
    assert.deepEqual(plain(parseExtensionHeader('permessage-deflate')), [
      { name: 'permessage-deflate', params: {}, dup: false },
    ]);
  });

  it('returns a Map and the duplicateParams flag', () => {
    const r = parseExtensionHeader('foo; a=1')!;
    assert.ok(r[0]!.params instanceof Map);
    assert.equal(r[0]!.params.get('a'), '1');
    assert.equal(r[0]!.duplicateParams, false);
  });

  it('parses params with and without values', () => {
    assert.deepEqual(
      plain(parseExtensionHeader('permessage-deflate; client_max_window_bits; server_max_window_bits=10')),
      [
        {
          name: 'permessage-deflate',
          params: { client_max_window_bits: true, server_max_window_bits: '10' },
          dup: false,
        },
      ],
    );
  });

  it('parses multiple extensions in order', () => {
    assert.deepEqual(plain(parseExtensionHeader('foo, bar; baz=2, permessage-deflate; server_no_context_takeover')), [
      { name: 'foo', params: {}, dup: false },
      { name: 'bar', params: { baz: '2' }, dup: false },
      { name: 'permessage-deflate', params: { server_no_context_takeover: true }, dup: false },
    ]);
  });

  it('keeps repeated extension names as separate offers (fallback offers)', () => {
    assert.deepEqual(
      plain(parseExtensionHeader('permessage-deflate; client_max_window_bits=10, permessage-deflate')),
      [
        { name: 'permessage-deflate', params: { client_max_window_bits: '10' }, dup: false },
        { name: 'permessage-deflate', params: {}, dup: false },
      ],
    );
  });
});

describe('parseExtensionHeader: case', () => {
  it('lowercases extension and parameter names', () => {
    assert.deepEqual(plain(parseExtensionHeader('PerMessage-Deflate; Client_Max_Window_Bits=15')), [
      { name: 'permessage-deflate', params: { client_max_window_bits: '15' }, dup: false },
    ]);
  });

  it('preserves the case of parameter values', () => {
    assert.deepEqual(plain(parseExtensionHeader('x; mode=FastAndLoose; q="AbC"')), [
      { name: 'x', params: { mode: 'FastAndLoose', q: 'AbC' }, dup: false },
    ]);
  });
});

describe('parseExtensionHeader: whitespace and empty elements', () => {
  it('allows OWS around ",", ";" and "="', () => {
    const expected = [
      { name: 'a', params: { b: '1', c: true }, dup: false },
      { name: 'd', params: {}, dup: false },
    ];
    for (const v of [
      'a;b=1;c,d',
      'a; b=1; c, d',
      ' \ta \t; \tb \t= \t1 \t; c \t, \td\t ',
      'a ;b= 1 ;c ,d',
      'a;b="1";c,d',
      'a; b = "1" ; c , d',
    ]) {
      assert.deepEqual(plain(parseExtensionHeader(v)), expected, JSON.stringify(v));
    }
  });

  it('skips empty list elements', () => {
    assert.deepEqual(plain(parseExtensionHeader(',a,, ,b;x=1,')), [
      { name: 'a', params: {}, dup: false },
      { name: 'b', params: { x: '1' }, dup: false },
    ]);
  });
});

describe('parseExtensionHeader: quoted-string values', () => {
  it('unquotes token values', () => {
    assert.deepEqual(plain(parseExtensionHeader('permessage-deflate; client_max_window_bits="10"')), [
      { name: 'permessage-deflate', params: { client_max_window_bits: '10' }, dup: false },
    ]);
  });

  it('resolves backslash escapes', () => {
    assert.deepEqual(plain(parseExtensionHeader('x; a="\\1\\0"; b="ab\\c"; c="\\a"; d="a\\b\\c"')), [
      { name: 'x', params: { a: '10', b: 'abc', c: 'a', d: 'abc' }, dup: false },
    ]);
  });

  it('accepts every tchar inside quotes, escaped or not', () => {
    const tchars = "!#$%&'*+-.^_`|~09AZaz";
    const escaped = [...tchars].map((c) => '\\' + c).join('');
    assert.deepEqual(plain(parseExtensionHeader(`x; a="${tchars}"; b="${escaped}"`)), [
      { name: 'x', params: { a: tchars, b: tchars }, dup: false },
    ]);
  });

  it('allows a quoted value followed by further params and extensions', () => {
    assert.deepEqual(plain(parseExtensionHeader('x; a="1"; b, y; c="2"')), [
      { name: 'x', params: { a: '1', b: true }, dup: false },
      { name: 'y', params: { c: '2' }, dup: false },
    ]);
  });

  it('rejects quoted values that are not tokens after unescaping', () => {
    for (const v of [
      'x; a=""', // empty
      'x; a="a b"', // space
      'x; a="a,b"', // comma
      'x; a="a;b"',
      'x; a="a=b"',
      'x; a="\\""', // escaped quote
      'x; a="\\\\"', // escaped backslash
      'x; a="\\ "', // escaped space
      'x; a="a\tb"',
      'x; a="caf\u00e9"', // obs-text / non-ASCII
      'x; a="\\\u00e9"',
      'x; a="a\r\nb"',
    ]) {
      assert.equal(parseExtensionHeader(v), null, JSON.stringify(v));
    }
  });

  it('rejects malformed quoting', () => {
    for (const v of [
      'x; a="1', // unterminated
      'x; a="1\\', // dangling backslash
      'x; a="1\\"', // escaped closing quote -> unterminated
      'x; a=1"', // stray quote after token
      'x; a="1"2', // garbage after quoted string
      'x; a="1" 2',
      'x; a="1""2"',
      'x; "a"=1', // quoted param name
      '"x"', // quoted extension name
    ]) {
      assert.equal(parseExtensionHeader(v), null, JSON.stringify(v));
    }
    // Single quotes are tchars, so this is a (strange) token value, not quoting.
    assert.deepEqual(plain(parseExtensionHeader("x; a='1'")), [{ name: 'x', params: { a: "'1'" }, dup: false }]);
  });
});

describe('parseExtensionHeader: duplicate parameters', () => {
  it('flags duplicates and keeps the first value', () => {
    assert.deepEqual(plain(parseExtensionHeader('x; a=1; a=2')), [{ name: 'x', params: { a: '1' }, dup: true }]);
    assert.deepEqual(plain(parseExtensionHeader('x; a; A=2; b')), [
      { name: 'x', params: { a: true, b: true }, dup: true },
    ]);
  });

  it('flags per extension only', () => {
    assert.deepEqual(plain(parseExtensionHeader('x; a, y; a; a, z; a')), [
      { name: 'x', params: { a: true }, dup: false },
      { name: 'y', params: { a: true }, dup: true },
      { name: 'z', params: { a: true }, dup: false },
    ]);
  });
});

describe('parseExtensionHeader: malformed', () => {
  it('returns null for grammar violations', () => {
    for (const v of [
      ';',
      ';a',
      'x;',
      'x; ',
      'x;;a',
      'x; a=',
      'x; a= ',
      'x; =1',
      'x; a==1',
      'x; a=1=2',
      'x a',
      'x; a b',
      'x; a=1 b',
      'x; a=1;',
      'x/1',
      'x; a=1/2',
      'x,; a',
      ', ;a',
      'caf\u00e9',
      'x; caf\u00e9',
      'x; a=caf\u00e9',
      'x\r\n',
      'x\0',
      'x; a=1\n',
      '\u00a0x',
    ]) {
      assert.equal(parseExtensionHeader(v), null, JSON.stringify(v));
    }
  });

  it('returns null if any array element is malformed', () => {
    assert.equal(parseExtensionHeader(['x', 'y;']), null);
    assert.equal(parseExtensionHeader([';', 'x']), null);
  });
});

describe('parseExtensionHeader: arrays (repeated header lines)', () => {
  it('concatenates in order', () => {
    assert.deepEqual(plain(parseExtensionHeader(['a; x=1', 'b, c', ''])), [
      { name: 'a', params: { x: '1' }, dup: false },
      { name: 'b', params: {}, dup: false },
      { name: 'c', params: {}, dup: false },
    ]);
  });

  it('matches the Node ", " join of the same lines', () => {
    const lines = ['permessage-deflate; client_max_window_bits', 'x-foo; a="b"'];
    assert.deepEqual(plain(parseExtensionHeader(lines)), plain(parseExtensionHeader(lines.join(', '))));
  });

  it('does not let a param leak across array elements', () => {
    // Each element starts a fresh list; "; a" at the start is malformed.
    assert.equal(parseExtensionHeader(['x', '; a']), null);
  });
});

describe('parseExtensionHeader: linear time on hostile input', () => {
  const K64 = 64 * 1024;
  const N = 100_000;

  it('rejects 64 KiB of ";" and of quote/backslash runs in linear time', () => {
    const cases: ((n: number) => string)[] = [
      (n) => ';'.repeat(n),
      (n) => '"' + '\\'.repeat(n),
      (n) => 'x; a="' + '\\\\'.repeat(n / 2),
    ];
    for (const [i, make] of cases.entries()) {
      assert.equal(parseExtensionHeader(make(K64)), null);
      assertLinear(`case #${i}`, LINEAR_N, make, parseExtensionHeader);
    }
  });

  it('handles large valid and invalid inputs in linear time', () => {
    const builders: ((n: number) => string)[] = [
      (n) => 'x' + ';a'.repeat(n / 2), // many duplicate params
      (n) => 'x' + Array.from({ length: n / 8 }, (_, i) => `;p${i}=1`).join(''), // many distinct params
      (n) => 'x; a="' + '\\a'.repeat(n / 2) + '"', // long escaped value
      (n) => 'x; a="' + '\\a'.repeat(n / 2), // same, unterminated
      (n) => 'x; a="' + 'a'.repeat(n) + '"',
      (n) => 'x; a="' + 'a'.repeat(n), // unterminated
      (n) => 'extension, '.repeat(n / 11),
      (n) => ','.repeat(n),
      (n) => ' '.repeat(n),
      (n) => 'x' + ' '.repeat(n) + ';',
      (n) => 'x;' + ' '.repeat(n) + 'a' + ' '.repeat(n) + '=' + ' '.repeat(n) + '1',
      (n) => 'x; a=' + '"'.repeat(n),
      (n) => 'x; a="1"'.repeat(n / 8),
      (n) => ';;;;'.repeat(n / 4),
      (n) => '"\\\\\\'.repeat(n / 4),
      (n) => 'x' + '; a="\\b"'.repeat(n / 9),
    ];
    // 8 times the input must cost about 8 times as much, not 64 (quadratic).
    for (const [i, make] of builders.entries()) assertLinear(`input #${i}`, LINEAR_N, make, parseExtensionHeader);
    const inputs = builders.map((make) => make(N));

    const dup = parseExtensionHeader(inputs[0]!)!;
    assert.equal(dup.length, 1);
    assert.equal(dup[0]!.params.size, 1);
    assert.equal(dup[0]!.duplicateParams, true);
    assert.equal(parseExtensionHeader(inputs[1]!)![0]!.params.size, N / 8);
    assert.equal(parseExtensionHeader(inputs[2]!)![0]!.params.get('a'), 'a'.repeat(N / 2));
    assert.equal(parseExtensionHeader(inputs[3]!), null);
    assert.equal(parseExtensionHeader(inputs[6]!)!.length, Math.floor(N / 11));
    // Many tiny extensions: allocation-bound (one Map each), still linear.
    const many = parseExtensionHeader('x,'.repeat(N / 2));
    assert.equal(many!.length, N / 2);
    assert.deepEqual(plain(parseExtensionHeader(inputs[10]!)), [{ name: 'x', params: { a: '1' }, dup: false }]);
  });
});

describe('formatExtension / formatExtensionHeader', () => {
  it('formats names and params', () => {
    assert.equal(formatExtension('permessage-deflate', []), 'permessage-deflate');
    assert.equal(
      formatExtension('permessage-deflate', [
        ['client_max_window_bits', true],
        ['server_max_window_bits', '10'],
      ]),
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10',
    );
  });

  it('accepts a Map', () => {
    const params = new Map<string, string | true>([
      ['server_no_context_takeover', true],
      ['client_max_window_bits', '15'],
    ]);
    assert.equal(
      formatExtension('permessage-deflate', params),
      'permessage-deflate; server_no_context_takeover; client_max_window_bits=15',
    );
  });

  it('joins several extensions with ", "', () => {
    assert.equal(formatExtensionHeader([]), '');
    assert.equal(
      formatExtensionHeader([
        { name: 'a', params: [['x', '1']] },
        { name: 'b', params: new Map() },
      ]),
      'a; x=1, b',
    );
  });

  it('round-trips through the parser', () => {
    const src = 'permessage-deflate; client_max_window_bits=10; server_no_context_takeover, x-other; k=v';
    const parsed = parseExtensionHeader(src)!;
    assert.equal(formatExtensionHeader(parsed), src);
    assert.deepEqual(plain(parseExtensionHeader(formatExtensionHeader(parsed))), plain(parsed));
  });

  it('normalises quoted values to tokens', () => {
    const parsed = parseExtensionHeader('x; a="1\\2"')!;
    assert.equal(formatExtensionHeader(parsed), 'x; a=12');
  });

  it('throws TypeError for non-token names and values (no header injection)', () => {
    assert.throws(() => formatExtension('', []), TypeError);
    assert.throws(() => formatExtension('a b', []), TypeError);
    assert.throws(() => formatExtension('x\r\nSet-Cookie: a=b', []), TypeError);
    assert.throws(() => formatExtension('x', [['', true]]), TypeError);
    assert.throws(() => formatExtension('x', [['a b', true]]), TypeError);
    assert.throws(() => formatExtension('x', [['a', '']]), TypeError);
    assert.throws(() => formatExtension('x', [['a', 'b c']]), TypeError);
    assert.throws(() => formatExtension('x', [['a', '1\r\nX: y']]), TypeError);
    assert.throws(() => formatExtension('x', [['a', '"1"']]), TypeError);
    assert.throws(() => formatExtension('x', [['a', 1 as unknown as string]]), TypeError);
    assert.throws(() => formatExtensionHeader([{ name: 'ok', params: [] }, { name: 'no;', params: [] }]), TypeError);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  hasToken,
  isFieldValue,
  isOWS,
  isTChar,
  isToken,
  lowerToken,
  parseProtocolList,
  parseTokenList,
  singleValue,
  skipOWS,
  trimOWS,
} from '../../src/protocol/http-tokens.js';
import { assertLinear, LINEAR_N } from './support/linearity.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

describe('isTChar / isToken (RFC 9110 §5.6.2)', () => {
  it('accepts exactly the tchar set', () => {
    for (let c = 0; c < 0x300; c++) {
      assert.equal(isTChar(c), TCHARS.includes(String.fromCharCode(c)), `char code ${c}`);
    }
  });

  it('accepts tokens', () => {
    assert.equal(isToken('websocket'), true);
    assert.equal(isToken('permessage-deflate'), true);
    assert.equal(isToken(TCHARS), true);
    assert.equal(isToken('a'), true);
  });

  it('rejects empty strings, separators, controls, whitespace and non-ASCII', () => {
    for (const s of ['', ' ', 'a b', 'a,b', 'a;b', 'a=b', '"a"', 'a/b', 'a(b)', 'a\tb', 'a\r\nb', 'a\0', 'caf\u00e9', '\u{1F600}', '[', ']', '{', '}', '?', '@', ':', '\\', '<', '>']) {
      assert.equal(isToken(s), false, JSON.stringify(s));
    }
  });
});

describe('trimOWS', () => {
  it('strips only SP and HTAB', () => {
    assert.equal(trimOWS(' \t a b \t '), 'a b');
    assert.equal(trimOWS('abc'), 'abc');
    assert.equal(trimOWS('   '), '');
    assert.equal(trimOWS(''), '');
    assert.equal(trimOWS('\u00a0a\u00a0'), '\u00a0a\u00a0');
    assert.equal(trimOWS('\na\r'), '\na\r');
  });
});

describe('lowerToken', () => {
  it('lowercases ASCII letters, and gives back the same string when there are none to lower', () => {
    assert.equal(lowerToken('WebSocket'), 'websocket');
    assert.equal(lowerToken('h2C-X'), 'h2c-x');
    assert.equal(lowerToken('websocket'), 'websocket');
    assert.equal(lowerToken(''), '');
    assert.equal(lowerToken('@[`{'), '@[`{');
  });
});

describe('isOWS / skipOWS (RFC 9110 §5.6.3)', () => {
  it('OWS is SP and HTAB only', () => {
    for (let c = 0; c < 256; c++) assert.equal(isOWS(c), c === 0x20 || c === 0x09, `0x${c.toString(16)}`);
  });

  it('skipOWS returns the first index that is not OWS, or the length', () => {
    assert.equal(skipOWS('a', 0), 0);
    assert.equal(skipOWS(' \t a', 0), 3);
    assert.equal(skipOWS('a  b', 1), 3);
    assert.equal(skipOWS('a \t', 1), 3);
    assert.equal(skipOWS('', 0), 0);
    assert.equal(skipOWS(' \r\n', 0), 1, 'CR and LF are not OWS');
    assert.equal(skipOWS('\u00a0x', 0), 0, 'nor is NBSP');
  });
});

describe('isFieldValue (RFC 9110 §5.5, as sent)', () => {
  it('allows HTAB, SP and VCHAR, and the empty value', () => {
    assert.equal(isFieldValue(''), true);
    assert.equal(isFieldValue('\t a ~'), true);
    for (let c = 0x21; c <= 0x7e; c++) assert.equal(isFieldValue(String.fromCharCode(c)), true);
  });

  it('refuses CTLs (CR, LF, NUL: no header injection), DEL and anything beyond ASCII', () => {
    for (let c = 0; c < 0x20; c++) if (c !== 0x09) assert.equal(isFieldValue(`a${String.fromCharCode(c)}b`), false, `0x${c.toString(16)}`);
    for (const s of ['\x7f', 'caf\u00e9', '\u2028', '\ud83d\ude00']) assert.equal(isFieldValue(s), false, JSON.stringify(s));
  });
});

describe('singleValue (RFC 9110 §5.3)', () => {
  it('is the one value, undefined when absent, null when repeated', () => {
    assert.equal(singleValue(undefined), undefined);
    assert.equal(singleValue([]), undefined);
    assert.equal(singleValue('a'), 'a');
    assert.equal(singleValue(''), '');
    assert.equal(singleValue(['a']), 'a');
    assert.equal(singleValue(['a', 'a']), null);
    assert.equal(singleValue(['a', 'b']), null);
  });
});

describe('parseTokenList (RFC 9110 §5.6.1)', () => {
  it('returns [] for undefined and empty values', () => {
    assert.deepEqual(parseTokenList(undefined), []);
    assert.deepEqual(parseTokenList(''), []);
    assert.deepEqual(parseTokenList([]), []);
    assert.deepEqual(parseTokenList('   '), []);
  });

  it('parses a single token and lowercases it', () => {
    assert.deepEqual(parseTokenList('Upgrade'), ['upgrade']);
    assert.deepEqual(parseTokenList('WebSocket'), ['websocket']);
  });

  it('splits on commas and trims OWS', () => {
    assert.deepEqual(parseTokenList('keep-alive, Upgrade'), ['keep-alive', 'upgrade']);
    assert.deepEqual(parseTokenList(' \ta\t ,\tb ,c'), ['a', 'b', 'c']);
  });

  it('skips empty elements (§5.6.1.2)', () => {
    assert.deepEqual(parseTokenList(',a,,b,'), ['a', 'b']);
    assert.deepEqual(parseTokenList(' , , a , , '), ['a']);
    assert.deepEqual(parseTokenList(',,,'), []);
  });

  it('keeps duplicates', () => {
    assert.deepEqual(parseTokenList('a, A, a'), ['a', 'a', 'a']);
  });

  it('concatenates arrays (repeated header lines)', () => {
    assert.deepEqual(parseTokenList(['keep-alive', 'Upgrade']), ['keep-alive', 'upgrade']);
    assert.deepEqual(parseTokenList(['a, b', '', 'c']), ['a', 'b', 'c']);
  });

  it('returns null for malformed elements', () => {
    for (const v of ['a b', 'a, b c', 'a;b', 'websocket/13', '"a"', 'a,\r\nb', 'a=1', 'caf\u00e9', '\u00a0a', 'a\0']) {
      assert.equal(parseTokenList(v), null, JSON.stringify(v));
    }
    assert.equal(parseTokenList(['a', 'b c']), null);
  });
});

describe('hasToken', () => {
  it('returns false for undefined or empty', () => {
    assert.equal(hasToken(undefined, 'upgrade'), false);
    assert.equal(hasToken('', 'upgrade'), false);
    assert.equal(hasToken([], 'upgrade'), false);
    assert.equal(hasToken(',,', 'upgrade'), false);
  });

  it('matches case-insensitively', () => {
    assert.equal(hasToken('Upgrade', 'upgrade'), true);
    assert.equal(hasToken('UPGRADE', 'upgrade'), true);
    assert.equal(hasToken('WebSocket', 'websocket'), true);
    assert.equal(hasToken('websocket', 'WebSocket'), true);
  });

  it('finds the token anywhere in a list with OWS', () => {
    assert.equal(hasToken('keep-alive, Upgrade', 'upgrade'), true);
    assert.equal(hasToken('Upgrade,keep-alive', 'upgrade'), true);
    assert.equal(hasToken(' \tfoo ,\t upgrade \t, bar', 'upgrade'), true);
    assert.equal(hasToken('foo, WebSocket', 'websocket'), true);
    assert.equal(hasToken(',,upgrade,,', 'upgrade'), true);
  });

  it('does not match prefixes, suffixes or substrings', () => {
    assert.equal(hasToken('upgrades', 'upgrade'), false);
    assert.equal(hasToken('xupgrade', 'upgrade'), false);
    assert.equal(hasToken('upgrad', 'upgrade'), false);
    assert.equal(hasToken('up grade', 'upgrade'), false);
    assert.equal(hasToken('websocket/13', 'websocket'), false);
  });

  it('tolerates unrelated non-token elements', () => {
    assert.equal(hasToken('HTTP/2.0, websocket', 'websocket'), true);
    assert.equal(hasToken('h2c/1 ,websocket', 'websocket'), true);
  });

  it('searches every array element', () => {
    assert.equal(hasToken(['keep-alive', 'Upgrade'], 'upgrade'), true);
    assert.equal(hasToken(['keep-alive', 'close'], 'upgrade'), false);
  });

  it('never matches an empty token', () => {
    assert.equal(hasToken('', ''), false);
    assert.equal(hasToken('a,,b', ''), false);
  });
});

describe('parseProtocolList (RFC 6455 §4.1, §11.3.4)', () => {
  it('returns [] for undefined and empty', () => {
    assert.deepEqual(parseProtocolList(undefined), []);
    assert.deepEqual(parseProtocolList(''), []);
    assert.deepEqual(parseProtocolList(' , '), []);
  });

  it('keeps case (subprotocols are case-sensitive)', () => {
    assert.deepEqual(parseProtocolList('Chat, superChat'), ['Chat', 'superChat']);
  });

  it('treats differently-cased values as distinct', () => {
    assert.deepEqual(parseProtocolList('chat, Chat'), ['chat', 'Chat']);
  });

  it('trims OWS and skips empty elements', () => {
    assert.deepEqual(parseProtocolList(' \tchat ,, v2.json \t'), ['chat', 'v2.json']);
  });

  it('handles arrays and Node-style ", " joins identically', () => {
    assert.deepEqual(parseProtocolList(['chat', 'superchat']), ['chat', 'superchat']);
    assert.deepEqual(parseProtocolList('chat, superchat'), ['chat', 'superchat']);
  });

  it('rejects duplicates, including across repeated headers', () => {
    assert.equal(parseProtocolList('chat, chat'), null);
    assert.equal(parseProtocolList(['chat', 'chat']), null);
    assert.equal(parseProtocolList('a, b, c, a'), null);
  });

  it('rejects non-token elements', () => {
    for (const v of ['chat room', 'a;b', '"chat"', 'a/b', 'caf\u00e9', 'a\r\n']) {
      assert.equal(parseProtocolList(v), null, JSON.stringify(v));
    }
  });
});

describe('linear time on hostile input', () => {
  const N = 100_000;
  const builders: ((n: number) => string)[] = [
    (n) => ' '.repeat(n),
    (n) => ','.repeat(n),
    (n) => ', '.repeat(n / 2),
    (n) => 'a'.repeat(n),
    (n) => 'a,'.repeat(n / 2),
    (n) => 'a '.repeat(n / 2),
    (n) => 'ab, '.repeat(n / 4),
    (n) => ' '.repeat(n) + 'x',
    (n) => 'a' + ' '.repeat(n) + 'b',
    (n) => '\t'.repeat(n) + ',',
  ];

  it('parseTokenList / hasToken / parseProtocolList stay linear', () => {
    // 8 times the input must cost about 8 times as much, not 64 (quadratic).
    for (const [i, make] of builders.entries()) {
      assertLinear(
        `input #${i}`,
        LINEAR_N,
        (n) => ({ s: make(n), longToken: 'a'.repeat(n) }),
        ({ s, longToken }) => {
          parseTokenList(s);
          parseProtocolList(s);
          hasToken(s, 'upgrade');
          hasToken(s, longToken);
          hasToken(s, 'ab');
        },
      );
    }
  });

  it('handles many distinct protocols and a late duplicate', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => `p${i}`);
    const list = parseProtocolList(many.join(', '));
    assert.equal(list?.length, 20_000);
    assert.equal(parseProtocolList(many.join(', ') + ', p0'), null);
  });

  it('finds a token at the end of a long list', () => {
    const s = 'x, '.repeat(N / 3) + 'Upgrade';
    assert.equal(hasToken(s, 'upgrade'), true);
    assert.equal(parseTokenList(s)?.at(-1), 'upgrade');
  });
});

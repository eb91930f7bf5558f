// The MessagePack codec: the spec's encodings byte for byte, round trips, what it refuses, and
// agreement with two independent implementations (msgpack5, used by AutobahnJS, and msgpackr,
// used by wampy).

import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { decode, encode, MAX_DEPTH, MsgpackError } from '../../src/wamp/msgpack.js';
import { JSON_SERIALIZER } from '../../src/wamp/serializer.js';

const require = createRequire(import.meta.url);
const msgpack5 = (require('msgpack5') as () => { encode(v: unknown): { slice(): Buffer }; decode(b: Buffer): unknown })();
const msgpackr = require('msgpackr') as { pack(v: unknown): Buffer; unpack(b: Buffer): unknown };

const hex = (buffer: Buffer): string => buffer.toString('hex');

describe('MessagePack codec', () => {
  it('writes the smallest format for each value (msgpack spec, "Formats")', () => {
    const table: [unknown, string][] = [
      [null, 'c0'],
      [false, 'c2'],
      [true, 'c3'],
      [0, '00'],
      [127, '7f'],
      [128, 'cc80'],
      [255, 'ccff'],
      [256, 'cd0100'],
      [65535, 'cdffff'],
      [65536, 'ce00010000'],
      [2 ** 32 - 1, 'ceffffffff'],
      [2 ** 32, 'cf0000000100000000'],
      [2 ** 53, 'cf0020000000000000'],
      [-1, 'ff'],
      [-32, 'e0'],
      [-33, 'd0df'],
      [-128, 'd080'],
      [-129, 'd1ff7f'],
      [-32768, 'd18000'],
      [-32769, 'd2ffff7fff'],
      [-(2 ** 31), 'd280000000'],
      [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
      [1.5, 'cb3ff8000000000000'],
      ['', 'a0'],
      ['a', 'a161'],
      ['x'.repeat(31), 'bf' + '78'.repeat(31)],
      ['x'.repeat(32), 'd920' + '78'.repeat(32)],
      ['é', 'a2c3a9'],
      [Buffer.from([1, 2]), 'c4020102'],
      [[], '90'],
      [[1, 'a'], '9201a161'],
      [{}, '80'],
      [{ a: 1 }, '81a16101'],
    ];
    for (const [value, bytes] of table) assert.equal(hex(encode(value)), bytes, JSON.stringify(value));
    assert.equal(hex(encode('é'.repeat(20))), 'd928' + 'c3a9'.repeat(20), 'a 40-byte string of 20 characters');
    assert.equal(hex(encode(new Array(16).fill(0))), 'dc0010' + '00'.repeat(16));
    assert.equal(hex(encode(Buffer.alloc(256))).slice(0, 6), 'c50100');
    assert.equal(hex(encode(12345678901234567890n)), 'cfab54a98ceb1f0ad2');
  });

  it('round-trips nested values, and decodes every integer and float format', () => {
    const value = [1, -1, 300, -300, 70000, -70000, 2 ** 40, -(2 ** 40), 0.25, 'ünïcödé ✓', Buffer.from('bytes'), [[], {}], { nested: { deep: [true, false, null] } }];
    assert.deepEqual(decode(encode(value)), value);
    assert.equal(decode(Buffer.from('ca3fc00000', 'hex')), 1.5, 'float32');
    assert.equal(decode(Buffer.from('d3fffffffffffffffe', 'hex')), -2, 'int64');
    assert.equal(decode(Buffer.from('cf0000000000000005', 'hex')), 5, 'uint64');
    assert.equal(decode(Buffer.from('da0001' + '61', 'hex')), 'a', 'str16');
    assert.deepEqual(decode(Buffer.from('dd00000001c0', 'hex')), [null], 'array32');
    assert.deepEqual(decode(Buffer.from('df00000001a16101', 'hex')), { a: 1 }, 'map32');
  });

  it('refuses extension types, 0xc1, truncation, trailing bytes, lying lengths and deep nesting', () => {
    const bad = ['d40100', 'c70101ff', 'c1', '92', 'a3616263ff', 'c0c0', 'dd7fffffff', 'c6ffffffff00'];
    for (const bytes of bad) assert.throws(() => decode(Buffer.from(bytes, 'hex')), MsgpackError, bytes);
    const deep = Buffer.concat([Buffer.alloc(MAX_DEPTH + 1, 0x91), Buffer.from([0xc0])]);
    assert.throws(() => decode(deep), /nested deeper/);
    const ok = Buffer.concat([Buffer.alloc(MAX_DEPTH, 0x91), Buffer.from([0xc0])]);
    assert.doesNotThrow(() => decode(ok));
  });

  it("reads msgpackr's undefined (fixext 1, type 0, byte 0) as a missing value", () => {
    assert.deepEqual(decode(Buffer.from('82a161d40000a16201', 'hex')), { b: 1 });
    assert.deepEqual(decode(Buffer.from('92d4000001', 'hex')), [null, 1]);
    assert.deepEqual(decode(msgpackr.pack({ match: undefined, x: [undefined] })), { x: [null] });
  });

  it('keeps a "__proto__" key as data, never as the prototype', () => {
    const decoded = decode(Buffer.from('81a95f5f70726f746f5f5f81a178c3', 'hex')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.deepEqual(Object.keys(decoded), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('agrees with msgpack5 and msgpackr both ways', () => {
    const values: unknown[] = [
      [48, 7814135, {}, 'com.myapp.user.new', ['johnny'], { firstname: 'John', surname: 'Doe' }],
      [36, 5512315355, 4429313566, { topic: 'com.x' }, [1.25, -7, 2 ** 40, 'é', Buffer.from([0, 255])]],
      { list: new Array(70).fill('ab'), map: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i * 1000])) },
      'x'.repeat(70000),
    ];
    for (const value of values) {
      const mine = encode(value);
      const theirs5 = msgpack5.decode(mine);
      const theirsR = msgpackr.unpack(mine);
      assert.deepEqual(normalize(theirs5), normalize(value));
      assert.deepEqual(normalize(theirsR), normalize(value));
      assert.deepEqual(normalize(decode(msgpack5.encode(value).slice())), normalize(value));
      assert.deepEqual(normalize(decode(msgpackr.pack(value))), normalize(value));
    }
  });
});

describe('JSON serializer', () => {
  it('turns bytes into "\\0" + base64 and back, only when a message holds them', () => {
    const info = { binary: false };
    const encoded = JSON_SERIALIZER.encode([16, 1, {}, 'com.x', [Buffer.from([1, 2, 3])]], true);
    assert.equal(encoded.toString(), '[16,1,{},"com.x",["\\u0000AQID"]]');
    assert.deepEqual(JSON_SERIALIZER.decode(encoded, info), [16, 1, {}, 'com.x', [Buffer.from([1, 2, 3])]]);
    assert.equal(info.binary, true);
    assert.deepEqual(JSON_SERIALIZER.decode(Buffer.from('[1,"a",{}]'), info), [1, 'a', {}]);
    assert.equal(info.binary, false);
  });
});

/** Buffers and Uint8Arrays compare as their bytes; msgpackr's bigints for 64-bit integers as numbers. */
function normalize(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) return ['bytes', Buffer.from(value).toString('hex')];
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  return value;
}

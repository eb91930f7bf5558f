import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { INCOMPLETE, NOT_MINE, parseUpgradeRequestHead, rawHeadersOf, TOO_LARGE } from '../../src/protocol/http1-request-head.js';

const MAX = 16 * 1024;
const upgrade = (extra = '', line = 'GET /chat?x=1 HTTP/1.1') =>
  `${line}\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

function parse(text: string): ReturnType<typeof parseUpgradeRequestHead> {
  return parseUpgradeRequestHead(Buffer.from(text, 'latin1'), MAX);
}

describe('parseUpgradeRequestHead (the upgrade fast path)', () => {
  it('parses a WebSocket upgrade request like Node does', () => {
    const head = parse(upgrade('X-Custom:  a value \t\r\n'));
    assert.ok(typeof head === 'object');
    assert.equal(head.method, 'GET');
    assert.equal(head.url, '/chat?x=1');
    assert.equal(head.headers['host'], 'example.test');
    assert.equal(head.headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
    assert.equal(head.headers['x-custom'], 'a value', 'OWS trimmed on both sides');
    assert.deepEqual(rawHeadersOf(head.text), [
      'Host', 'example.test', 'Upgrade', 'websocket', 'Connection', 'Upgrade',
      'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version', '13', 'X-Custom', 'a value',
    ], 'rawHeaders: names as sent, values OWS-trimmed, in order');
    assert.equal(head.length, Buffer.byteLength(upgrade('X-Custom:  a value \t\r\n')));
  });

  it('reports where the head ends so that following frame bytes are kept', () => {
    const text = upgrade();
    const data = Buffer.concat([Buffer.from(text), Buffer.from([0x81, 0x80, 1, 2, 3, 4])]);
    const head = parseUpgradeRequestHead(data, MAX);
    assert.ok(typeof head === 'object');
    assert.deepEqual([...data.subarray(head.length)], [0x81, 0x80, 1, 2, 3, 4]);
  });

  it('joins repeated list fields and refuses other repeated fields', () => {
    const head = parse(upgrade('Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n'));
    assert.ok(typeof head === 'object');
    assert.equal(head.headers['sec-websocket-protocol'], 'a, b');
    assert.equal(parse(upgrade('Host: other.test\r\n')), NOT_MINE);
  });

  it('waits for more bytes until the blank line arrives', () => {
    const text = upgrade();
    for (const cut of [0, 1, 10, text.length - 2, text.length - 1]) {
      assert.equal(parse(text.slice(0, cut)), INCOMPLETE, `cut at ${cut}`);
    }
  });

  it('finds the blank line wherever the earlier pieces ended, even inside it', () => {
    const data = Buffer.from(upgrade() + 'frame bytes');
    const whole = parseUpgradeRequestHead(data, MAX);
    assert.ok(typeof whole === 'object');
    for (let scanned = 0; scanned < whole.length; scanned++) {
      // `scanned` bytes were seen before without the blank line: a truthful hint.
      assert.equal(parseUpgradeRequestHead(data.subarray(0, scanned), MAX), INCOMPLETE);
      const head = parseUpgradeRequestHead(data, MAX, scanned);
      assert.ok(typeof head === 'object', `scanned ${scanned}`);
      assert.equal(head.length, whole.length, `scanned ${scanned}`);
    }
  });

  it('hands everything unusual to the full HTTP parser', () => {
    const cases: [string, string][] = [
      ['POST', upgrade('', 'POST /chat HTTP/1.1')],
      ['HTTP/1.0', upgrade('', 'GET /chat HTTP/1.0')],
      ['HTTP/1.10', upgrade('', 'GET /chat HTTP/1.10')],
      ['http/1.1', upgrade('', 'GET /chat http/1.1')],
      ['absolute-form target', upgrade('', 'GET http://example.test/ HTTP/1.1')],
      ['no websocket token', upgrade().replace('Upgrade: websocket', 'Upgrade: h2c')],
      ['no upgrade in Connection', upgrade().replace('Connection: Upgrade', 'Connection: keep-alive')],
      ['no Host', upgrade().replace('Host: example.test\r\n', '')],
      ['a body', upgrade('Content-Length: 5\r\n')],
      ['chunked', upgrade('Transfer-Encoding: chunked\r\n')],
      ['space before colon', upgrade('X-Bad : 1\r\n')],
      ['obs-fold', upgrade('X-Fold: a\r\n b\r\n')],
      ['control character', upgrade('X-Ctl: a\x01b\r\n')],
      ['bare LF in a value', upgrade('X-Lf: a\nb\r\n')],
      ['space in target', upgrade('', 'GET /a b HTTP/1.1')],
      ['empty name', upgrade(': value\r\n')],
    ];
    for (const [what, text] of cases) assert.equal(parse(text), NOT_MINE, what);
  });

  it('reports heads over the size limit as too large, and refuses more than 100 fields', () => {
    assert.equal(parse(upgrade(`X-Big: ${'a'.repeat(MAX)}\r\n`)), TOO_LARGE);
    assert.equal(parseUpgradeRequestHead(Buffer.alloc(MAX, 0x61), MAX), TOO_LARGE, 'no blank line within the limit');
    assert.equal(parseUpgradeRequestHead(Buffer.alloc(MAX - 1, 0x61), MAX), INCOMPLETE, 'one byte short of the limit');
    const exact = upgrade(`X-Pad: ${'a'.repeat(100)}\r\n`);
    const size = Buffer.byteLength(exact);
    assert.notEqual(parseUpgradeRequestHead(Buffer.from(exact), size), TOO_LARGE, 'a head of exactly the limit');
    assert.equal(parseUpgradeRequestHead(Buffer.from(exact), size - 1), TOO_LARGE);
    assert.equal(parse(upgrade('X-A: 1\r\n'.repeat(100))), NOT_MINE);
  });

  it('lowercases field names in any case, the handshake\'s common names included', () => {
    const text =
      'GET / HTTP/1.1\r\nHOST: a.test\r\nuPgRaDe: websocket\r\nCONNECTION: Upgrade\r\n' +
      'sec-websocket-KEY: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-Websocket-Version: 13\r\nHast: near\r\n' +
      'Sec-WebSocket-Kez: near\r\nX-Host: other\r\nORIGIN: https://a.test\r\nCookie: a=1\r\ncookie: b=2\r\n' +
      'Sec-WebSocket-Protocol: p\r\nsec-websocket-protocol: q\r\n\r\n';
    const head = parse(text);
    assert.ok(typeof head === 'object');
    assert.deepEqual(Object.entries(head.headers), [
      ['host', 'a.test'],
      ['upgrade', 'websocket'],
      ['connection', 'Upgrade'],
      ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ['sec-websocket-version', '13'],
      ['hast', 'near'],
      ['sec-websocket-kez', 'near'],
      ['x-host', 'other'],
      ['origin', 'https://a.test'],
      ['cookie', 'a=1; b=2'],
      ['sec-websocket-protocol', 'p, q'],
    ]);
    assert.deepEqual(rawHeadersOf(head.text).filter((_, i) => i % 2 === 0), [
      'HOST', 'uPgRaDe', 'CONNECTION', 'sec-websocket-KEY', 'Sec-Websocket-Version', 'Hast',
      'Sec-WebSocket-Kez', 'X-Host', 'ORIGIN', 'Cookie', 'cookie', 'Sec-WebSocket-Protocol', 'sec-websocket-protocol',
    ]);
    assert.equal(parse(text.replace('\r\n\r\n', '\r\nHOST: b.test\r\n\r\n')), NOT_MINE, 'a repeated Host, whatever its case');
  });

  it('keeps field values exactly as sent, the handshake\'s common values and their near misses alike', () => {
    const text =
      'GET / HTTP/1.1\r\nHost: a.test\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nPragma: no-cache\r\n' +
      'Cache-Control: No-cache\r\nX-A: WEBSOCKET\r\nX-B: websockeT\r\nX-C: 12\r\nX-D: upgradE\r\n\r\n';
    const head = parse(text);
    assert.ok(typeof head === 'object');
    assert.deepEqual(Object.entries(head.headers), [
      ['host', 'a.test'],
      ['upgrade', 'WebSocket'],
      ['connection', 'keep-alive, Upgrade'],
      ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ['sec-websocket-version', '13'],
      ['pragma', 'no-cache'],
      ['cache-control', 'No-cache'],
      ['x-a', 'WEBSOCKET'],
      ['x-b', 'websockeT'],
      ['x-c', '12'],
      ['x-d', 'upgradE'],
    ]);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import {
  WEBSOCKET_GUID,
  acceptKey,
  buildAcceptResponse,
  buildErrorResponse,
  checkUpgradeRequest,
  isValidKey,
  type RequestCheck,
  type UpgradeRequestInfo,
} from '../../src/protocol/handshake.js';
import { assertLinear, LINEAR_N } from './support/linearity.js';
import { generateKey } from '../../src/protocol/client-handshake.js';

// RFC 6455 §1.3 example (the RFC's accept value; SHA-1 checked independently below).
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

type Headers = Record<string, string | string[] | undefined>;

function req(headers: Headers = {}, method = 'GET', httpVersion = '1.1'): UpgradeRequestInfo {
  return {
    method,
    httpVersion,
    headers: {
      host: 'server.example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': KEY,
      'sec-websocket-version': '13',
      ...headers,
    },
  };
}

function assertFail(r: RequestCheck, status: number, reasonPattern: RegExp, headers?: Record<string, string>) {
  assert.equal(r.ok, false, 'expected failure');
  if (r.ok) return;
  assert.equal(r.status, status);
  assert.match(r.reason, reasonPattern);
  assert.deepEqual(r.headers, headers);
}

// Splits a serialised HTTP message into start line, header lines and body.
function split(msg: string) {
  const end = msg.indexOf('\r\n\r\n');
  assert.notEqual(end, -1, 'no end of header section');
  const lines = msg.slice(0, end).split('\r\n');
  return { start: lines[0]!, headers: lines.slice(1), body: msg.slice(end + 4) };
}

describe('acceptKey / WEBSOCKET_GUID (RFC 6455 §1.3, §4.2.2)', () => {
  it('exports the GUID', () => {
    assert.equal(WEBSOCKET_GUID, '258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
  });

  it('computes the RFC 6455 §1.3 example', () => {
    assert.equal(acceptKey(KEY), ACCEPT);
    // §1.3 also gives the raw SHA-1 digest.
    assert.equal(
      Buffer.from(ACCEPT, 'base64').toString('hex'),
      'b37a4f2cc0624f1690f64606cf385945b2bec4ea',
    );
  });

  it('is case-sensitive in the key', () => {
    assert.notEqual(acceptKey(KEY.toLowerCase()), ACCEPT);
  });

  it('hashes the key as UTF-8 text followed by the GUID, whatever its length or characters', () => {
    const expected = (key: string): string => createHash('sha1').update(key + WEBSOCKET_GUID, 'utf8').digest('base64');
    // Usual length (the buffer kept for it, written again each time), other lengths, non-ASCII.
    for (const key of [KEY, 'AAAAAAAAAAAAAAAAAAAAAA==', 'x', '', 'dGhlIHNhbXBsZSBub25jZQ=', 'dGhlIHNhbXBsZSBub25j\u00e9Q==', 'dGhlIHNhbXBsZSBub25j\u20acQ==', KEY]) {
      assert.equal(acceptKey(key), expected(key), JSON.stringify(key));
    }
  });
});

describe('isValidKey (RFC 6455 §4.1 item 7, §4.2.1 item 5)', () => {
  it('accepts the RFC example and generated keys', () => {
    assert.equal(isValidKey(KEY), true);
    for (let i = 0; i < 100; i++) assert.equal(isValidKey(generateKey()), true);
  });

  it('accepts only canonical encodings of 16 bytes (checked against Buffer)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (const c of alphabet + '=-_.! ') {
      const key = 'AAAAAAAAAAAAAAAAAAAAA' + c + '==';
      const canonical = Buffer.from(key, 'base64').length === 16 && Buffer.from(key, 'base64').toString('base64') === key;
      assert.equal(isValidKey(key), canonical, key);
    }
    for (const c of 'AQgw') assert.equal(isValidKey('/+9zZaaaaaaaaaaaaaaaa' + c + '=='), true);
  });

  it('rejects wrong lengths and padding', () => {
    for (const k of [
      '',
      'dGhlIHNhbXBsZSBub25jZQ=', // 23
      'dGhlIHNhbXBsZSBub25jZQ===', // 25
      'dGhlIHNhbXBsZSBub25jZQ', // unpadded
      'dGhlIHNhbXBsZSBub25jZQAA', // no padding
      'dGhlIHNhbXBsZSBub25jZQA=', // 17 bytes
      'dGhlIHNhbXBsZSBub25jZ===', // bad padding
      'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', // 32 bytes
      '=AAAAAAAAAAAAAAAAAAAAA==',
    ]) {
      assert.equal(isValidKey(k), false, k);
    }
  });

  it('rejects bad alphabet, url-safe chars, whitespace and non-ASCII', () => {
    for (const k of [
      'dGhlIHNhbXBsZSBub25jZR==', // low bits set
      'dGhlIHNhbXBsZSBub25jZB==',
      'dGhlIHNhbXBsZSBub25j-Q==',
      'dGhlIHNhbXBsZSBub25j_Q==',
      'dGhlIHNhbXBsZSBub25j Q==',
      'dGhlIHNhbXBsZSBub25j\u00e9Q==',
      'dGhlIHNhbXBsZSBub25j\rQ==',
      ' dGhlIHNhbXBsZSBub25jZQ==',
      'dGhlIHNhbXBsZSBub25jZQ== ',
    ]) {
      assert.equal(isValidKey(k), false, JSON.stringify(k));
    }
  });
});

describe('checkUpgradeRequest: accepted requests (RFC 6455 §4.2.1)', () => {
  it('accepts a minimal valid request', () => {
    assert.deepEqual(checkUpgradeRequest(req(), '/chat'), {
      ok: true,
      key: KEY,
      protocols: [],
      extensions: [],
      origin: undefined,
      path: '/chat',
    });
  });

  it('accepts the RFC 6455 §1.2 example request', () => {
    const r = checkUpgradeRequest(
      req({
        origin: 'http://example.com',
        'sec-websocket-protocol': 'chat, superchat',
      }),
    );
    assert.ok(r.ok);
    assert.equal(r.key, KEY);
    assert.deepEqual(r.protocols, ['chat', 'superchat']);
    assert.equal(r.origin, 'http://example.com');
  });

  it('accepts HTTP versions >= 1.1', () => {
    for (const v of ['1.1', '1.2', '1.9', '2.0', '2', '3.0']) assert.equal(checkUpgradeRequest(req({}, 'GET', v)).ok, true, v);
  });

  it('matches Upgrade and Connection tokens case-insensitively, in lists', () => {
    for (const [upgrade, connection] of [
      ['WebSocket', 'upgrade'],
      ['WEBSOCKET', 'UPGRADE'],
      ['foo, WebSocket', 'keep-alive, Upgrade'],
      ['websocket, h2c', 'Upgrade,  keep-alive'],
      ['HTTP/2.0, websocket', 'close, upgrade'],
      [' websocket ', '\tUpgrade\t'],
    ] as const) {
      assert.equal(checkUpgradeRequest(req({ upgrade, connection })).ok, true, `${upgrade} / ${connection}`);
    }
  });

  it('accepts arrays for Upgrade and Connection (repeated headers)', () => {
    assert.equal(checkUpgradeRequest(req({ upgrade: ['foo', 'websocket'], connection: ['keep-alive', 'Upgrade'] })).ok, true);
  });

  it('trims OWS around key and version', () => {
    const r = checkUpgradeRequest(req({ 'sec-websocket-key': ` ${KEY}\t`, 'sec-websocket-version': ' 13 ' }));
    assert.ok(r.ok);
    assert.equal(r.key, KEY);
  });

  it('accepts single-element arrays for key and version', () => {
    const r = checkUpgradeRequest(req({ 'sec-websocket-key': [KEY], 'sec-websocket-version': ['13'] }));
    assert.ok(r.ok);
    assert.equal(r.key, KEY);
  });

  it('returns parsed subprotocols (case-sensitive) from strings and arrays', () => {
    let r = checkUpgradeRequest(req({ 'sec-websocket-protocol': 'Chat, v2.json' }));
    assert.ok(r.ok);
    assert.deepEqual(r.protocols, ['Chat', 'v2.json']);
    r = checkUpgradeRequest(req({ 'sec-websocket-protocol': ['a', 'b, c'] }));
    assert.ok(r.ok);
    assert.deepEqual(r.protocols, ['a', 'b', 'c']);
    r = checkUpgradeRequest(req({ 'sec-websocket-protocol': '' }));
    assert.ok(r.ok);
    assert.deepEqual(r.protocols, []);
  });

  it('returns parsed extension offers', () => {
    const r = checkUpgradeRequest(
      req({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits, x-foo; a="1"' }),
    );
    assert.ok(r.ok);
    assert.equal(r.extensions.length, 2);
    assert.equal(r.extensions[0]!.name, 'permessage-deflate');
    assert.equal(r.extensions[0]!.params.get('client_max_window_bits'), true);
    assert.equal(r.extensions[1]!.params.get('a'), '1');
    const arr = checkUpgradeRequest(req({ 'sec-websocket-extensions': ['a', 'b'] }));
    assert.ok(arr.ok);
    assert.deepEqual(arr.extensions.map((e) => e.name), ['a', 'b']);
  });

  it('reports Origin, falling back to Sec-WebSocket-Origin', () => {
    let r = checkUpgradeRequest(req({ origin: 'https://a.example' }));
    assert.ok(r.ok);
    assert.equal(r.origin, 'https://a.example');
    r = checkUpgradeRequest(req({ 'sec-websocket-origin': 'https://old.example' }));
    assert.ok(r.ok);
    assert.equal(r.origin, 'https://old.example');
    r = checkUpgradeRequest(req({ origin: 'https://a.example', 'sec-websocket-origin': 'https://old.example' }));
    assert.ok(r.ok);
    assert.equal(r.origin, 'https://a.example');
  });

  it('joins repeated Origin values so they never match a single origin', () => {
    const r = checkUpgradeRequest(req({ origin: ['https://a.example', 'https://b.example'] }));
    assert.ok(r.ok);
    assert.equal(r.origin, 'https://a.example, https://b.example');
  });
});

describe('checkUpgradeRequest: rejections', () => {
  it('405 + Allow: GET for other methods (method names are case-sensitive)', () => {
    for (const m of ['POST', 'HEAD', 'CONNECT', 'get', 'Get', '']) {
      assertFail(checkUpgradeRequest(req({}, m)), 405, /GET/, { Allow: 'GET' });
    }
  });

  it('400 for HTTP versions below 1.1 or malformed', () => {
    for (const v of ['1.0', '0.9', '1', '0', '', '1.', '.1', 'x.y', '1.1.1', '11', 'HTTP/1.1', '1,1']) {
      assertFail(checkUpgradeRequest(req({}, 'GET', v)), 400, /HTTP\/1\.1/);
    }
  });

  it('400 for a missing, empty or repeated Host', () => {
    assertFail(checkUpgradeRequest(req({ host: undefined })), 400, /Host/);
    assertFail(checkUpgradeRequest(req({ host: '' })), 400, /Host/);
    assertFail(checkUpgradeRequest(req({ host: ' ' })), 400, /Host/);
    assertFail(checkUpgradeRequest(req({ host: ['a', 'b'] })), 400, /Host/);
    assertFail(checkUpgradeRequest(req({ host: [] })), 400, /Host/);
    assert.equal(checkUpgradeRequest(req({ host: ['a'] })).ok, true);
  });

  it('400 for a missing or wrong Upgrade', () => {
    for (const upgrade of [undefined, '', 'h2c', 'websockets', 'web socket', 'websocket/13', [], ['h2c']]) {
      assertFail(checkUpgradeRequest(req({ upgrade })), 400, /Upgrade header/);
    }
  });

  it('400 for a missing or wrong Connection', () => {
    for (const connection of [undefined, '', 'keep-alive', 'close', 'upgraded', 'Upgrade-Insecure', [], ['keep-alive']]) {
      assertFail(checkUpgradeRequest(req({ connection })), 400, /Connection header/);
    }
  });

  it('400 for a missing, invalid or repeated Sec-WebSocket-Key', () => {
    for (const key of [
      undefined,
      '',
      'abc',
      'dGhlIHNhbXBsZSBub25jZR==',
      `${KEY}, ${KEY}`, // how Node joins a repeated header
      [KEY, KEY],
      [],
      'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    ]) {
      assertFail(checkUpgradeRequest(req({ 'sec-websocket-key': key })), 400, /Sec-WebSocket-Key/);
    }
  });

  it('400 for a missing Sec-WebSocket-Version', () => {
    assertFail(checkUpgradeRequest(req({ 'sec-websocket-version': undefined })), 400, /Missing Sec-WebSocket-Version/);
  });

  it('426 + Sec-WebSocket-Version: 13 for other versions (§4.2.2)', () => {
    for (const version of ['8', '7', '0', '14', '', '13, 8', '013', '13.0', ['13', '13'], ['8'], []]) {
      assertFail(checkUpgradeRequest(req({ 'sec-websocket-version': version })), 426, /version 13/, {
        'Sec-WebSocket-Version': '13',
      });
    }
  });

  it('400 for a malformed or duplicated Sec-WebSocket-Protocol', () => {
    for (const p of ['chat, chat', ['chat', 'chat'], 'chat room', 'a;b', '"chat"', 'caf\u00e9']) {
      assertFail(checkUpgradeRequest(req({ 'sec-websocket-protocol': p })), 400, /Sec-WebSocket-Protocol/);
    }
  });

  it('400 for a malformed Sec-WebSocket-Extensions', () => {
    for (const e of ['x;', ';', 'x; a=""', 'x; a="b c"', 'x y', ['ok', 'bad;']]) {
      assertFail(checkUpgradeRequest(req({ 'sec-websocket-extensions': e })), 400, /Sec-WebSocket-Extensions/);
    }
  });

  it('checks in RFC order: method, version, Host, Upgrade, Connection, key, version header', () => {
    const all: Headers = {
      host: undefined,
      upgrade: undefined,
      connection: undefined,
      'sec-websocket-key': undefined,
      'sec-websocket-version': '8',
    };
    assert.equal((checkUpgradeRequest(req(all, 'POST', '1.0')) as { status: number }).status, 405);
    assertFail(checkUpgradeRequest(req(all, 'GET', '1.0')), 400, /HTTP/);
    assertFail(checkUpgradeRequest(req(all)), 400, /Host/);
    assertFail(checkUpgradeRequest(req({ ...all, host: 'h' })), 400, /Upgrade/);
    assertFail(checkUpgradeRequest(req({ ...all, host: 'h', upgrade: 'websocket' })), 400, /Connection/);
    assertFail(
      checkUpgradeRequest(req({ ...all, host: 'h', upgrade: 'websocket', connection: 'upgrade' })),
      400,
      /Key/,
    );
  });

  it('reasons are short sentences usable as a response body', () => {
    const r = checkUpgradeRequest(req({ upgrade: undefined }));
    assert.ok(!r.ok);
    assert.match(r.reason, /^[A-Z][^\r\n]{5,100}\.$/);
  });
});

describe('buildAcceptResponse (RFC 6455 §4.2.2)', () => {
  it('produces the RFC 6455 §1.3 response', () => {
    assert.equal(
      buildAcceptResponse(KEY, undefined, undefined),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        '\r\n',
    );
  });

  it('adds protocol, extensions and extra headers (arrays repeat the line)', () => {
    assert.equal(
      buildAcceptResponse(KEY, 'chat', 'permessage-deflate; server_no_context_takeover', {
        'X-Powered-By': 'upshift',
        'Set-Cookie': ['a=1', 'b=2; Path=/'],
        'X-Empty': '',
        'X-None': [],
      }),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n' +
        'X-Powered-By: upshift\r\n' +
        'Set-Cookie: a=1\r\n' +
        'Set-Cookie: b=2; Path=/\r\n' +
        'X-Empty: \r\n' +
        '\r\n',
    );
  });

  it("omits protocol and extensions when ''", () => {
    assert.equal(buildAcceptResponse(KEY, '', ''), buildAcceptResponse(KEY, undefined, undefined));
  });

  it('adds each optional part alone, in its place', () => {
    const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n`;
    assert.equal(buildAcceptResponse(KEY, 'chat', undefined), `${head}Sec-WebSocket-Protocol: chat\r\n\r\n`);
    assert.equal(buildAcceptResponse(KEY, undefined, 'permessage-deflate'), `${head}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n`);
    assert.equal(buildAcceptResponse(KEY, undefined, undefined, { 'X-Id': '7' }), `${head}X-Id: 7\r\n\r\n`);
    assert.equal(buildAcceptResponse(KEY, undefined, undefined, {}), `${head}\r\n`);
  });

  it('throws TypeError for an invalid protocol', () => {
    for (const p of ['a b', 'a,b', 'chat\r\nX-Evil: 1', 'caf\u00e9']) {
      assert.throws(() => buildAcceptResponse(KEY, p, undefined), TypeError, p);
    }
  });

  it('throws TypeError for CR/LF or control chars in extensions', () => {
    for (const e of ['x\r\nX-Evil: 1', 'x\n', 'x\0', 'caf\u00e9']) {
      assert.throws(() => buildAcceptResponse(KEY, undefined, e), TypeError);
    }
  });

  it('throws TypeError for injected or invalid extra headers', () => {
    const bad: Record<string, string | string[]>[] = [
      { 'X-A': 'a\r\nX-Evil: 1' },
      { 'X-A': 'a\n' },
      { 'X-A': 'a\r' },
      { 'X-A': '\0' },
      { 'X-A': '\u007f' },
      { 'X-A': 'caf\u00e9' },
      { 'X-A': '\u2028' },
      { 'X-A': ['ok', 'b\r\n'] },
      { 'X-A\r\nX-Evil': 'a' },
      { 'X A': 'a' },
      { 'X-A:': 'a' },
      { '': 'a' },
      { 'X-A': 1 as unknown as string },
      { 'X-A': undefined as unknown as string },
    ];
    for (const h of bad) assert.throws(() => buildAcceptResponse(KEY, undefined, undefined, h), TypeError, JSON.stringify(h));
  });

  it('allows HTAB and visible ASCII in values', () => {
    const r = buildAcceptResponse(KEY, undefined, undefined, { 'X-A': 'a\tb ~!"#' });
    assert.ok(r.includes('X-A: a\tb ~!"#\r\n'));
  });

  it('refuses to duplicate handshake headers (case-insensitive)', () => {
    for (const name of ['Upgrade', 'connection', 'Sec-WebSocket-Accept', 'SEC-WEBSOCKET-PROTOCOL', 'sec-websocket-extensions']) {
      assert.throws(() => buildAcceptResponse(KEY, undefined, undefined, { [name]: 'x' }), TypeError, name);
    }
  });
});

describe('buildErrorResponse', () => {
  it('serialises status line, fixed headers and body', () => {
    assert.equal(
      buildErrorResponse(400, 'Missing or invalid Upgrade header.'),
      'HTTP/1.1 400 Bad Request\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 34\r\n' +
        '\r\n' +
        'Missing or invalid Upgrade header.',
    );
  });

  it('counts Content-Length in UTF-8 bytes', () => {
    const reason = 'Zugriff verweigert: ü € 😀';
    const msg = split(buildErrorResponse(403, reason));
    assert.equal(msg.start, 'HTTP/1.1 403 Forbidden');
    assert.ok(msg.headers.includes(`Content-Length: ${Buffer.byteLength(reason)}`));
    assert.equal(Buffer.byteLength(reason), 31); // 20 ASCII + ü(2) + SP + €(3) + SP + 😀(4)
    assert.equal(msg.body, reason);
  });

  it('handles an empty body', () => {
    assert.ok(buildErrorResponse(404, '').endsWith('Content-Length: 0\r\n\r\n'));
  });

  it('appends extra headers after the fixed ones', () => {
    assert.equal(
      buildErrorResponse(426, 'Upgrade to 13.', { 'Sec-WebSocket-Version': '13', Vary: ['a', 'b'] }),
      'HTTP/1.1 426 Upgrade Required\r\n' +
        'Connection: Upgrade, close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 14\r\n' +
        'Upgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        'Vary: a\r\n' +
        'Vary: b\r\n' +
        '\r\n' +
        'Upgrade to 13.',
    );
  });

  it('names the protocol in every 426 (RFC 9110 §15.5.22), with the upgrade connection option (§7.8)', () => {
    const own = split(buildErrorResponse(426, 'x'));
    assert.ok(own.headers.includes('Upgrade: websocket'));
    assert.ok(own.headers.includes('Connection: Upgrade, close'));
    const named = split(buildErrorResponse(426, 'x', { upgrade: 'my-proto' }));
    assert.deepEqual(named.headers.filter((line) => /^upgrade:/i.test(line)), ['upgrade: my-proto']);
    assert.ok(named.headers.includes('Connection: Upgrade, close'));
    // Any other status with an Upgrade from the caller gets the connection option too.
    assert.ok(split(buildErrorResponse(400, 'x', { Upgrade: 'websocket' })).headers.includes('Connection: Upgrade, close'));
    assert.ok(split(buildErrorResponse(400, 'x')).headers.includes('Connection: close'));
  });

  it('sends the Date it is given (RFC 9110 §6.6.1), unless the caller set one', () => {
    const date = 'Sun, 06 Nov 1994 08:49:37 GMT';
    assert.ok(split(buildErrorResponse(503, 'x', undefined, date)).headers.includes(`Date: ${date}`));
    const own = split(buildErrorResponse(503, 'x', { Date: 'Mon, 07 Nov 1994 08:49:37 GMT' }, date));
    assert.deepEqual(own.headers.filter((line) => /^date:/i.test(line)), ['Date: Mon, 07 Nov 1994 08:49:37 GMT']);
    assert.throws(() => buildErrorResponse(503, 'x', undefined, 'a\r\nb'), TypeError);
  });

  it('uses the standard reason phrase, or "Unknown"', () => {
    assert.match(buildErrorResponse(405, 'x'), /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.match(buildErrorResponse(503, 'x'), /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(buildErrorResponse(599, 'x'), /^HTTP\/1\.1 599 Unknown\r\n/);
  });

  it('keeps CR/LF in the body (it is not a header)', () => {
    const msg = split(buildErrorResponse(400, 'a\r\n\r\nb'));
    assert.equal(msg.body, 'a\r\n\r\nb');
    assert.ok(msg.headers.includes('Content-Length: 6'));
  });

  it('throws RangeError for invalid status codes', () => {
    for (const s of [0, 99, 1000, 200.5, NaN, -400]) assert.throws(() => buildErrorResponse(s, 'x'), RangeError, String(s));
  });

  it('throws TypeError for injected or reserved headers', () => {
    assert.throws(() => buildErrorResponse(400, 'x', { 'X-A': 'a\r\nb' }), TypeError);
    assert.throws(() => buildErrorResponse(400, 'x', { 'X\nA': 'a' }), TypeError);
    for (const name of ['Connection', 'content-length', 'Content-Type', 'Transfer-Encoding']) {
      assert.throws(() => buildErrorResponse(400, 'x', { [name]: '1' }), TypeError, name);
    }
  });

  it('serialises every rejection from checkUpgradeRequest', () => {
    const cases: [UpgradeRequestInfo, string][] = [
      [req({}, 'POST'), 'HTTP/1.1 405 Method Not Allowed'],
      [req({ 'sec-websocket-version': '8' }), 'HTTP/1.1 426 Upgrade Required'],
      [req({ upgrade: 'h2c' }), 'HTTP/1.1 400 Bad Request'],
    ];
    for (const [r, startLine] of cases) {
      const c = checkUpgradeRequest(r);
      assert.ok(!c.ok);
      const msg = split(buildErrorResponse(c.status, c.reason, c.headers));
      assert.equal(msg.start, startLine);
      assert.equal(msg.body, c.reason);
      for (const [k, v] of Object.entries(c.headers ?? {})) assert.ok(msg.headers.includes(`${k}: ${v}`));
    }
  });
});

describe('hostile input stays linear', () => {
  it('checkUpgradeRequest takes time linear in 100k-char headers', () => {
    const N = 100_000;
    const headers = (n: number): Headers[] => [
      { upgrade: ' '.repeat(n) + 'websocket' },
      { connection: 'x,'.repeat(n / 2) + 'upgrade' },
      { 'sec-websocket-key': 'A'.repeat(n) },
      { 'sec-websocket-version': ' '.repeat(n) + '13' },
      { 'sec-websocket-protocol': Array.from({ length: n / 8 }, (_, i) => `p${i}`).join(',') },
      { 'sec-websocket-extensions': 'x' + ';a'.repeat(n / 2) },
      { 'sec-websocket-extensions': ';'.repeat(n) },
      { 'sec-websocket-extensions': '"' + '\\'.repeat(n) },
    ];
    // 8 times the input must cost about 8 times as much, not 64 (quadratic).
    const big = headers(N);
    for (let i = 0; i < big.length; i++) {
      assertLinear(`header set #${i}`, LINEAR_N, (n) => req(headers(n)[i]!), checkUpgradeRequest);
    }
    assert.equal(checkUpgradeRequest(req(big[0])).ok, true);
    assert.equal(checkUpgradeRequest(req(big[1])).ok, true);
    assert.equal(checkUpgradeRequest(req(big[2])).ok, false);
  });
});

describe('interop with real HTTP parsers (loopback)', { timeout: 30_000 }, () => {
  it('Node http server + ws client: our server handshake', async () => {
    const server = createServer();
    let seen: RequestCheck | undefined;
    server.on('upgrade', (r: IncomingMessage, socket: Socket) => {
      const check = checkUpgradeRequest(r);
      seen = check;
      if (!check.ok) {
        socket.end(buildErrorResponse(check.status, check.reason, check.headers));
        return;
      }
      const protocol = check.protocols.includes('superchat') ? 'superchat' : undefined;
      socket.write(buildAcceptResponse(check.key, protocol, undefined, { 'X-Test': 'yes' }));
      socket.on('error', () => {});
      socket.on('end', () => socket.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/path`, ['chat', 'superchat'], { origin: 'https://o.example' });
      let headers: IncomingMessage['headers'] | undefined;
      ws.on('upgrade', (res) => (headers = res.headers));
      await once(ws, 'open');
      assert.equal(ws.protocol, 'superchat');
      assert.equal(headers?.['x-test'], 'yes');
      ws.terminate();
      assert.ok(seen?.ok);
      assert.deepEqual(seen.protocols, ['chat', 'superchat']);
      assert.equal(seen.origin, 'https://o.example');
      assert.equal(seen.extensions[0]?.name, 'permessage-deflate');
      assert.equal(seen.extensions[0]?.params.get('client_max_window_bits'), true);
    } finally {
      server.close();
    }
  });

  it('ws client sees our 426 response', async () => {
    const server = createServer();
    server.on('upgrade', (_r: IncomingMessage, socket: Socket) => {
      const check = checkUpgradeRequest(req({ 'sec-websocket-version': '8' }));
      assert.ok(!check.ok);
      socket.end(buildErrorResponse(check.status, check.reason, check.headers));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.on('error', () => {});
      const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
      assert.equal(res.statusCode, 426);
      assert.equal(res.headers['sec-websocket-version'], '13');
      assert.equal(res.headers['connection'], 'Upgrade, close');
      assert.equal(res.headers['upgrade'], 'websocket', 'RFC 9110 §15.5.22');
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      assert.match(Buffer.concat(chunks).toString('utf8'), /version 13/);
      ws.terminate();
    } finally {
      server.close();
    }
  });
});

// The client's side of the opening handshake, sans-I/O (src/protocol/client-handshake.ts): the
// request headers both transports send, and the checks of the server's answer.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { acceptKey, buildAcceptResponse, buildErrorResponse, checkUpgradeRequest } from '../../src/protocol/handshake.js';
import {
  buildExtendedConnectHeaders,
  buildUpgradeRequestHeaders,
  checkExtendedConnectResponse,
  checkRequestHeaders,
  checkSelectedSubprotocol,
  checkUpgradeResponse,
  generateKey,
  validateProtocolsForOffer,
} from '../../src/protocol/client-handshake.js';

// RFC 6455 §1.3 example.
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

type Headers = Record<string, string | string[] | undefined>;

function okResponse(headers: Headers = {}, statusCode = 101) {
  return {
    statusCode,
    headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': ACCEPT, ...headers },
  };
}

/** Sends an upgrade request with node:http; the 101 and the socket. */
async function upgrade(port: number, path: string, headers: OutgoingHttpHeaders): Promise<[IncomingMessage, Socket]> {
  const creq = request({ host: '127.0.0.1', port, path, headers });
  creq.end();
  const [res, socket] = (await once(creq, 'upgrade')) as [IncomingMessage, Socket];
  socket.destroy();
  return [res, socket];
}

describe('generateKey', () => {
  it('produces 16 random bytes in base64', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const k = generateKey();
      assert.equal(k.length, 24);
      assert.equal(Buffer.from(k, 'base64').length, 16);
      seen.add(k);
    }
    assert.equal(seen.size, 50);
  });
});

describe('validateProtocolsForOffer (WHATWG WebSocket constructor)', () => {
  it('normalises undefined / string / array', () => {
    assert.deepEqual(validateProtocolsForOffer(undefined), []);
    assert.deepEqual(validateProtocolsForOffer([]), []);
    assert.deepEqual(validateProtocolsForOffer('chat'), ['chat']);
    assert.deepEqual(validateProtocolsForOffer(['chat', 'Chat', 'v2.json']), ['chat', 'Chat', 'v2.json']);
  });

  it('returns a copy', () => {
    const input = ['a'];
    const out = validateProtocolsForOffer(input);
    assert.notEqual(out, input);
  });

  it('throws SyntaxError for non-tokens', () => {
    for (const p of ['', 'a b', 'a,b', 'a;b', '"a"', 'caf\u00e9', 'a\r\n', ['ok', ''], ['ok', 'x y']]) {
      assert.throws(() => validateProtocolsForOffer(p), SyntaxError, JSON.stringify(p));
    }
    assert.throws(() => validateProtocolsForOffer([1 as unknown as string]), SyntaxError);
  });

  it('throws SyntaxError for duplicates (case-sensitive)', () => {
    assert.throws(() => validateProtocolsForOffer(['chat', 'chat']), SyntaxError);
    assert.throws(() => validateProtocolsForOffer(['a', 'b', 'a']), SyntaxError);
    assert.doesNotThrow(() => validateProtocolsForOffer(['chat', 'CHAT']));
  });
});

describe('checkUpgradeResponse (RFC 6455 §4.1, client items 1-6)', () => {
  it('accepts the RFC 6455 §1.3 response', () => {
    assert.deepEqual(checkUpgradeResponse(okResponse(), KEY, []), { ok: true, protocol: '', extensions: [] });
  });

  it('item 1: fails on a status other than 101', () => {
    for (const s of [200, 400, 426, 302, 100]) {
      const r = checkUpgradeResponse(okResponse({}, s), KEY, []);
      assert.ok(!r.ok);
      assert.match(r.reason, new RegExp(`${s}.*101`));
    }
  });

  it('item 2: Upgrade must be exactly "websocket", case-insensitively', () => {
    for (const u of ['websocket', 'WebSocket', 'WEBSOCKET', ' websocket ', ['websocket']]) {
      assert.equal(checkUpgradeResponse(okResponse({ upgrade: u }), KEY, []).ok, true, String(u));
    }
    for (const u of [undefined, '', 'h2c', 'websocket, h2c', 'websockets', ['websocket', 'websocket'], []]) {
      const r = checkUpgradeResponse(okResponse({ upgrade: u }), KEY, []);
      assert.ok(!r.ok, String(u));
      assert.match(r.reason, /Upgrade header/);
    }
  });

  it('item 3: Connection must contain "Upgrade", case-insensitively', () => {
    for (const c of ['upgrade', 'UPGRADE', 'keep-alive, Upgrade', ['close', 'Upgrade']]) {
      assert.equal(checkUpgradeResponse(okResponse({ connection: c }), KEY, []).ok, true, String(c));
    }
    for (const c of [undefined, '', 'keep-alive', 'close', 'upgrades']) {
      const r = checkUpgradeResponse(okResponse({ connection: c }), KEY, []);
      assert.ok(!r.ok);
      assert.match(r.reason, /Connection header/);
    }
  });

  it('item 4: Sec-WebSocket-Accept must match the key', () => {
    let r = checkUpgradeResponse(okResponse({ 'sec-websocket-accept': undefined }), KEY, []);
    assert.deepEqual(r, { ok: false, reason: 'Missing Sec-WebSocket-Accept header.' });
    for (const a of ['', 'x', ACCEPT.toLowerCase(), acceptKey(generateKey()), [ACCEPT, ACCEPT], `${ACCEPT}, ${ACCEPT}`]) {
      r = checkUpgradeResponse(okResponse({ 'sec-websocket-accept': a }), KEY, []);
      assert.deepEqual(r, { ok: false, reason: 'Invalid Sec-WebSocket-Accept header.' }, String(a));
    }
    // Right accept for another key.
    r = checkUpgradeResponse(okResponse(), generateKey(), []);
    assert.ok(!r.ok);
    // OWS and single-element arrays are fine.
    assert.equal(checkUpgradeResponse(okResponse({ 'sec-websocket-accept': ` ${ACCEPT} ` }), KEY, []).ok, true);
    assert.equal(checkUpgradeResponse(okResponse({ 'sec-websocket-accept': [ACCEPT] }), KEY, []).ok, true);
  });

  it('item 5: extensions are parsed and returned; malformed fails', () => {
    const r = checkUpgradeResponse(
      okResponse({ 'sec-websocket-extensions': 'permessage-deflate; server_max_window_bits=10' }),
      KEY,
      [],
    );
    assert.ok(r.ok);
    assert.equal(r.extensions.length, 1);
    assert.equal(r.extensions[0]!.name, 'permessage-deflate');
    assert.equal(r.extensions[0]!.params.get('server_max_window_bits'), '10');
    // Unoffered extensions are returned, not judged here.
    assert.equal(checkUpgradeResponse(okResponse({ 'sec-websocket-extensions': 'x-unknown' }), KEY, []).ok, true);
    const bad = checkUpgradeResponse(okResponse({ 'sec-websocket-extensions': 'x;' }), KEY, []);
    assert.ok(!bad.ok);
    assert.match(bad.reason, /Sec-WebSocket-Extensions/);
  });

  it('item 6: no subprotocol from the server yields ""', () => {
    assert.deepEqual(checkUpgradeResponse(okResponse(), KEY, ['chat']), { ok: true, protocol: '', extensions: [] });
  });

  it('item 6: accepts exactly one offered subprotocol', () => {
    const r = checkUpgradeResponse(okResponse({ 'sec-websocket-protocol': 'superchat' }), KEY, ['chat', 'superchat']);
    assert.deepEqual(r, { ok: true, protocol: 'superchat', extensions: [] });
    assert.deepEqual(checkUpgradeResponse(okResponse({ 'sec-websocket-protocol': [' chat '] }), KEY, ['chat']), {
      ok: true,
      protocol: 'chat',
      extensions: [],
    });
  });

  it('item 6: fails when the server picks a subprotocol nobody asked for', () => {
    const r = checkUpgradeResponse(okResponse({ 'sec-websocket-protocol': 'chat' }), KEY, []);
    assert.deepEqual(r, { ok: false, reason: 'Server sent a subprotocol but none was requested.' });
  });

  it('item 6: fails on an unoffered, differently-cased, listed or empty subprotocol', () => {
    for (const p of ['other', 'CHAT', 'chat, superchat', ['chat', 'superchat'], '', 'ch at', []]) {
      const r = checkUpgradeResponse(okResponse({ 'sec-websocket-protocol': p }), KEY, ['chat', 'superchat']);
      assert.ok(!r.ok, JSON.stringify(p));
      assert.match(r.reason, /subprotocol/);
    }
  });

  it('round-trips with buildAcceptResponse', () => {
    const key = generateKey();
    const [head = ''] = buildAcceptResponse(key, 'b', 'permessage-deflate; client_max_window_bits=12').split('\r\n\r\n');
    const [start, ...lines] = head.split('\r\n');
    assert.equal(start, 'HTTP/1.1 101 Switching Protocols');
    const headers: Headers = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const r = checkUpgradeResponse({ statusCode: 101, headers }, key, ['a', 'b']);
    assert.ok(r.ok);
    assert.equal(r.protocol, 'b');
    assert.equal(r.extensions[0]!.params.get('client_max_window_bits'), '12');
  });
});

describe('checkRequestHeaders (the application headers of both transports)', () => {
  it('returns the headers with lowercase names, arrays copied', () => {
    const cookies = ['a=1', 'b=2'];
    const out = checkRequestHeaders({ Authorization: 'Bearer x', Cookie: cookies, 'X-Empty': '', 'X-Tab': 'a\tb' });
    assert.deepEqual(out, { authorization: 'Bearer x', cookie: ['a=1', 'b=2'], 'x-empty': '', 'x-tab': 'a\tb' });
    assert.notEqual(out['cookie'], cookies);
    assert.deepEqual(checkRequestHeaders(undefined), {});
  });

  it('refuses a value with a character outside VCHAR/SP/HTAB, naming the header and not the value', () => {
    const cases: [string, RegExp][] = [
      ['Bearer \u2026secret', /U\+2026 at index 7/],
      ['caf\u00e9', /U\+00E9/],
      ['a\r\nX-Evil: 1', /U\+000D/],
      ['a\nb', /U\+000A/],
      ['a\u0000b', /U\+0000/],
      ['a\u007fb', /U\+007F/],
    ];
    for (const [value, detail] of cases) {
      assert.throws(
        () => checkRequestHeaders({ Authorization: value }),
        (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, /header Authorization/);
          assert.match(error.message, detail);
          assert.doesNotMatch(error.message, /secret|Evil/, 'the value may be a secret: it stays out of the message');
          return true;
        },
        JSON.stringify(value),
      );
    }
    assert.throws(() => checkRequestHeaders({ 'X-A': ['ok', 'b\u2026'] }), /header X-A/);
  });

  it('refuses leading or trailing whitespace (RFC 9110 §5.5)', () => {
    for (const value of [' a', 'a ', '\ta', 'a\t', ' ']) {
      assert.throws(() => checkRequestHeaders({ 'X-A': value }), /X-A starts or ends with a space or tab/, JSON.stringify(value));
    }
  });

  it('refuses names that are not tokens, and non-string values', () => {
    for (const name of ['', 'X A', 'X:A', 'X\r\nA', ':path', 'caf\u00e9']) {
      assert.throws(() => checkRequestHeaders({ [name]: 'v' }), /Invalid header name/, JSON.stringify(name));
    }
    for (const value of [1, null, undefined, {}, [1]]) {
      assert.throws(() => checkRequestHeaders({ 'X-A': value as unknown as string }), /X-A must be a string or an array of strings/);
    }
    assert.throws(() => checkRequestHeaders('x' as unknown as Record<string, string>), /headers must be an object/);
  });

  it('refuses the names the handshake sets, whatever their case, with a hint where there is one', () => {
    for (const name of [
      'Host', 'connection', 'Upgrade', 'Sec-WebSocket-Key', 'sec-websocket-version', 'Keep-Alive', 'Proxy-Connection',
      'Transfer-Encoding', 'TE', 'HTTP2-Settings', 'Content-Length',
    ]) {
      assert.throws(() => checkRequestHeaders({ [name]: 'x' }), new RegExp(`Header ${name} is set by the WebSocket handshake`), name);
    }
    assert.throws(() => checkRequestHeaders({ 'Sec-WebSocket-Protocol': 'x' }), /use the protocols option/);
    assert.throws(() => checkRequestHeaders({ 'Sec-WebSocket-Extensions': 'x' }), /use the extensions or perMessageDeflate option/);
  });

  it('refuses a name given twice in different cases, and Origin given twice', () => {
    assert.throws(() => checkRequestHeaders({ 'X-A': '1', 'x-a': '2' }), /given twice/);
    assert.deepEqual(checkRequestHeaders({ Origin: 'https://o' }), { origin: 'https://o' });
    assert.throws(() => checkRequestHeaders({ Origin: 'https://o' }, 'https://p'), /Origin is given twice/);
    assert.throws(() => checkRequestHeaders({}, 'https://o\r\nX: y'), /The origin option has the character U\+000D/);
  });
});

describe('buildUpgradeRequestHeaders (RFC 6455 §4.1) and buildExtendedConnectHeaders (RFC 8441 §5)', () => {
  it('builds the HTTP/1.1 fields, the application headers before the handshake\'s own', () => {
    const headers = buildUpgradeRequestHeaders({
      key: KEY,
      protocols: ['chat', 'superchat'],
      extensions: 'permessage-deflate; client_max_window_bits',
      origin: 'http://example.com',
      headers: { Authorization: 'Bearer x', Cookie: ['a=1', 'b=2'] },
    });
    assert.deepEqual(Object.entries(headers), [
      ['authorization', 'Bearer x'],
      ['cookie', ['a=1', 'b=2']],
      ['upgrade', 'websocket'],
      ['connection', 'Upgrade'],
      ['sec-websocket-key', KEY],
      ['sec-websocket-version', '13'],
      ['sec-websocket-protocol', 'chat, superchat'],
      ['sec-websocket-extensions', 'permessage-deflate; client_max_window_bits'],
      ['origin', 'http://example.com'],
    ]);
    assert.deepEqual(buildUpgradeRequestHeaders({ key: KEY, extensions: '' }), {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': KEY,
      'sec-websocket-version': '13',
    });
  });

  it('builds the extended CONNECT with the same fields but no key', () => {
    assert.deepEqual(
      buildExtendedConnectHeaders({
        path: '/chat?x=1',
        authority: 'example.com:8443',
        secure: true,
        protocols: ['chat'],
        extensions: 'permessage-deflate',
        origin: 'https://example.com',
        headers: { 'X-Api-Key': 'k' },
      }),
      {
        'x-api-key': 'k',
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        ':scheme': 'https',
        ':path': '/chat?x=1',
        ':authority': 'example.com:8443',
        'sec-websocket-version': '13',
        'sec-websocket-protocol': 'chat',
        'sec-websocket-extensions': 'permessage-deflate',
        origin: 'https://example.com',
      },
    );
    assert.equal(buildExtendedConnectHeaders({ path: '/', authority: 'h', secure: false })[':scheme'], 'http');
  });

  it('refuses the same headers on both transports, with the same message', () => {
    const cases: Record<string, string>[] = [
      { Connection: 'keep-alive' },
      { 'Sec-WebSocket-Version': '8' },
      { 'X-A': 'a\r\nX-Evil: 1' },
      { Authorization: 'Bearer \u2026' },
      { 'X A': 'v' },
    ];
    for (const headers of cases) {
      let h1: unknown;
      let h2: unknown;
      try {
        buildUpgradeRequestHeaders({ key: KEY, headers });
      } catch (error) {
        h1 = error;
      }
      try {
        buildExtendedConnectHeaders({ path: '/', authority: 'h', secure: true, headers });
      } catch (error) {
        h2 = error;
      }
      assert.ok(h1 instanceof TypeError, JSON.stringify(headers));
      assert.ok(h2 instanceof TypeError, JSON.stringify(headers));
      assert.equal(h1.message, h2.message);
    }
  });

  it('refuses bad subprotocols (SyntaxError) and an unsafe extension offer (TypeError)', () => {
    assert.throws(() => buildUpgradeRequestHeaders({ key: KEY, protocols: ['a', 'a'] }), SyntaxError);
    assert.throws(() => buildExtendedConnectHeaders({ path: '/', authority: 'h', secure: true, protocols: ['a b'] }), SyntaxError);
    assert.throws(() => buildUpgradeRequestHeaders({ key: KEY, extensions: 'x\r\ny: z' }), /extension offer/);
  });
});

describe('the server\'s subprotocol, checked alike over HTTP/1.1 and HTTP/2 (RFC 6455 §4.1 item 6)', () => {
  it('gives the same answer through checkUpgradeResponse and checkExtendedConnectResponse', () => {
    const cases: [string | string[] | undefined, string[]][] = [
      [undefined, []],
      [undefined, ['a']],
      ['a', []],
      ['b', ['a', 'b']],
      [' b ', ['a', 'b']],
      [['b'], ['a', 'b']],
      ['c', ['a', 'b']],
      ['A', ['a']],
      ['a, b', ['a', 'b']],
      [['a', 'b'], ['a', 'b']],
      ['', ['a']],
    ];
    for (const [value, offered] of cases) {
      const direct = checkSelectedSubprotocol(value, offered);
      const h1 = checkUpgradeResponse(okResponse({ 'sec-websocket-protocol': value }), KEY, offered);
      const h2 = checkExtendedConnectResponse(value === undefined ? { ':status': 200 } : { ':status': 200, 'sec-websocket-protocol': value }, offered);
      assert.deepEqual(h2, direct, JSON.stringify(value));
      assert.deepEqual(h1.ok ? { ok: true, protocol: h1.protocol } : h1, direct, JSON.stringify(value));
    }
  });

  it('checkExtendedConnectResponse wants a 2xx', () => {
    assert.deepEqual(checkExtendedConnectResponse({ ':status': 204 }, []), { ok: true, protocol: '' });
    for (const status of [101, 301, 400, 500]) {
      const r = checkExtendedConnectResponse({ ':status': status }, []);
      assert.ok(!r.ok);
      assert.match(r.reason, new RegExp(String(status)));
    }
  });
});

describe('checkUpgradeResponse: the HTTP version (RFC 6455 §4.1)', () => {
  it('refuses a 101 in HTTP/1.0, accepts HTTP/1.1 and later', () => {
    const r = checkUpgradeResponse({ ...okResponse(), httpVersion: '1.0' }, KEY, []);
    assert.ok(!r.ok);
    assert.match(r.reason, /HTTP\/1\.0.*HTTP\/1\.1 or later/);
    for (const httpVersion of ['1.1', '1.2', '2.0']) assert.equal(checkUpgradeResponse({ ...okResponse(), httpVersion }, KEY, []).ok, true, httpVersion);
    assert.equal(checkUpgradeResponse({ ...okResponse(), httpVersion: '0.9' }, KEY, []).ok, false);
  });
});

describe('interop with real HTTP parsers (loopback)', () => {
  it('node:http sends our request headers, a ws server accepts them, our checker accepts its 101', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true, handleProtocols: (set) => (set.has('b') ? 'b' : false) });
    await once(wss, 'listening');
    const { port } = wss.address() as AddressInfo;
    let seen: IncomingMessage | undefined;
    wss.on('connection', (ws, req) => {
      seen = req;
      ws.terminate();
    });
    try {
      const key = generateKey();
      const [res] = await upgrade(
        port,
        '/x',
        buildUpgradeRequestHeaders({
          key,
          protocols: ['a', 'b'],
          extensions: 'permessage-deflate; client_max_window_bits',
          origin: 'https://o.example',
          headers: { 'X-Api-Key': 'k' },
        }),
      );
      const r = checkUpgradeResponse({ statusCode: res.statusCode!, httpVersion: res.httpVersion, headers: res.headers }, key, ['a', 'b']);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.protocol, 'b');
      assert.equal(r.extensions[0]?.name, 'permessage-deflate');
      assert.equal(seen?.headers['x-api-key'], 'k');
      assert.equal(seen?.headers.origin, 'https://o.example');
    } finally {
      wss.close();
    }
  });

  it('Node http client accepts our 101 and our checker accepts Node-parsed headers', async () => {
    const server = createServer();
    server.on('upgrade', (r: IncomingMessage, socket: Socket) => {
      const check = checkUpgradeRequest(r);
      if (!check.ok) {
        socket.end(buildErrorResponse(check.status, check.reason, check.headers));
        return;
      }
      socket.end(buildAcceptResponse(check.key, check.protocols[0], 'x-ext; k="v"'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const key = generateKey();
      const [res] = await upgrade(port, '/', {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Protocol': ['p1', 'p2'], // sent as two lines; Node joins them
      });
      const r = checkUpgradeResponse({ statusCode: res.statusCode!, httpVersion: res.httpVersion, headers: res.headers }, key, ['p1', 'p2']);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.protocol, 'p1');
      assert.equal(r.extensions[0]?.params.get('k'), 'v');
    } finally {
      server.close();
    }
  });
});

// The server's handshake policy, with plain objects and no sockets: origin (RFC 6455 §10.2),
// subprotocol (§4.2.2), extensions (§9.1), the connection limit, shutdown, and what a verify
// hook's result means. Every answer is data: an acceptance or (status, headers, body).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  admit,
  conclude,
  handshakeInfo,
  PLAIN_VERDICT,
  processOrigin,
  processSubprotocol,
  readVerifyResult,
  refusal,
  VERIFY_FAILED,
  type EndpointState,
  type HandshakeOffer,
  type HandshakePolicy,
} from '../../src/protocol/server-handshake.js';
import type { IncomingHttpHeaders } from 'node:http2';
import { buildErrorResponse } from '../../src/protocol/handshake.js';
import { checkExtendedConnectRequest } from '../../src/protocol/extended-connect.js';
import { parseExtensionHeader } from '../../src/protocol/extension-header.js';
import type { ServerExtension } from '../../src/protocol/extensions.js';
import { FakeCodec } from './support/fake-codec.js';

/** The request type a policy is given here: anything the selector can be handed. */
interface FakeRequest {
  id: string;
}
const REQ: FakeRequest = { id: 'req-1' };

function policy(overrides: Partial<HandshakePolicy<FakeRequest>> = {}): HandshakePolicy<FakeRequest> {
  return { extensions: [], maxConnections: Infinity, ...overrides };
}

const OPEN: EndpointState = { closing: false, connections: 0, handshakes: 0 };

function offer(overrides: Partial<HandshakeOffer> & { extensionHeader?: string } = {}): HandshakeOffer {
  const { extensionHeader, ...rest } = overrides;
  const extensions = extensionHeader === undefined ? [] : parseExtensionHeader(extensionHeader);
  assert.ok(extensions !== null);
  return { protocols: [], extensions, origin: undefined, path: '/', ...rest };
}

/** An extension that accepts the first offer of its name and says how it was called. */
function fakeExtension(name: string, decline = false): ServerExtension & { codec: FakeCodec; calls: number } {
  const codec = new FakeCodec();
  const extension = {
    name,
    codec,
    calls: 0,
    accept() {
      extension.calls++;
      return decline ? null : { response: `${name}; x=1`, codec };
    },
  };
  return extension;
}

describe('refusal', () => {
  it('is the status, the body (reason) and the headers, with no headers key when there are none', () => {
    assert.deepEqual(refusal(400, 'bad'), { ok: false, status: 400, reason: 'bad' });
    assert.equal('headers' in refusal(400, 'bad'), false);
    assert.deepEqual(refusal(401, 'who', { 'WWW-Authenticate': 'Bearer' }), {
      ok: false,
      status: 401,
      reason: 'who',
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  });
});

describe('processOrigin (RFC 6455 §10.2)', () => {
  it('allows any origin, and none, without a configuration', () => {
    for (const origin of [undefined, 'https://a.example', 'null']) assert.equal(processOrigin(policy(), origin), true);
  });

  it('an allow-list matches whole values, case-sensitively, and refuses a missing Origin', () => {
    const p = policy({ origins: ['https://a.example', 'https://b.example:8443'] });
    assert.equal(processOrigin(p, 'https://a.example'), true);
    assert.equal(processOrigin(p, 'https://b.example:8443'), true);
    assert.equal(processOrigin(p, 'https://b.example'), false);
    assert.equal(processOrigin(p, 'https://A.example'), false);
    assert.equal(processOrigin(p, 'https://a.example.evil'), false);
    // Repeated Origin fields arrive joined (checkUpgradeRequest): they never match an entry.
    assert.equal(processOrigin(p, 'https://a.example, https://b.example:8443'), false);
    assert.equal(processOrigin(p, undefined), false);
    assert.equal(processOrigin(policy({ origins: [] }), 'https://a.example'), false);
  });

  it('a predicate sees the origin (undefined when absent) and decides', () => {
    const seen: (string | undefined)[] = [];
    const p = policy({
      origins: (origin) => {
        seen.push(origin);
        return origin?.endsWith('.example') ?? false;
      },
    });
    assert.equal(processOrigin(p, 'https://a.example'), true);
    assert.equal(processOrigin(p, 'https://a.test'), false);
    assert.equal(processOrigin(p, undefined), false);
    assert.deepEqual(seen, ['https://a.example', 'https://a.test', undefined]);
  });
});

describe('processSubprotocol (RFC 6455 §4.2.2 item 5.4)', () => {
  it('answers none without a configuration or without offers (the selector is not called)', () => {
    assert.equal(processSubprotocol(policy(), ['chat'], REQ), '');
    let called = false;
    const selector = policy({
      protocols: () => {
        called = true;
        return 'chat';
      },
    });
    assert.equal(processSubprotocol(selector, [], REQ), '');
    assert.equal(called, false);
    assert.equal(processSubprotocol(policy({ protocols: ['chat'] }), [], REQ), '');
  });

  it("a list is the server's order of preference among the client's offers", () => {
    const p = policy({ protocols: ['v3', 'v2', 'v1'] });
    assert.equal(processSubprotocol(p, ['v1', 'v2'], REQ), 'v2');
    assert.equal(processSubprotocol(p, ['v1'], REQ), 'v1');
    assert.equal(processSubprotocol(p, ['v4'], REQ), '');
    // Subprotocol names are case-sensitive tokens.
    assert.equal(processSubprotocol(p, ['V3'], REQ), '');
  });

  it('a selector gets the offers and the request, and may pick one or none', () => {
    const calls: [string[], FakeRequest][] = [];
    const pick = (choice: string | undefined) =>
      policy({
        protocols: (offered, req) => {
          calls.push([offered, req]);
          return choice;
        },
      });
    assert.equal(processSubprotocol(pick('b'), ['a', 'b'], REQ), 'b');
    assert.deepEqual(calls[0], [['a', 'b'], REQ]);
    assert.equal(processSubprotocol(pick(undefined), ['a'], REQ), '');
    assert.equal(processSubprotocol(pick(''), ['a'], REQ), '');
  });

  it('a selector that picks what was not offered is a 500, not an answer the client would fail', () => {
    const wrong = processSubprotocol(policy({ protocols: () => 'c' }), ['a', 'b'], REQ);
    assert.deepEqual(wrong, refusal(500, 'Selected subprotocol "c" was not offered by the client'));
    // Plain JavaScript: a non-string pick is refused the same way.
    const odd = processSubprotocol(policy({ protocols: (() => 42) as unknown as () => string }), ['a'], REQ);
    assert.equal(typeof odd === 'object' && odd.status, 500);
  });
});

describe('admit: the decisions before the verify hook', () => {
  it('admits with the chosen subprotocol', () => {
    assert.deepEqual(admit(policy({ protocols: ['p'] }), OPEN, offer({ protocols: ['p'] }), REQ), { ok: true, protocol: 'p' });
    assert.deepEqual(admit(policy(), OPEN, offer(), REQ), { ok: true, protocol: '' });
  });

  it('refuses with 503 while shutting down, before anything else is looked at', () => {
    let consulted = false;
    const p = policy({
      origins: () => {
        consulted = true;
        return true;
      },
    });
    const decision = admit(p, { ...OPEN, closing: true }, offer(), REQ);
    assert.deepEqual(decision, refusal(503, 'The server is shutting down'));
    assert.equal(consulted, false);
  });

  it('counts open connections and handshakes in progress against maxConnections (503 + Retry-After)', () => {
    const p = policy({ maxConnections: 3 });
    const tooMany = refusal(503, 'Too many connections', { 'Retry-After': '5' });
    assert.equal(admit(p, { ...OPEN, connections: 2 }, offer(), REQ).ok, true);
    assert.equal(admit(p, { ...OPEN, connections: 1, handshakes: 1 }, offer(), REQ).ok, true);
    assert.deepEqual(admit(p, { ...OPEN, connections: 3 }, offer(), REQ), tooMany);
    assert.deepEqual(admit(p, { ...OPEN, connections: 2, handshakes: 1 }, offer(), REQ), tooMany);
    assert.deepEqual(admit(p, { ...OPEN, handshakes: 3 }, offer(), REQ), tooMany);
    assert.deepEqual(admit(policy({ maxConnections: 0 }), OPEN, offer(), REQ), tooMany);
  });

  it('refuses an origin the policy does not allow with 403', () => {
    const p = policy({ origins: ['https://a.example'] });
    assert.deepEqual(admit(p, OPEN, offer({ origin: 'https://b.example' }), REQ), refusal(403, 'Origin not allowed'));
    assert.equal(admit(p, OPEN, offer({ origin: 'https://a.example' }), REQ).ok, true);
  });

  it('a selector that throws is a 500 whose body is its message', () => {
    const throwing = (thrown: unknown) =>
      policy({
        protocols: () => {
          throw thrown;
        },
      });
    assert.deepEqual(admit(throwing(new Error('no luck')), OPEN, offer({ protocols: ['a'] }), REQ), refusal(500, 'no luck'));
    assert.deepEqual(admit(throwing('a string'), OPEN, offer({ protocols: ['a'] }), REQ), refusal(500, 'Subprotocol selection failed'));
  });

  it('a selector that picks what was not offered is a 500', () => {
    const decision = admit(policy({ protocols: () => 'z' }), OPEN, offer({ protocols: ['a'] }), REQ);
    assert.deepEqual(decision, refusal(500, 'Selected subprotocol "z" was not offered by the client'));
  });

  it('the limit comes before the origin, and the origin before the subprotocol', () => {
    let selected = false;
    const p = policy({
      maxConnections: 1,
      origins: ['https://a.example'],
      protocols: () => {
        selected = true;
        return 'a';
      },
    });
    const bad = offer({ origin: 'https://b.example', protocols: ['a'] });
    assert.deepEqual(admit(p, { ...OPEN, connections: 1 }, bad, REQ), refusal(503, 'Too many connections', { 'Retry-After': '5' }));
    assert.deepEqual(admit(p, OPEN, bad, REQ), refusal(403, 'Origin not allowed'));
    assert.equal(selected, false);
  });

  it('handshakeInfo is what the verify hook is told', () => {
    const o = offer({ protocols: ['a', 'b'], origin: 'https://a.example', path: '/room' });
    assert.deepEqual(handshakeInfo(o, 'b'), { protocols: ['a', 'b'], protocol: 'b', origin: 'https://a.example', path: '/room' });
  });
});

describe("readVerifyResult: the verify hook's answer", () => {
  it('nothing or true accepts without data; false refuses with 403', () => {
    assert.deepEqual(readVerifyResult(undefined), { ok: true, data: undefined, headers: undefined });
    assert.equal(readVerifyResult(true), PLAIN_VERDICT);
    assert.deepEqual(readVerifyResult(false), refusal(403, 'Forbidden'));
  });

  it('{ accept: true } carries data and response headers', () => {
    assert.deepEqual(readVerifyResult({ accept: true, data: { user: 'ann' }, headers: { 'X-A': ['1', '2'] } }), {
      ok: true,
      data: { user: 'ann' },
      headers: { 'X-A': ['1', '2'] },
    });
    assert.deepEqual(readVerifyResult({ accept: true }), { ok: true, data: undefined, headers: undefined });
  });

  it('{ accept: false } is the status, body and headers given (3xx to 5xx)', () => {
    assert.deepEqual(readVerifyResult({ accept: false, status: 401, body: 'log in', headers: { 'WWW-Authenticate': 'Bearer' } }), {
      ok: false,
      status: 401,
      reason: 'log in',
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
    assert.deepEqual(readVerifyResult({ accept: false, status: 302, headers: { Location: '/login' } }), refusal(302, '', { Location: '/login' }));
    for (const status of [300, 404, 429, 599]) assert.equal((readVerifyResult({ accept: false, status }) as { status: number }).status, status);
  });

  it('a rejection with a status that cannot say no (1xx, 2xx, out of range, not an integer) is a 500', () => {
    // A 1xx is interim and a 2xx opens an RFC 8441 tunnel (RFC 9110 §9.3.6).
    for (const status of [42, 100, 101, 200, 204, 299, 600, 401.5, Number.NaN, '401']) {
      assert.deepEqual(readVerifyResult({ accept: false, status }), refusal(500, 'Invalid handshake rejection'), String(status));
    }
    assert.deepEqual(readVerifyResult({ accept: false }), refusal(500, 'Invalid handshake rejection'));
    assert.deepEqual(readVerifyResult({ accept: false, status: 401, body: 42 }), refusal(500, 'Invalid handshake rejection'));
  });

  it('anything else is refused with 500, never read as an acceptance (fail closed)', () => {
    for (const value of [null, 0, 1, 'yes', {}, { accept: 'yes' }, { accept: 1 }, [], { accept: true, headers: 'X-A: 1' }, { accept: true, headers: null }, { accept: false, status: 401, headers: [] }]) {
      assert.deepEqual(readVerifyResult(value), refusal(500, 'Invalid verify result'), JSON.stringify(value));
    }
  });

  it('a header field that cannot be sent, accepting or refusing, is a 500 naming the field (not its value)', () => {
    for (const headers of [
      { 'X-A': 'a\r\nX-Evil: 1' },
      { 'X-A': 'a\nb' },
      { 'X-A': 'nul\0' },
      { 'X-A': 'caf\u00e9' },
      { 'X-A': ['ok', 'a\rb'] },
      { 'X-A': 42 },
      { 'X-A': undefined },
      { 'X-A': [['nested']] },
      { 'X A': 'x' },
      { 'X-A\r\nX-Evil': 'x' },
      { '': 'x' },
    ]) {
      const name = Object.keys(headers)[0]!;
      const expected = refusal(500, `Invalid header field from verify: ${JSON.stringify(name)}`);
      assert.deepEqual(readVerifyResult({ accept: true, headers }), expected, JSON.stringify(headers));
      assert.deepEqual(readVerifyResult({ accept: false, status: 401, headers }), expected, JSON.stringify(headers));
    }
    // HTAB, SP and every VCHAR are fine; so is an empty value.
    const fine = { 'X-A': 'a\tb c~!', 'X-B': '', 'X-C': ['1', '2'] };
    assert.deepEqual(readVerifyResult({ accept: true, headers: fine }), { ok: true, data: undefined, headers: fine });
  });

  it('a hook that failed is a 500 that does not say why', () => {
    assert.deepEqual(VERIFY_FAILED, refusal(500, 'Handshake verification failed'));
  });
});

describe('conclude: after the application accepted', () => {
  it('negotiates the extensions offered (RFC 6455 §9.1) and keeps the data and headers', () => {
    const ext = fakeExtension('x-test');
    const decision = conclude(policy({ extensions: [ext] }), OPEN, offer({ extensionHeader: 'x-other, x-test' }), 'p', {
      ok: true,
      data: 7,
      headers: { 'X-A': '1' },
    });
    assert.ok(decision.ok);
    assert.equal(decision.protocol, 'p');
    assert.equal(decision.extensions.header, 'x-test; x=1');
    assert.equal(decision.extensions.codec, ext.codec);
    assert.equal(decision.data, 7);
    assert.deepEqual(decision.headers, { 'X-A': '1' });
  });

  it('answers no extension when none is offered, or the extension declines', () => {
    const ext = fakeExtension('x-test');
    const none = conclude(policy({ extensions: [ext] }), OPEN, offer(), '', PLAIN_VERDICT);
    assert.ok(none.ok);
    assert.deepEqual(none.extensions, { header: '', codec: null });
    assert.equal(ext.calls, 0);
    const declined = conclude(policy({ extensions: [fakeExtension('x-test', true)] }), OPEN, offer({ extensionHeader: 'x-test' }), '', PLAIN_VERDICT);
    assert.ok(declined.ok);
    assert.deepEqual(declined.extensions, { header: '', codec: null });
  });

  it('a shutdown begun while verify ran refuses with 503, and negotiates nothing (no codec to release)', () => {
    const ext = fakeExtension('x-test');
    const decision = conclude(policy({ extensions: [ext] }), { ...OPEN, closing: true }, offer({ extensionHeader: 'x-test' }), '', PLAIN_VERDICT);
    assert.deepEqual(decision, refusal(503, 'The server is shutting down'));
    assert.equal(ext.calls, 0);
  });
});

describe('refusals serialise as HTTP/1.1 responses', () => {
  it('every refusal the policy makes is a valid error response', () => {
    const refusals = [
      admit(policy(), { ...OPEN, closing: true }, offer(), REQ),
      admit(policy({ maxConnections: 0 }), OPEN, offer(), REQ),
      admit(policy({ origins: [] }), OPEN, offer(), REQ),
      readVerifyResult(false),
      readVerifyResult({ accept: false, status: 401, body: 'log in', headers: { 'WWW-Authenticate': 'Bearer' } }),
      readVerifyResult(null),
      VERIFY_FAILED,
    ];
    for (const r of refusals) {
      assert.ok(!r.ok);
      const text = buildErrorResponse(r.status, r.reason, r.headers);
      assert.match(text, new RegExp(`^HTTP/1\\.1 ${r.status} `));
      assert.ok(text.endsWith(`\r\n\r\n${r.reason}`));
    }
    assert.match(buildErrorResponse(503, 'x', refusal(503, 'x', { 'Retry-After': '5' }).headers), /\r\nRetry-After: 5\r\n/);
  });
});

describe('checkExtendedConnectRequest (RFC 8441 §4, §5)', () => {
  function headers(extra: Record<string, string | string[] | undefined> = {}): IncomingHttpHeaders {
    const all: IncomingHttpHeaders = {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': '/chat?room=1',
      ':authority': 'example.com',
      'sec-websocket-version': '13',
    };
    for (const [name, value] of Object.entries(extra)) {
      if (value === undefined) delete all[name];
      else all[name] = value;
    }
    return all;
  }

  it('accepts a well-formed request and reports what the policy needs', () => {
    assert.deepEqual(
      checkExtendedConnectRequest(
        headers({
          'sec-websocket-protocol': 'chat, v2',
          'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
          origin: 'https://example.com',
        }),
      ),
      {
        ok: true,
        path: '/chat?room=1',
        authority: 'example.com',
        scheme: 'https',
        protocols: ['chat', 'v2'],
        extensions: parseExtensionHeader('permessage-deflate; client_max_window_bits'),
        origin: 'https://example.com',
      },
    );
    const plain = checkExtendedConnectRequest(headers({ ':scheme': 'http', ':authority': undefined, host: 'h:8080', ':protocol': 'WebSocket' }));
    assert.ok(plain.ok);
    assert.equal(plain.scheme, 'http');
    assert.equal(plain.authority, 'h:8080');
    assert.deepEqual([plain.protocols, plain.extensions, plain.origin], [[], [], undefined]);
    assert.equal(checkExtendedConnectRequest(headers({ 'sec-websocket-version': ' 13 ' })).ok, true);
    assert.equal(checkExtendedConnectRequest(headers({ 'sec-websocket-version': ['13'] })).ok, true);
  });

  it('joins repeated Origin fields so that no allow-list can match them', () => {
    const check = checkExtendedConnectRequest(headers({ origin: ['https://a.example', 'https://b.example'] }));
    assert.ok(check.ok);
    assert.equal(check.origin, 'https://a.example, https://b.example');
  });

  it('refuses what is not a WebSocket extended CONNECT, saying why', () => {
    const cases: [Record<string, string | string[] | undefined>, number, RegExp, Record<string, string>?][] = [
      [{ ':method': 'GET' }, 405, /CONNECT/, { Allow: 'CONNECT' }],
      [{ ':protocol': undefined }, 400, /:protocol/],
      [{ ':protocol': 'h2c' }, 400, /:protocol/],
      [{ ':path': undefined }, 400, /:path/],
      [{ ':path': '' }, 400, /:path/],
      [{ ':scheme': 'ftp' }, 400, /:scheme/],
      [{ ':scheme': undefined }, 400, /:scheme/],
      [{ ':authority': undefined }, 400, /:authority/],
      [{ ':authority': ' ' }, 400, /:authority/],
      [{ 'sec-websocket-version': undefined }, 400, /Missing sec-websocket-version/, { 'sec-websocket-version': '13' }],
      [{ 'sec-websocket-version': [] }, 400, /Missing sec-websocket-version/, { 'sec-websocket-version': '13' }],
      // 426 is an HTTP/1.1 connection upgrade; over HTTP/2 the refusal is a 400.
      [{ 'sec-websocket-version': '8' }, 400, /version 13/, { 'sec-websocket-version': '13' }],
      [{ 'sec-websocket-version': ['13', '8'] }, 400, /version 13/, { 'sec-websocket-version': '13' }],
      [{ 'sec-websocket-protocol': 'a b' }, 400, /sec-websocket-protocol/],
      [{ 'sec-websocket-protocol': 'a, a' }, 400, /sec-websocket-protocol/],
      [{ 'sec-websocket-extensions': 'x; =1' }, 400, /sec-websocket-extensions/],
    ];
    for (const [extra, status, reason, extraHeaders] of cases) {
      const check = checkExtendedConnectRequest(headers(extra));
      assert.ok(!check.ok, JSON.stringify(extra));
      assert.equal(check.status, status, JSON.stringify(extra));
      assert.match(check.reason, reason, JSON.stringify(extra));
      assert.deepEqual(check.headers, extraHeaders, JSON.stringify(extra));
    }
  });
});

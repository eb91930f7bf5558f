// The client's options are checked by name and value: a `ws` user's habits get a TypeError that
// says the Upshift way, instead of being ignored in silence.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import { planClient, type ClientOptions } from '../../src/client/options.js';
import { WebSocket } from '../../src/client/websocket.js';
import { perMessageDeflateClient } from '../../src/extensions/permessage-deflate/index.js';
import { DEFAULT_LIMITS } from '../../src/connection/limits.js';

// Nothing listens here: every case below must fail before any connection is tried.
const URL_ = 'ws://127.0.0.1:1/';

function typeError(pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

const HINTS: [string, unknown, RegExp][] = [
  ['maxRedirects', 5, /"maxRedirects"\. Use followRedirects: <n>/],
  ['rejectUnauthorized', false, /"rejectUnauthorized"\. TLS options go under tls: \{ … \}/],
  ['ca', 'pem', /"ca"\. TLS options go under tls/],
  ['cert', 'pem', /"cert"\. TLS options go under tls/],
  ['key', 'pem', /"key"\. TLS options go under tls/],
  ['servername', 'h', /"servername"\. TLS options go under tls/],
  ['maxConnections', 10, /"maxConnections"\. maxConnections is a server option/],
  ['protocol', 'chat', /"protocol"\. Use protocols/],
  ['timeout', 100, /"timeout"\. Use handshakeTimeout/],
  ['verifyClient', () => true, /"verifyClient"\.$/],
];

describe('client options: names', () => {
  for (const [name, value, message] of HINTS) {
    it(`connect() rejects ${name} with a TypeError and a hint`, async () => {
      await assert.rejects(connect(URL_, { [name]: value } as ClientOptions), typeError(new RegExp(`^connect\\(\\): unknown option .*${message.source}`)));
    });
  }

  it('new WebSocket() throws the same TypeErrors synchronously', () => {
    for (const [name, value, message] of HINTS) {
      assert.throws(() => new WebSocket(URL_, [], { [name]: value } as ClientOptions), typeError(new RegExp(`^new WebSocket\\(\\): unknown option .*${message.source}`)), name);
    }
    // Subprotocols and aborting have their own ways on the WHATWG API.
    assert.throws(() => new WebSocket(URL_, [], { protocols: ['a'] } as ClientOptions), typeError(/"protocols"\. Pass the subprotocols as the second argument/));
    assert.throws(() => new WebSocket(URL_, [], { signal: AbortSignal.abort() } as ClientOptions), typeError(/"signal"\. Call close\(\) to abort/));
  });

  it('takes every valid name: its own, the TLS and extension ones, and the connection limits', () => {
    const options: Required<ClientOptions> = {
      protocols: ['a'],
      headers: { 'X-A': '1' },
      origin: 'https://o.example',
      handshakeTimeout: 1000,
      followRedirects: 2,
      tls: { rejectUnauthorized: false },
      extensions: [perMessageDeflateClient()],
      perMessageDeflate: true,
      signal: new AbortController().signal,
      http2: true,
      maxPayload: 1,
      maxFragments: 2,
      highWaterMark: 3,
      closeTimeout: 4,
      pingInterval: 5,
      idleTimeout: 6,
      maxUnansweredPings: 7,
    };
    const plan = planClient('connect()', URL_, options);
    const { maxPayload, maxFragments, highWaterMark, closeTimeout, pingInterval, idleTimeout, maxUnansweredPings } = plan.limits;
    assert.deepEqual([maxPayload, maxFragments, highWaterMark, closeTimeout, pingInterval, idleTimeout, maxUnansweredPings], [1, 2, 3, 4, 5, 6, 7]);
    const defaults = planClient('connect()', URL_, {}).limits;
    assert.equal(defaults.maxPayload, DEFAULT_LIMITS.maxPayload);
    assert.deepEqual([defaults.pingInterval, defaults.idleTimeout], [0, 0], 'clients do not ping by default');
    assert.equal(plan.maxRedirects, 2);
    assert.equal(plan.http2, true);
    assert.deepEqual(plan.headers, { 'x-a': '1' });
    assert.equal(plan.extensions.length, 1, 'perMessageDeflate does not add a second permessage-deflate');
  });
});

describe('client options: values', () => {
  it('a header value that HTTP cannot carry is a TypeError naming the header, not a Node ERR_INVALID_CHAR', async () => {
    await assert.rejects(connect(URL_, { headers: { Authorization: 'Bearer …' } }), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.equal((error as NodeJS.ErrnoException).code, undefined);
      assert.match(error.message, /^The value of header Authorization has the character U\+2026 at index 7/);
      return true;
    });
    assert.throws(() => new WebSocket(URL_, [], { headers: { Cookie: 'a=\r\nb' } }), typeError(/header Cookie has the character U\+000D/));
    await assert.rejects(connect(URL_, { headers: { Upgrade: 'h2c' } }), typeError(/Header Upgrade is set by the WebSocket handshake/));
  });

  it('followRedirects, handshakeTimeout, the limits, origin and tls are checked', async () => {
    await assert.rejects(connect(URL_, { followRedirects: -1 }), RangeError);
    await assert.rejects(connect(URL_, { followRedirects: 1.5 }), /followRedirects must be true, false or a non-negative integer/);
    await assert.rejects(connect(URL_, { handshakeTimeout: 0 }), /handshakeTimeout must be a positive number/);
    await assert.rejects(connect(URL_, { handshakeTimeout: NaN }), RangeError);
    await assert.rejects(connect(URL_, { maxPayload: -1 }), /maxPayload must be a non-negative number/);
    await assert.rejects(connect(URL_, { origin: 1 as unknown as string }), typeError(/origin must be a string/));
    await assert.rejects(connect(URL_, { tls: 'x' as unknown as object }), typeError(/tls must be an object/));
    await assert.rejects(connect(URL_, 'x' as unknown as ClientOptions), typeError(/options must be an object/));
  });
});

// Option names of new WebSocketServer(): an unknown one throws a TypeError naming the Upshift
// equivalent, in plain JavaScript too. A `ws` user's verifyClient used to be ignored in silence,
// and with it the authentication it was meant to do.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/server/websocket-server.js';
import { SERVER_LIMIT_NAMES } from '../../src/connection/limits.js';

/** Builds a server from options TypeScript would refuse, as a plain JavaScript caller can. */
function construct(options: Record<string, unknown>): WebSocketServer {
  return new WebSocketServer(options as WebSocketServerOptions);
}

describe('new WebSocketServer(options): option names', () => {
  it("a ws user's verifyClient throws instead of accepting every client unauthenticated", () => {
    const verifyClient = (): boolean => false;
    assert.throws(
      () => construct({ port: 0, verifyClient }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /unknown option "verifyClient"/);
        assert.match(error.message, /verify\(req, info\)/);
        return true;
      },
    );
  });

  it('names the Upshift equivalent, or why there is none, for every other ws option', () => {
    const hints: [string, RegExp][] = [
      ['handleProtocols', /use protocols/i],
      ['clientTracking', /wss\.clients/],
      ['backlog', /not supported.*listen\(port, host, backlog\)/i],
      ['skipUTF8Validation', /not supported.*UTF-8/i],
      ['autoPong', /not supported.*pong/i],
      ['allowSynchronousEvents', /not needed/i],
      ['WebSocket', /not supported.*data/i],
    ];
    for (const [name, hint] of hints) {
      assert.throws(
        () => construct({ noServer: true, [name]: true }),
        (error: unknown) => error instanceof TypeError && error.message.includes(`"${name}"`) && hint.test(error.message),
        name,
      );
    }
  });

  it('a misspelt option throws, naming it', () => {
    assert.throws(() => construct({ noServer: true, maxPayLoad: 1 }), { name: 'TypeError', message: /unknown option "maxPayLoad"\.$/ });
    assert.throws(() => construct({ noServer: true, origin: ['https://a.example'] }), /unknown option "origin"/);
  });

  it('throws before listening', () => {
    // Nothing is left open: the constructor throws before creating a server, so this test ends.
    assert.throws(() => construct({ port: 0, host: '127.0.0.1', handleProtocols: () => 'x' }), TypeError);
  });

  it("accepts the names ws and Upshift share, every option and every server limit", () => {
    const shared = { noServer: true, maxPayload: 1024, perMessageDeflate: true, path: '/x', port: 1, host: 'localhost', server: undefined };
    construct(shared);
    const all: Record<string, unknown> = {
      noServer: true,
      protocols: ['a'],
      origins: ['https://a.example'],
      verify: () => true,
      extensions: [],
    };
    for (const name of SERVER_LIMIT_NAMES) all[name] = 1;
    construct(all);
  });

  it('options that are not an object throw', () => {
    assert.throws(() => construct(42 as unknown as Record<string, unknown>), TypeError);
  });
});

// Redirects: the pure policy (src/client/redirects.ts), then the same cases through connect() over
// both transports, HTTP/1.1 and HTTP/2: another host, another port, wss: down to ws: on the same
// host and port, and a loop.

import { after, before, describe, it } from 'node:test';
import { requirePeers } from '../peers/support/requirements.js';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createSecureServer, createServer as createH2cServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { connect, HandshakeError } from '../../src/client/connect.js';
import { decideRedirect, originOf, redirectLimit, type RedirectInput } from '../../src/client/redirects.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';
import { HOST, makeTestCertificate } from '../http2/support/h2.js';

const CREDENTIALS = { Authorization: 'Bearer secret', Cookie: 'session=1', 'Proxy-Authorization': 'Basic cHJveHk=' };

function decide(from: string, location: RedirectInput['location'], extra: Partial<RedirectInput> = {}) {
  return decideRedirect({ url: new URL(from), status: 302, location, headers: { authorization: 'a', 'x-other': 'o' }, followed: 0, limit: 10, ...extra });
}

describe('the redirect policy (pure)', () => {
  it('redirectLimit: false/undefined → 0, true → 10, a count as is; anything else is a RangeError', () => {
    assert.equal(redirectLimit(undefined), 0);
    assert.equal(redirectLimit(false), 0);
    assert.equal(redirectLimit(true), 10);
    assert.equal(redirectLimit(0), 0);
    assert.equal(redirectLimit(3), 3);
    for (const bad of [-1, 1.5, NaN, Infinity, '3', null]) {
      assert.throws(() => redirectLimit(bad as unknown as number), RangeError, String(bad));
    }
  });

  it('originOf writes the default port out, so wss://h/ and wss://h:443/ are one origin', () => {
    assert.equal(originOf(new URL('wss://h/')), 'wss://h:443');
    assert.equal(originOf(new URL('wss://h:443/x')), 'wss://h:443');
    assert.equal(originOf(new URL('ws://H:80/')), 'ws://h:80');
    assert.equal(originOf(new URL('ws://h:8080/')), 'ws://h:8080');
    assert.equal(originOf(new URL('ws://[::1]:81/')), 'ws://[::1]:81');
    assert.notEqual(originOf(new URL('ws://h/')), originOf(new URL('wss://h/')));
  });

  it('is no redirect (null) without a redirect status or a Location', () => {
    for (const status of [200, 300, 304, 305, 400, 404, 500]) assert.equal(decide('ws://h/', '/x', { status }), null, String(status));
    for (const status of [301, 302, 303, 307, 308]) assert.equal(decide('ws://h/', '/x', { status })?.follow, true, String(status));
    assert.equal(decide('ws://h/', undefined), null);
  });

  it('resolves the Location against the current URL and maps http(s) to ws(s)', () => {
    const cases: [string, string, string][] = [
      ['ws://h/a/b?q', 'c', 'ws://h/a/c'],
      ['ws://h/a', '/x?y=1', 'ws://h/x?y=1'],
      ['wss://h/a', '//other/p', 'wss://other/p'],
      ['ws://h/', 'http://o:81/p', 'ws://o:81/p'],
      ['ws://h/', 'https://o/p', 'wss://o/p'],
      ['ws://h/', 'https://o:443/p', 'wss://o/p'],
      ['ws://h/', 'wss://o/p#frag', 'wss://o/p'],
    ];
    for (const [from, location, to] of cases) {
      const decision = decide(from, location);
      assert.ok(decision?.follow, `${from} + ${location}`);
      assert.equal(decision.url.href, to, `${from} + ${location}`);
    }
  });

  it('does not follow when told not to, past the limit, to another scheme, or to an invalid URL', () => {
    const reasons: [RedirectDecision, RegExp][] = [
      [decide('ws://h/', '/x', { limit: 0 }), /not followed \(set followRedirects/],
      [decide('ws://h/', '/x', { followed: 3, limit: 3 }), /too many redirects: 3 followed/],
      [decide('ws://h/', 'ftp://h/x'), /scheme is not ws, wss, http or https/],
      [decide('ws://h/', 'http://[nope/'), /invalid redirect location/],
      [decide('ws://h/', ['/a', '/b']), /2 Location headers/],
    ];
    for (const [decision, reason] of reasons) {
      assert.ok(decision !== null && !decision.follow);
      assert.match(decision.reason, reason);
    }
  });

  it('keeps every header on the same origin, default ports normalised', () => {
    const headers = { authorization: 'a', cookie: 'c', 'x-other': 'o' };
    for (const [from, location] of [
      ['wss://h/', 'wss://h:443/next'],
      ['wss://h:443/', '/next'],
      ['ws://h/', 'ws://h:80/next'],
      ['ws://h:8080/', 'http://h:8080/next'],
      ['wss://h/', 'https://H/next'],
    ] as const) {
      const decision = decide(from, location, { headers });
      assert.ok(decision?.follow);
      assert.deepEqual(decision.headers, headers, `${from} → ${location}`);
      assert.equal(decision.credentialsDropped, false);
    }
  });

  it('drops Authorization, Cookie and Proxy-Authorization (any case) when the origin changes', () => {
    const headers = { Authorization: 'a', cookie: 'c', 'PROXY-AUTHORIZATION': 'p', 'x-other': 'o' };
    for (const [from, location] of [
      ['ws://h/', 'ws://other/'], // another host
      ['ws://h/', 'ws://h:81/'], // another port
      ['wss://h/', 'ws://h/next'], // down to clear text, same host and (default) port
      ['wss://h:8443/', 'ws://h:8443/'], // down to clear text, same host and port
      ['ws://h/', 'wss://h/'], // up to TLS: another origin too
      ['wss://h/', 'wss://h:8443/'],
    ] as const) {
      const decision = decide(from, location, { headers });
      assert.ok(decision?.follow);
      assert.deepEqual(decision.headers, { 'x-other': 'o' }, `${from} → ${location}`);
      assert.equal(decision.credentialsDropped, true);
    }
  });
});

type RedirectDecision = ReturnType<typeof decideRedirect>;

// --- over the wire ------------------------------------------------------------------------

const certificate = makeTestCertificate();
const tls = 'skip' in certificate ? undefined : certificate;
const openssl = requirePeers('openssl');

interface Seen {
  url: string;
  secure: boolean;
  host: string | undefined;
  headers: IncomingHttpHeaders;
}

/**
 * One loopback port that speaks TLS and clear text, over HTTP/1.1 or HTTP/2: a relay passes each
 * connection to a TLS server or a cleartext one by its first byte (0x16 starts a ClientHello),
 * each with a WebSocketServer. `route` answers a handshake with a redirect Location, or undefined
 * to accept it.
 */
async function startDualServer(
  http2: boolean,
  route: (url: string, secure: boolean) => string | undefined,
): Promise<{ port: number; seen: Seen[]; stop(): Promise<void> }> {
  const seen: Seen[] = [];
  const plain = http2 ? createH2cServer() : createHttpServer();
  const secure = tls === undefined ? null : http2 ? createSecureServer({ ...tls }) : createHttpsServer({ ...tls });
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const servers: WebSocketServer[] = [];
  const ports = new Map<NetServer, number>();
  for (const [server, isSecure] of [[plain, false], [secure, true]] as const) {
    if (server === null) continue;
    const wss = new WebSocketServer({
      server,
      verify: (req) => {
        const url = req.url ?? '';
        seen.push({ url, secure: isSecure, host: req.headers.host ?? (req.headers as Record<string, string>)[':authority'], headers: req.headers });
        const location = route(url, isSecure);
        return location === undefined ? true : { accept: false, status: 302, headers: { Location: location } };
      },
    });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
    servers.push(wss);
    server.on('connection', track);
    server.listen(0, HOST);
    await within(once(server, 'listening'), EVENT_WAIT_MS, 'listening');
    ports.set(server, (server.address() as AddressInfo).port);
  }
  const relay: NetServer = createNetServer((socket) => {
    track(socket);
    socket.once('data', (chunk: Buffer) => {
      const target = ports.get(chunk[0] === 0x16 && secure !== null ? secure : plain)!;
      const upstream = netConnect(target, HOST);
      track(upstream);
      upstream.write(chunk);
      socket.pipe(upstream).pipe(socket);
      upstream.on('close', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
    });
  });
  relay.listen(0, HOST);
  await within(once(relay, 'listening'), EVENT_WAIT_MS, 'listening');
  return {
    port: (relay.address() as AddressInfo).port,
    seen,
    stop: async () => {
      for (const wss of servers) await within(wss.close({ timeout: 200 }), EVENT_WAIT_MS, 'the WebSocket server to close');
      for (const socket of sockets) socket.destroy();
      for (const server of [relay, ...ports.keys()]) await within(new Promise((resolve) => server.close(resolve)), EVENT_WAIT_MS, 'a server to close');
    },
  };
}

for (const http2 of [false, true]) {
  const transport = http2 ? 'HTTP/2' : 'HTTP/1.1';

  describe(`connect() follows redirects over ${transport} with one credential policy`, { timeout: 20_000 }, () => {
    let a: Awaited<ReturnType<typeof startDualServer>>;
    let b: Awaited<ReturnType<typeof startDualServer>>;

    before(async () => {
      b = await startDualServer(http2, () => undefined);
      a = await startDualServer(http2, (url) => {
        if (url === '/same') return '/ws';
        if (url === '/other-host') return `ws://localhost:${a.port}/ws`;
        if (url === '/other-port') return `ws://${HOST}:${b.port}/ws`;
        if (url === '/down') return `ws://${HOST}:${a.port}/ws`;
        if (url.startsWith('/loop')) return '/loop';
        return undefined;
      });
    });

    after(async () => {
      await a.stop();
      await b.stop();
    });

    /** Connects with credentials through one redirect; what the server saw at the end. */
    async function follow(url: string, options: { tls?: { ca: Buffer } } = {}): Promise<Seen> {
      const [fromA, fromB] = [a.seen.length, b.seen.length];
      const ws = await connect(url, { http2, followRedirects: true, headers: { ...CREDENTIALS, 'X-Other': 'kept' }, ...options });
      const echoed = once(ws, 'message');
      ws.send('after the redirect');
      assert.equal(String((await within(echoed, EVENT_WAIT_MS, 'the echo'))[0]), 'after the redirect');
      ws.terminate();
      const seen = [...a.seen.slice(fromA), ...b.seen.slice(fromB)];
      assert.deepEqual(seen.map((entry) => entry.url), [new URL(url).pathname, '/ws'], 'one redirect, then the WebSocket');
      return seen[1]!;
    }

    function credentials(entry: Seen): (string | undefined)[] {
      return [entry.headers.authorization, entry.headers.cookie, entry.headers['proxy-authorization'], entry.headers['x-other'] as string];
    }

    it('keeps the credentials on the same origin', async () => {
      const last = await follow(`ws://${HOST}:${a.port}/same`);
      assert.deepEqual(credentials(last), ['Bearer secret', 'session=1', 'Basic cHJveHk=', 'kept']);
    });

    it('drops them on a redirect to another host (same port)', async () => {
      const last = await follow(`ws://${HOST}:${a.port}/other-host`);
      assert.match(String(last.host), /^localhost:/);
      assert.deepEqual(credentials(last), [undefined, undefined, undefined, 'kept']);
    });

    it('drops them on a redirect to another port (same host)', async () => {
      const last = await follow(`ws://${HOST}:${a.port}/other-port`);
      assert.ok(b.seen.includes(last));
      assert.deepEqual(credentials(last), [undefined, undefined, undefined, 'kept']);
    });

    openssl.it('drops them on a redirect from wss: down to ws: on the same host and port', async () => {
      const last = await follow(`wss://${HOST}:${a.port}/down`, { tls: { ca: tls!.cert } });
      assert.equal(last.secure, false);
      assert.deepEqual(credentials(last), [undefined, undefined, undefined, 'kept'], 'credentials must not go out in clear text');
      const redirected = a.seen.find((entry) => entry.url === '/down')!;
      assert.equal(redirected.secure, true);
      assert.equal(redirected.headers.authorization, 'Bearer secret', 'the TLS side did get them');
    });

    it('ends a redirect loop with a clear error once the limit is hit', async () => {
      const before = a.seen.length;
      await assert.rejects(connect(`ws://${HOST}:${a.port}/loop/start`, { http2, followRedirects: 3 }), (error: unknown) => {
        assert.ok(error instanceof HandshakeError, String(error));
        assert.equal(error.statusCode, 302);
        assert.match(error.message, /^Unexpected server response: 302; too many redirects: 3 followed.*"\/loop"/);
        return true;
      });
      assert.deepEqual(
        a.seen.slice(before).map((entry) => entry.url),
        ['/loop/start', '/loop', '/loop', '/loop'],
      );
      // Without followRedirects the redirect is reported, not followed.
      await assert.rejects(connect(`ws://${HOST}:${a.port}/loop/start`, { http2 }), /302; a redirect to "\/loop", not followed \(set followRedirects/);
    });
  });
}

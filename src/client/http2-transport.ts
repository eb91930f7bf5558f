// The client side of RFC 8441: WebSockets on HTTP/2 streams. WebSockets to the same origin share
// one HTTP/2 session (one TCP/TLS connection): a pool keeps a session per origin (and TLS
// settings) while any of its WebSockets (or handshakes) is alive, and closes it after the last one.
//
// wss:// URLs use TLS with ALPN h2; ws:// URLs use cleartext HTTP/2 with prior knowledge
// (RFC 9113 §3.3). A server that does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL cannot take
// a WebSocket over HTTP/2 (RFC 8441 §3), and the handshake fails saying so. This transport only
// opens the stream; the connect() pipeline does the rest.

import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { http2, NGHTTP2_CANCEL } from '../util/http2.js';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { cancelStream } from '../connection/transport.js';
import { buildExtendedConnectHeaders } from '../protocol/client-handshake.js';
import { HandshakeError, asHandshakeError } from './errors.js';
import { originOf } from './redirects.js';
import type { HandshakeAttempt, HandshakeListener, HandshakeRequest } from './transport.js';

interface PooledSession {
  /** The pool's key: the origin and the TLS settings. */
  readonly key: string;
  readonly origin: string;
  readonly session: ClientHttp2Session;
  /** Settles once the server's first SETTINGS frame has arrived (RFC 9113 §3.4). */
  readonly ready: Promise<void>;
  /** WebSockets and handshakes using the session. */
  users: number;
  /** No new streams: the session failed, closed, or got GOAWAY. */
  retired: boolean;
}

const pool = new Map<string, PooledSession[]>();

/** HTTP/2 sessions currently pooled for `origin` (e.g. "https://example.com:443"); for tests and diagnostics. */
export function pooledSessions(origin?: string): ClientHttp2Session[] {
  const out: ClientHttp2Session[] = [];
  for (const entries of pool.values()) {
    for (const entry of entries) if (origin === undefined || entry.origin === origin) out.push(entry.session);
  }
  return out;
}

// Objects the pool key can only compare by identity (a checkServerIdentity function, a
// SecureContext), numbered.
const identities = new WeakMap<object, number>();
let lastIdentity = 0;

/**
 * A value that is equal for equal TLS settings: strings, numbers and Buffers by content, plain
 * objects key by key in sorted order (undefined members left out), anything else by identity. So
 * two `tls: { ca }` literals with the same certificate share a session, as one origin should.
 */
function canonical(value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return { [typeof value]: String(value) };
  if (ArrayBuffer.isView(value)) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(canonical);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) {
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[name];
      if (member !== undefined) out[name] = canonical(member);
    }
    return { object: out };
  }
  const object = value as object;
  let identity = identities.get(object);
  if (identity === undefined) identities.set(object, (identity = ++lastIdentity));
  return { identity };
}

function poolKey(origin: string, tls: TlsOptions | undefined): string {
  return tls === undefined ? origin : `${origin} ${JSON.stringify(canonical(tls))}`;
}

function retire(entry: PooledSession): void {
  if (entry.retired) return;
  entry.retired = true;
  const entries = pool.get(entry.key);
  if (entries === undefined) return;
  const index = entries.indexOf(entry);
  if (index !== -1) entries.splice(index, 1);
  if (entries.length === 0) pool.delete(entry.key);
}

function openSession(key: string, origin: string, secure: boolean, tls: TlsOptions | undefined): PooledSession {
  const session = http2().connect(origin, {
    ...tls,
    // A WebSocket client has no use for server push.
    settings: { enablePush: false },
  });
  let settle!: (error?: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  // Nobody may be waiting on `ready` when the session fails later.
  ready.catch(() => {});
  const entry: PooledSession = { key, origin, session, ready, users: 0, retired: false };
  session.once('connect', () => {
    // RFC 9113 §3.2: over TLS, HTTP/2 is only spoken after ALPN chose h2.
    if (secure && session.alpnProtocol !== 'h2') {
      const error = new HandshakeError(`${origin} did not negotiate HTTP/2 over TLS (ALPN h2); connect without http2 instead`);
      settle(error);
      retire(entry);
      session.destroy();
    }
  });
  let settingsReceived = false;
  session.once('remoteSettings', (settings) => {
    settingsReceived = true;
    if (settings.enableConnectProtocol === true) return settle();
    // RFC 8441 §3: without SETTINGS_ENABLE_CONNECT_PROTOCOL a client must not send :protocol.
    settle(
      new HandshakeError(
        `${origin} does not accept WebSockets over HTTP/2: its SETTINGS lack SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)`,
      ),
    );
    // The handshakes waiting on `ready` fail, release the session, and the last closes it.
    retire(entry);
  });
  session.on('error', (error: Error & { code?: string }) => {
    // A TLS server without h2 in its ALPN list may refuse the handshake outright (RFC 7301 §3.2).
    let message = `HTTP/2 session with ${origin} failed: ${error.message}`;
    if (error.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
      message = `${origin} did not negotiate HTTP/2 over TLS (ALPN h2); connect without http2 instead`;
    } else if (!secure && !settingsReceived && error.code === 'ERR_HTTP2_ERROR') {
      // An HTTP/1.1 server answers the preface with an HTTP/1.1 error, which is no HTTP/2 frame.
      message = `${origin} did not answer in HTTP/2 (${error.message}): a cleartext server must speak HTTP/2 with prior knowledge (RFC 9113 §3.3)`;
    }
    settle(new HandshakeError(message, undefined, undefined, error));
    retire(entry);
  });
  session.once('goaway', () => retire(entry));
  session.once('close', () => {
    settle(
      new HandshakeError(
        secure
          ? `HTTP/2 session with ${origin} closed before the server's SETTINGS arrived`
          : `${origin} closed the connection without HTTP/2 SETTINGS: a cleartext server must speak HTTP/2 with prior knowledge (RFC 9113 §3.3)`,
      ),
    );
    retire(entry);
  });
  let entries = pool.get(key);
  if (entries === undefined) pool.set(key, (entries = []));
  entries.push(entry);
  return entry;
}

/** A session for `origin` and `tls` with room for one more stream, opened if need be. */
function acquire(origin: string, secure: boolean, tls: TlsOptions | undefined): PooledSession {
  const key = poolKey(origin, tls);
  for (const entry of pool.get(key) ?? []) {
    if (entry.session.closed || entry.session.destroyed) continue;
    // Before the server's SETTINGS arrive the limit is unknown; afterwards, respect it.
    const limit = entry.session.remoteSettings.maxConcurrentStreams ?? Infinity;
    if (entry.users >= limit) continue;
    entry.users++;
    return entry;
  }
  const entry = openSession(key, origin, secure, tls);
  entry.users++;
  return entry;
}

function release(entry: PooledSession): void {
  entry.users--;
  if (entry.users > 0) return;
  retire(entry);
  if (!entry.session.closed && !entry.session.destroyed) entry.session.close();
}

const NO_HEAD = Buffer.alloc(0);

/**
 * Sends the extended CONNECT of RFC 8441 §5 on a pooled session for the URL's origin. The session
 * is released when the stream closes: after a refusal, a cancel, or the WebSocket's end.
 */
export function openHttp2Stream(request: HandshakeRequest, listener: HandshakeListener): HandshakeAttempt {
  const { url } = request;
  const secure = url.protocol === 'wss:';
  // RFC 6454 §4: the origin with its port written out ("https://h:443"), as HTTP/2 names it.
  const origin = originOf(url).replace(/^ws/, 'http');
  const headers = buildExtendedConnectHeaders({
    path: (url.pathname || '/') + url.search,
    authority: url.host,
    secure,
    protocols: request.protocols,
    extensions: request.extensions,
    headers: request.headers,
    origin: request.origin,
  });
  // TLS settings mean nothing to a cleartext session, nor to its pooling.
  const entry = acquire(origin, secure, secure ? request.tls : undefined);
  let stream: ClientHttp2Stream | null = null;
  // True until the listener has heard the outcome or the attempt was cancelled.
  let pending = true;
  let opened = false;
  let released = false;
  const releaseOnce = (): void => {
    if (released) return;
    released = true;
    release(entry);
  };
  /** Tells the listener the outcome, once: later events, and any after a cancel, are dropped. */
  const report = (tell: () => void): void => {
    if (!pending) return;
    pending = false;
    tell();
  };

  entry.ready
    .then(() => {
      if (!pending) return;
      const sent = entry.session.request(headers, { endStream: false });
      stream = sent;
      sent.once('close', releaseOnce);
      // Stays on after the hand-over (doing nothing then), so no error can go unheard meanwhile.
      sent.on('error', (error) =>
        report(() => listener.failed(new HandshakeError(`The WebSocket stream failed: ${error.message}`, undefined, undefined, error))),
      );
      sent.on('close', () =>
        report(() => listener.failed(new HandshakeError(`The server closed the WebSocket stream (HTTP/2 error code ${sent.rstCode})`))),
      );
      sent.once('response', (response: IncomingHttpHeaders) =>
        report(() => {
          const status = Number(response[':status']);
          // RFC 9110 §9.3.6: any 2xx to a CONNECT opens the tunnel.
          if (status >= 200 && status < 300) {
            opened = true;
            listener.opened({ status, httpVersion: '2.0', headers: response, transport: sent, head: NO_HEAD, abortTransport: cancelStream });
          } else {
            listener.refused({ status, httpVersion: '2.0', headers: response, body: sent });
          }
        }),
      );
    })
    // The session failed (a HandshakeError already), or it could take no new stream.
    .catch((error: unknown) => {
      releaseOnce();
      report(() => listener.failed(asHandshakeError(error, `Could not open an HTTP/2 stream to ${origin}`)));
    });

  return {
    cancel(): void {
      // The stream of an opened WebSocket belongs to its connection.
      if (opened) return;
      pending = false;
      if (stream === null) releaseOnce();
      // RFC 8441 §5: an aborted WebSocket stream is reset with CANCEL; the session lives on.
      else if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    },
  };
}

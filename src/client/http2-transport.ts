// The client side of RFC 8441: WebSockets on HTTP/2 streams. WebSockets to the same origin share
// one HTTP/2 session (one TCP/TLS connection): a pool keeps a session per origin while any of its
// WebSockets (or handshakes) is alive, and closes it after the last one.
//
// wss:// URLs use TLS with ALPN h2; ws:// URLs use cleartext HTTP/2 with prior knowledge
// (RFC 9113 §3.3). A server that does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL cannot take
// a WebSocket over HTTP/2 (RFC 8441 §3), and connect() says so.

import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { createConnection, type WebSocketConnection } from '../connection/websocket-connection.js';
import { startHeartbeat } from '../connection/heartbeat.js';
import { acceptExtensions } from '../protocol/extensions.js';
import { HandshakeError, planClient, type ClientOptions, type ClientPlan } from './connect.js';
import { buildExtendedConnectHeaders, checkExtendedConnectResponse } from '../protocol/extended-connect.js';
import { cancelStream } from '../connection/transport.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface PooledSession {
  readonly origin: string;
  readonly tls: TlsOptions | undefined;
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
  for (const [key, entries] of pool) {
    if (origin !== undefined && key !== origin) continue;
    for (const entry of entries) out.push(entry.session);
  }
  return out;
}

function retire(entry: PooledSession): void {
  if (entry.retired) return;
  entry.retired = true;
  const entries = pool.get(entry.origin);
  if (entries === undefined) return;
  const index = entries.indexOf(entry);
  if (index !== -1) entries.splice(index, 1);
  if (entries.length === 0) pool.delete(entry.origin);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function openSession(origin: string, secure: boolean, tls: TlsOptions | undefined): PooledSession {
  const session = http2Connect(origin, {
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
  const entry: PooledSession = { origin, tls, session, ready, users: 0, retired: false };
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
    retire(entry);
    if (entry.users === 0) session.close();
  });
  session.on('error', (error: Error & { code?: string }) => {
    // A TLS server without h2 in its ALPN list may refuse the handshake outright (RFC 7301 §3.2).
    let message = `HTTP/2 session with ${origin} failed: ${describe(error)}`;
    if (error.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
      message = `${origin} did not negotiate HTTP/2 over TLS (ALPN h2); connect without http2 instead`;
    } else if (!secure && !settingsReceived && error.code === 'ERR_HTTP2_ERROR') {
      // An HTTP/1.1 server answers the preface with an HTTP/1.1 error, which is no HTTP/2 frame.
      message = `${origin} did not answer in HTTP/2 (${describe(error)}): a cleartext server must speak HTTP/2 with prior knowledge (RFC 9113 §3.3)`;
    }
    settle(new HandshakeError(message));
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
  let entries = pool.get(origin);
  if (entries === undefined) pool.set(origin, (entries = []));
  entries.push(entry);
  return entry;
}

/** A session for `origin` with room for one more stream, opened if need be. */
function acquire(origin: string, secure: boolean, tls: TlsOptions | undefined): PooledSession {
  for (const entry of pool.get(origin) ?? []) {
    if (entry.retired || entry.tls !== tls || entry.session.closed || entry.session.destroyed) continue;
    // Before the server's SETTINGS arrive the limit is unknown; afterwards, respect it.
    const limit = entry.session.remoteSettings.maxConcurrentStreams ?? Infinity;
    if (entry.users >= limit) continue;
    entry.users++;
    return entry;
  }
  const entry = openSession(origin, secure, tls);
  entry.users++;
  return entry;
}

function release(entry: PooledSession): void {
  entry.users--;
  if (entry.users > 0) return;
  retire(entry);
  if (!entry.session.closed && !entry.session.destroyed) entry.session.close();
}

/**
 * Opens a WebSocket over HTTP/2 (RFC 8441); resolves once the server's 2xx has been verified.
 * Used by connect(url, { http2: true }).
 */
export function connectOverHttp2(input: string | URL, options: ClientOptions = {}, redirects = 0): Promise<WebSocketConnection> {
  return new Promise((resolve, reject) => {
    let plan: ClientPlan;
    try {
      plan = planClient(input, options);
    } catch (error) {
      reject(error);
      return;
    }
    const { url, protocols, limits, extensions, maxRedirects, timeoutMs } = plan;
    const secure = url.protocol === 'wss:';
    const port = url.port === '' ? (secure ? '443' : '80') : url.port;
    const origin = `${secure ? 'https' : 'http'}://${url.hostname}:${port}`;
    let headers;
    try {
      headers = buildExtendedConnectHeaders({
        path: (url.pathname || '/') + url.search,
        authority: url.host,
        secure,
        protocols,
        extensions: extensions.map((extension) => extension.offer()).join(', '),
        ...(options.origin !== undefined ? { origin: options.origin } : {}),
        ...(options.headers !== undefined ? { headers: options.headers } : {}),
      });
    } catch (error) {
      reject(error);
      return;
    }

    const entry = acquire(origin, secure, options.tls);
    let stream: ClientHttp2Stream | null = null;
    let settled = false;
    let released = false;
    const releaseOnce = (): void => {
      if (released) return;
      released = true;
      release(entry);
    };
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      if (settled) return;
      finish();
      if (stream !== null && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      releaseOnce();
      reject(error);
    };
    const timer = setTimeout(() => fail(new HandshakeError(`Opening handshake timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => fail(new HandshakeError('Opening handshake aborted'));
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    entry.ready.then(() => {
      if (settled) return;
      let opened: ClientHttp2Stream;
      try {
        opened = entry.session.request(headers, { endStream: false });
      } catch (error) {
        fail(new HandshakeError(`Could not open an HTTP/2 stream to ${origin}: ${describe(error)}`));
        return;
      }
      stream = opened;
      const onError = (error: Error): void => fail(new HandshakeError(`The WebSocket stream failed: ${describe(error)}`));
      const onClose = (): void => fail(new HandshakeError(`The server closed the WebSocket stream (HTTP/2 error code ${opened.rstCode})`));
      opened.on('error', onError);
      opened.on('close', onClose);
      opened.once('response', (response: IncomingHttpHeaders) => {
        if (settled) return;
        const status = Number(response[':status']);
        if (REDIRECTS.has(status) && typeof response.location === 'string' && redirects < maxRedirects) {
          finish();
          opened.close(constants.NGHTTP2_CANCEL);
          releaseOnce();
          let next: URL;
          try {
            next = new URL(response.location, url.href.replace(/^ws/, 'http'));
          } catch {
            reject(new HandshakeError(`Invalid redirect location: ${response.location}`, status));
            return;
          }
          const nextOptions = { ...options };
          // Credentials do not follow a redirect to another origin.
          if (next.host !== url.host && options.headers !== undefined) {
            nextOptions.headers = Object.fromEntries(Object.entries(options.headers).filter(([name]) => !/^(authorization|cookie)$/i.test(name)));
          }
          connectOverHttp2(next, nextOptions, redirects + 1).then(resolve, reject);
          return;
        }
        if (!(status >= 200 && status < 300)) {
          readBody(opened, (body) => fail(new HandshakeError(`Unexpected server response: ${status}${body ? ` (${body})` : ''}`, status, response)));
          return;
        }
        const check = checkExtendedConnectResponse(response, protocols);
        let negotiated;
        try {
          if (!check.ok) throw new HandshakeError(check.reason, status, response);
          negotiated = acceptExtensions(response['sec-websocket-extensions'], extensions);
        } catch (error) {
          fail(error instanceof HandshakeError ? error : new HandshakeError(describe(error), status, response));
          return;
        }
        finish();
        opened.off('error', onError);
        opened.off('close', onClose);
        const ws = createConnection(opened, {
          role: 'client',
          maxPayload: limits.maxPayload,
          maxFragments: limits.maxFragments,
          closeTimeout: limits.closeTimeout,
          highWaterMark: limits.highWaterMark,
          protocol: check.ok ? check.protocol : '',
          extensions: negotiated.header,
          codec: negotiated.codec,
          abortTransport: cancelStream,
        });
        ws.once('close', releaseOnce);
        if (limits.pingInterval > 0 || limits.idleTimeout > 0) startHeartbeat(ws, limits);
        resolve(ws);
      });
    }, fail);
  });
}

/** Up to 1 KiB of a refusal's body, for the error message. */
function readBody(stream: ClientHttp2Stream, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let called = false;
  const finish = (): void => {
    if (called) return;
    called = true;
    done(Buffer.concat(chunks).toString('utf8', 0, Math.min(size, 1024)).trim());
  };
  stream.on('data', (chunk: Buffer) => {
    if (size < 1024) chunks.push(chunk);
    size += chunk.length;
  });
  stream.once('end', finish);
  stream.once('close', finish);
}

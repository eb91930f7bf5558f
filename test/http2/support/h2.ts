// Helpers for the HTTP/2 tests: servers on loopback port 0 that stop promptly, client sessions,
// WebSockets opened by hand over extended CONNECT (with the independent frame codec of
// test/helpers/frames.ts), and a throwaway TLS certificate made with the openssl CLI.

import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  connect as http2Connect,
  createSecureServer,
  createServer as createHttp2Server,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type SecureServerOptions,
  type ServerOptions,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFrame, encodeClose, encodeFrame, OP, type Frame } from '../../helpers/frames.js';
import { EVENT_WAIT_MS, within } from '../../helpers/events.js';
import { findOnPath, inCI } from '../../peers/support/requirements.js';

export const HOST = '127.0.0.1';

export interface StartedH2<S> {
  server: S;
  port: number;
  /** Server-side sessions still open. */
  sessions: Set<Http2Session>;
  stop(): Promise<void>;
}

async function listen<S extends Http2Server | Http2SecureServer>(server: S): Promise<StartedH2<S>> {
  const sessions = new Set<Http2Session>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.listen(0, HOST);
  await within(once(server, 'listening'), EVENT_WAIT_MS, "the HTTP/2 server's 'listening'");
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    sessions,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      await within(closed, EVENT_WAIT_MS, 'the HTTP/2 server to close');
    },
  };
}

/** A cleartext HTTP/2 server (prior knowledge, RFC 9113 §3.3). */
export function startH2cServer(options: ServerOptions = {}): Promise<StartedH2<Http2Server>> {
  return listen(createHttp2Server(options));
}

/** A TLS HTTP/2 server (ALPN h2) that also takes HTTP/1.1 unless told otherwise. */
export function startH2Server(tls: { key: Buffer; cert: Buffer }, options: SecureServerOptions = {}): Promise<StartedH2<Http2SecureServer>> {
  return listen(createSecureServer({ allowHTTP1: true, ...tls, ...options }));
}

/** A client session that has received the server's SETTINGS. */
export async function openSession(port: number, options: { secure?: boolean; ca?: Buffer } = {}): Promise<ClientHttp2Session> {
  const scheme = options.secure ? 'https' : 'http';
  const session = http2Connect(`${scheme}://${HOST}:${port}`, options.ca ? { ca: options.ca } : {});
  session.on('error', () => {}); // tests look at outcomes, not at session errors
  await within(once(session, 'remoteSettings'), EVENT_WAIT_MS, "the server's SETTINGS");
  return session;
}

/** RFC 8441 §5: the headers of a WebSocket extended CONNECT, with overrides ('' removes one). */
export function webSocketConnectHeaders(path: string, extra: Record<string, string> = {}): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': path,
    ':authority': `${HOST}`,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(extra)) {
    if (value === '') delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

/** A WebSocket driven by hand over one HTTP/2 stream: masked frames out, frames parsed in. */
export class RawStreamSocket {
  buffer = Buffer.alloc(0);
  ended = false;
  closed = false;
  private waiters = new Set<() => void>();

  constructor(
    readonly stream: ClientHttp2Stream,
    readonly response: IncomingHttpHeaders,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('close', () => {
      this.closed = true;
      this.wake();
    });
    stream.on('error', () => {});
  }

  /** Sends the extended CONNECT and waits for the response headers (whatever the status). */
  static async open(session: ClientHttp2Session, path: string, extra: Record<string, string> = {}): Promise<RawStreamSocket> {
    const stream = session.request(webSocketConnectHeaders(path, extra), { endStream: false });
    stream.on('error', () => {});
    const [response] = (await within(once(stream, 'response'), EVENT_WAIT_MS, 'the CONNECT response')) as [IncomingHttpHeaders];
    return new RawStreamSocket(stream, response);
  }

  get status(): number {
    return Number(this.response[':status']);
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private waitFor<T>(take: () => T | undefined, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        let value: T | undefined;
        try {
          value = take();
        } catch (error) {
          done();
          reject(error);
          return;
        }
        if (value !== undefined) {
          done();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  sendText(text: string): void {
    this.stream.write(encodeFrame(OP.TEXT, text));
  }

  sendClose(code = 1000, reason = ''): void {
    this.stream.write(encodeClose(code, reason));
  }

  readFrame(ms = EVENT_WAIT_MS): Promise<Frame> {
    return this.waitFor(
      () => {
        const decoded = decodeFrame(this.buffer);
        if (decoded === null) {
          if (this.ended || this.closed) throw new Error('The stream ended before a complete frame');
          return undefined;
        }
        this.buffer = this.buffer.subarray(decoded.size);
        return decoded.frame;
      },
      ms,
      'a WebSocket frame',
    );
  }

  /** The body of a refusal, as text. */
  readBody(ms = EVENT_WAIT_MS): Promise<string> {
    return this.waitFor(() => (this.ended || this.closed ? this.buffer.toString('utf8') : undefined), ms, 'the response body');
  }

  waitForEnd(ms = EVENT_WAIT_MS): Promise<void> {
    return this.waitFor(() => (this.ended || this.closed ? true : undefined), ms, 'END_STREAM').then(() => undefined);
  }

  waitForClose(ms = EVENT_WAIT_MS): Promise<void> {
    return this.waitFor(() => (this.closed ? true : undefined), ms, 'the stream to close').then(() => undefined);
  }
}

/**
 * A self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI in a temporary
 * directory; or, outside CI, the reason it could not be made (the suites that need it skip).
 * Under CI it throws instead: a CI run must not pass without its TLS tests.
 */
export function makeTestCertificate(): { key: Buffer; cert: Buffer } | { skip: string } {
  const made = tryMakeTestCertificate();
  if ('skip' in made && inCI()) throw new Error(`CI: no test certificate: ${made.skip}`);
  return made;
}

function tryMakeTestCertificate(): { key: Buffer; cert: Buffer } | { skip: string } {
  const openssl = findOnPath('openssl')[0];
  if (openssl === undefined) return { skip: 'openssl is not on PATH (apt-get install openssl)' };
  const dir = mkdtempSync(join(tmpdir(), 'upshift-cert-'));
  try {
    const run = spawnSync(
      openssl,
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    if (run.status !== 0) return { skip: `openssl could not make a test certificate: ${run.stderr.trim()}` };
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

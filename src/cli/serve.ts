// `upshift serve [dir]`: static files plus WebSocket endpoints chosen by flags, over HTTP/1.1,
// TLS, HTTP/2 (RFC 8441) and h2c, with an optional live dashboard and Prometheus metrics.
//
// Transports. One port serves them all:
//   plain                 node:http
//   --tls / --cert        node:https
//   --tls --http2         node:http2 secure server with allowHTTP1 (ALPN picks h2 or http/1.1)
//   --http2 (cleartext)   the first bytes decide: the HTTP/2 connection preface (RFC 9113 §3.4,
//                         "prior knowledge") goes to a node:http2 server, anything else to node:http
//   --h2c                 HTTP/1.1 connections may switch with Upgrade: h2c (RFC 7540 §3.2)
// Each endpoint is a WebSocketServer on each of these servers; the endpoint sees one stream of
// connections whatever the transport.

import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  createSecureServer,
  createServer as createHttp2Server,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Session,
} from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { enableH2c, WebSocketServer, type PubSubAdapter, type WebSocketServerOptions } from '../index.js';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { Dashboard, DASHBOARD_LIVE_PATH, DASHBOARD_PREFIX } from './dashboard.js';
import { broadcastEndpoint, echoEndpoint, type Endpoint, type EndpointContext, type EndpointSpec } from './endpoints.js';
import { execEndpoint, type ExecOptions } from './exec.js';
import { CliMetrics } from './metrics.js';
import { StaticFiles, type AnyRequest, type AnyResponse } from './static.js';
import { loadCertificate, selfSignedCertificate, type Certificate } from './tls.js';
import { adapterFor, TopicsService } from './topics.js';
import { wampEndpoint } from './wamp.js';
import { VERSION } from './version.js';

/**
 * The endpoint flags taking a PATH, in the order they are mounted. A new kind of endpoint (the
 * WAMP router, `--wamp PATH`) is one entry here and one case in createEndpoint(); an endpoint
 * that speaks a subprotocol lists it in Endpoint.protocols.
 */
export const SERVE_ENDPOINT_FLAGS = [
  { name: 'echo', help: 'Echo endpoint: every message comes back unchanged' },
  { name: 'broadcast', help: 'Broadcast room: each message goes to every other connection on PATH' },
  { name: 'topics', help: 'Pub/sub endpoint (sub/unsub/pub commands, see docs/cli.md)' },
  { name: 'wamp', help: 'WAMP v2 router (wamp.2.json, wamp.2.msgpack; realms made on demand, anonymous)' },
] as const;

export const SERVE_SPEC: CommandSpec = {
  name: 'serve',
  usage: 'upshift serve [dir] [options] [--exec PATH -- program [args…]]',
  summary: 'Serve static files from dir (default: the current directory) and WebSocket endpoints.',
  positionals: [{ name: 'dir', optional: true }],
  rest: true,
  flags: [
    { name: 'port', short: 'p', type: 'integer', value: 'PORT', help: 'Port to listen on (0: any free port)', default: 8080 },
    { name: 'host', type: 'string', value: 'HOST', help: 'Address to listen on (0.0.0.0 or :: for every interface)', default: '127.0.0.1' },
    ...SERVE_ENDPOINT_FLAGS.map((f) => ({ name: f.name, type: 'list' as const, value: 'PATH', help: f.help })),
    { name: 'exec', type: 'string', value: 'PATH', help: 'Run the program after -- once per connection on PATH: stdout lines ↔ messages' },
    { name: 'exec-binary', type: 'boolean', help: 'With --exec: raw bytes both ways instead of lines' },
    { name: 'kill-timeout', type: 'seconds', value: 'SECONDS', help: 'With --exec: grace between SIGTERM and SIGKILL', default: 2 },
    { name: 'subprotocol', short: 's', type: 'list', value: 'NAME', help: 'Subprotocol the endpoints accept, in order of preference' },
    { name: 'origin', type: 'list', value: 'ORIGIN', help: 'Only accept handshakes from this Origin (others: 403)' },
    { name: 'tls', type: 'boolean', help: 'HTTPS/WSS with a throwaway self-signed certificate (needs openssl)' },
    { name: 'cert', type: 'string', value: 'FILE', help: 'TLS certificate (PEM), with --key' },
    { name: 'key', type: 'string', value: 'FILE', help: 'TLS private key (PEM), with --cert' },
    { name: 'http2', type: 'boolean', help: 'Also speak HTTP/2, with WebSockets over it (RFC 8441)' },
    { name: 'h2c', type: 'boolean', help: 'Let cleartext HTTP/1.1 connections switch to HTTP/2 (Upgrade: h2c)' },
    { name: 'deflate', type: 'boolean', help: 'Negotiate permessage-deflate (RFC 7692)' },
    { name: 'max-payload', type: 'size', value: 'SIZE', help: 'Largest message accepted (e.g. 64k, 16m)' },
    { name: 'max-connections', type: 'integer', value: 'N', help: 'Most WebSocket connections open at once (more: 503)' },
    { name: 'ping-interval', type: 'seconds', value: 'SECONDS', help: 'Ping connections quiet this long (0: never)' },
    { name: 'idle-timeout', type: 'seconds', value: 'SECONDS', help: 'Close connections silent this long (0: never)' },
    { name: 'pubsub', type: 'string', value: 'URL', help: 'Share --topics through a broker: redis://HOST:PORT or nats://HOST:PORT' },
    { name: 'dashboard', type: 'boolean', help: `Live dashboard at ${DASHBOARD_PREFIX}/` },
    { name: 'metrics', type: 'boolean', help: `Prometheus text at ${DASHBOARD_PREFIX}/metrics` },
    { name: 'no-static', type: 'boolean', help: 'Serve no files (404 for every plain request)' },
    { name: 'no-listing', type: 'boolean', help: 'No directory listings' },
    { name: 'dotfiles', type: 'boolean', help: 'Serve names starting with a dot (hidden by default)' },
    { name: 'cache', type: 'seconds', value: 'SECONDS', help: 'Cache-Control max-age for files (0: no-cache, revalidate)', default: 0 },
    { name: 'shutdown-timeout', type: 'seconds', value: 'SECONDS', help: 'On SIGINT/SIGTERM, how long to wait for closing handshakes', default: 5 },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'No log of connections on stderr' },
  ],
  details: `Endpoints:
  upshift serve --echo /echo                   # ws://127.0.0.1:8080/echo
  upshift serve ./site --broadcast /room --topics /topics --dashboard
  upshift serve --exec /count -- sh -c 'for i in 1 2 3; do echo $i; sleep 1; done'
  upshift serve --tls --http2 --echo /echo     # wss:// over HTTP/1.1 and HTTP/2

The --exec program gets the request in CGI variables: REMOTE_ADDR, REMOTE_PORT, REQUEST_URI,
QUERY_STRING, REQUEST_METHOD, SERVER_PROTOCOL, HTTPS, HTTP_<HEADER>… Its exit closes the
WebSocket (1000 on status 0, else 1011); the WebSocket closing ends its process group.

SIGINT/SIGTERM: stop accepting, close every WebSocket with 1001, wait for the closing
handshakes (--shutdown-timeout), exit 0. A second signal exits at once.`,
};

interface ServeFlags {
  port: number;
  host: string;
  echo?: string[];
  broadcast?: string[];
  topics?: string[];
  wamp?: string[];
  exec?: string;
  execBinary?: boolean;
  killTimeout: number;
  subprotocol?: string[];
  origin?: string[];
  tls?: boolean;
  cert?: string;
  key?: string;
  http2?: boolean;
  h2c?: boolean;
  deflate?: boolean;
  maxPayload?: number;
  maxConnections?: number;
  pingInterval?: number;
  idleTimeout?: number;
  pubsub?: string;
  dashboard?: boolean;
  metrics?: boolean;
  noStatic?: boolean;
  noListing?: boolean;
  dotfiles?: boolean;
  cache: number;
  shutdownTimeout: number;
  quiet?: boolean;
}

/** The endpoints the flags ask for, checked: absolute paths, not reserved, not twice. */
export function endpointSpecs(flags: ServeFlags, rest: string[]): EndpointSpec[] {
  const specs: EndpointSpec[] = [];
  for (const { name } of SERVE_ENDPOINT_FLAGS) for (const path of flags[name] ?? []) specs.push({ kind: name, path });
  if (flags.exec !== undefined) {
    if (rest.length === 0) throw new UsageError('--exec needs the program after "--": --exec /path -- program args…', 'serve');
    specs.push({ kind: 'exec', path: flags.exec });
  } else if (rest.length > 0) {
    throw new UsageError(`a program after "--" needs --exec PATH (got: ${rest.join(' ')})`, 'serve');
  }
  const seen = new Set<string>();
  for (const spec of specs) {
    if (!spec.path.startsWith('/') || spec.path.includes('?') || spec.path.includes('#')) {
      throw new UsageError(`--${spec.kind} needs an absolute path like /ws, got "${spec.path}"`, 'serve');
    }
    if (spec.path === DASHBOARD_PREFIX || spec.path.startsWith(DASHBOARD_PREFIX + '/')) {
      throw new UsageError(`${DASHBOARD_PREFIX}/ is reserved for the dashboard (--${spec.kind} ${spec.path})`, 'serve');
    }
    if (seen.has(spec.path)) throw new UsageError(`two endpoints on ${spec.path}`, 'serve');
    seen.add(spec.path);
  }
  return specs;
}

interface EndpointDependencies {
  context: EndpointContext;
  /** The pub/sub service shared by every --topics endpoint (null without one). */
  topics: TopicsService | null;
  /** The broker adapter of --pubsub, for the WAMP router's cluster (null: this process alone). */
  adapter: PubSubAdapter | null;
  exec: ExecOptions | null;
}

/** The endpoint for one flag. A new kind (the WAMP router) is one more case here. */
function createEndpoint(spec: EndpointSpec, { context, topics, adapter, exec }: EndpointDependencies): Endpoint {
  switch (spec.kind) {
    case 'echo':
      return echoEndpoint(spec.path);
    case 'broadcast':
      return broadcastEndpoint(spec.path);
    case 'topics':
      return topics!.endpoint(spec.path);
    case 'exec':
      return execEndpoint(spec.path, exec!, context);
    case 'wamp':
      return wampEndpoint(spec.path, adapter);
    default:
      throw new Error(`unknown endpoint kind ${spec.kind}`);
  }
}

type AnyServer = HttpServer | Http2Server | Http2SecureServer;

/** The HTTP servers behind one listening port (see the header comment). */
interface Transports {
  /** Servers that take requests and upgrades (every endpoint is mounted on each). */
  servers: AnyServer[];
  /** The socket that listens. */
  listener: NetServer;
  http2Sessions: Set<ServerHttp2Session>;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** A listener that hands each connection to `h1` or, if it starts with the HTTP/2 preface, to `h2`. */
function sniffingListener(h1: HttpServer, h2: Http2Server, headersTimeout: number): NetServer {
  return createNetServer((socket: Socket) => {
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => void socket.destroy(), headersTimeout);
    const onError = (): void => void socket.destroy();
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const n = Math.min(received.length, PREFACE.length);
      const http2 = received.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (http2 && received.length < PREFACE.length) return; // could still be the preface
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.pause();
      socket.unshift(received);
      if (http2) {
        h2.emit('connection', socket);
      } else {
        h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('error', onError);
    socket.on('data', onData);
  });
}

function createTransports(flags: ServeFlags, certificate: Certificate | null, onRequest: (req: AnyRequest, res: AnyResponse) => void): Transports {
  // Both kinds of server call the same handler (Node's HTTP/2 compatibility API).
  const handler = onRequest as (req: any, res: any) => void;
  const http2Sessions = new Set<ServerHttp2Session>();
  const trackSessions = (server: Http2Server | Http2SecureServer): void => {
    server.on('session', (session: ServerHttp2Session) => {
      http2Sessions.add(session);
      session.once('close', () => http2Sessions.delete(session));
    });
  };
  if (certificate !== null) {
    if (flags.http2) {
      const server = createSecureServer({ cert: certificate.cert, key: certificate.key, allowHTTP1: true }, handler);
      trackSessions(server);
      return { servers: [server], listener: server as unknown as NetServer, http2Sessions };
    }
    const server = createHttpsServer({ cert: certificate.cert, key: certificate.key }, handler) as unknown as HttpServer;
    return { servers: [server], listener: server, http2Sessions };
  }
  const h1 = createHttpServer(handler);
  if (!flags.http2 && !flags.h2c) return { servers: [h1], listener: h1, http2Sessions };
  const h2 = createHttp2Server(handler);
  trackSessions(h2);
  if (flags.h2c) enableH2c(h1, { http2Server: h2 });
  const listener = flags.http2 ? sniffingListener(h1, h2, h1.headersTimeout || 60_000) : h1;
  return { servers: [h1, h2], listener, http2Sessions };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export interface RunningServer {
  port: number;
  /** Resolves with the exit status once a shutdown has finished. */
  done: Promise<number>;
  shutdown(reason: string): Promise<number>;
}

export async function serve(args: ParsedArgs): Promise<RunningServer> {
  const flags = args.flags as unknown as ServeFlags;
  const specs = endpointSpecs(flags, args.rest);
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new UsageError('--cert and --key go together', 'serve');
  if (flags.tls && flags.cert !== undefined) throw new UsageError('--tls makes its own certificate: give either --tls or --cert/--key', 'serve');
  const secure = flags.tls === true || flags.cert !== undefined;
  if (flags.h2c && secure) throw new UsageError('--h2c is for cleartext connections (over TLS, HTTP/2 is chosen by ALPN: use --http2)', 'serve');
  if (flags.pubsub !== undefined && (flags.topics ?? []).length === 0) throw new UsageError('--pubsub needs a --topics endpoint', 'serve');
  if (flags.execBinary && flags.exec === undefined) throw new UsageError('--exec-binary needs --exec', 'serve');
  const dir = resolve(args.positionals[0] ?? '.');
  if (!flags.noStatic && (!existsSync(dir) || !statSync(dir).isDirectory())) throw new UsageError(`not a directory: ${dir}`, 'serve');

  const log = flags.quiet ? () => {} : (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  const metrics = new CliMetrics();
  const context: EndpointContext = { metrics, log };

  // The broker adapter first: it may fail (a client library missing), before anything is made.
  const needsBroker = (flags.topics ?? []).length > 0 || ((flags.wamp ?? []).length > 0 && flags.pubsub !== undefined);
  const adapter = needsBroker ? await adapterFor(flags.pubsub) : null;
  const topics = (flags.topics ?? []).length > 0 ? new TopicsService(adapter!, context) : null;
  const certificate = flags.cert !== undefined ? loadCertificate(flags.cert, flags.key!) : flags.tls ? selfSignedCertificate() : null;
  const files = flags.noStatic ? null : new StaticFiles(dir, { maxAge: flags.cache, dotfiles: flags.dotfiles === true, listings: !flags.noListing });
  const dashboard = flags.dashboard || flags.metrics ? new Dashboard(metrics, { page: flags.dashboard === true, metrics: flags.metrics === true, interval: 1000 }) : null;

  const onRequest = (req: AnyRequest, res: AnyResponse): void => {
    if (dashboard?.handleRequest(req, res)) return;
    const path = (req.url ?? '/').split('?')[0]!;
    const reserved = path === DASHBOARD_PREFIX || path.startsWith(DASHBOARD_PREFIX + '/');
    if (files !== null && !reserved) {
      void files.handle(req, res);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Not Found\n');
  };
  const transports = createTransports(flags, certificate, onRequest);

  // Endpoints: one object per path, mounted on every server.
  const execOptions: ExecOptions | null =
    flags.exec === undefined
      ? null
      : { program: args.rest[0]!, args: args.rest.slice(1), binary: flags.execBinary === true, killTimeout: flags.killTimeout * 1000, tls: secure, software: `upshift/${VERSION}` };
  const endpoints = specs.map((spec) => createEndpoint(spec, { context, topics, adapter: flags.pubsub !== undefined ? adapter : null, exec: execOptions }));

  let open = 0;
  const maxConnections = flags.maxConnections ?? Infinity;
  const limits: Partial<WebSocketServerOptions> = {};
  if (flags.maxPayload !== undefined) limits.maxPayload = flags.maxPayload;
  if (flags.pingInterval !== undefined) limits.pingInterval = flags.pingInterval * 1000;
  if (flags.idleTimeout !== undefined) limits.idleTimeout = flags.idleTimeout * 1000;
  const servers: WebSocketServer[] = [];
  for (const server of transports.servers) {
    for (const endpoint of endpoints) {
      const wss = new WebSocketServer({
        server,
        path: endpoint.path,
        ...limits,
        perMessageDeflate: flags.deflate === true,
        ...((endpoint.protocols ?? flags.subprotocol) !== undefined ? { protocols: endpoint.protocols ?? flags.subprotocol } : {}),
        ...(flags.origin !== undefined ? { origins: flags.origin } : {}),
        // One limit over every endpoint and transport: a handshake's decision and its
        // 'connection' happen in the same turn (no verify is async here), so `open` is exact.
        verify: () => (open >= maxConnections ? { accept: false, status: 503, body: 'Too many connections', headers: { 'Retry-After': '5' } } : true),
      });
      // The dashboard's figures are the library's own counters (wss.stats()).
      metrics.watch(endpoint.kind, endpoint.path, wss);
      wss.on('error', (error) => log(`${endpoint.path}: ${error.message}`));
      wss.on('connection', (ws, req) => {
        open++;
        const from = `${req.socket?.remoteAddress ?? '?'}`;
        const started = Date.now();
        log(`open ${endpoint.path} ${from} HTTP/${req.httpVersion}${ws.protocol ? ` protocol ${ws.protocol}` : ''}${ws.extensions ? ` ${ws.extensions}` : ''}`);
        ws.once('close', (code, reason) => {
          open--;
          log(`close ${endpoint.path} ${from} ${code}${reason ? ` ${reason}` : ''} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        });
        ws.on('error', () => {}); // protocol errors close the connection; its close is logged
        endpoint.accept(ws, req as IncomingMessage, wss);
      });
      servers.push(wss);
    }
    if (dashboard !== null && flags.dashboard) {
      const live = new WebSocketServer({ server, path: DASHBOARD_LIVE_PATH });
      live.on('connection', (ws) => ws.on('error', () => {}));
      dashboard.attach(live);
      servers.push(live);
    }
  }

  const listener = transports.listener;
  listener.listen(flags.port, flags.host);
  try {
    await Promise.race([
      once(listener, 'listening'),
      once(listener, 'error').then(([error]) => {
        throw error;
      }),
    ]);
  } catch (error) {
    // A port in use: nothing was served; leave no temporary certificate behind.
    certificate?.dispose();
    await topics?.close();
    throw error;
  }
  const port = (listener.address() as AddressInfo).port;
  const scheme = secure ? 'https' : 'http';
  const base = `${scheme}://${formatHost(flags.host)}:${port}`;
  const wsBase = base.replace(/^http/, 'ws');
  const lines = [`listening on ${base}/`];
  if (files !== null) lines.push(`  files      ${files.root}`);
  for (const endpoint of endpoints) lines.push(`  ${endpoint.kind.padEnd(10)} ${wsBase}${endpoint.path}`);
  if (flags.dashboard) lines.push(`  dashboard  ${base}${DASHBOARD_PREFIX}/`);
  if (flags.metrics) lines.push(`  metrics    ${base}${DASHBOARD_PREFIX}/metrics`);
  const transportsText = [secure ? 'TLS' : null, flags.http2 ? 'HTTP/2' : null, flags.h2c ? 'h2c' : null, flags.deflate ? 'permessage-deflate' : null].filter(Boolean);
  if (transportsText.length > 0) lines.push(`  with       ${transportsText.join(', ')}`);
  if (certificate !== null && flags.tls) lines.push(`  certificate ${certificate.certFile} (self-signed, sha256 ${certificate.fingerprint})`);
  lines.push('Ctrl-C (or SIGTERM) stops the server gracefully.');
  process.stdout.write(lines.join('\n') + '\n');

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping: Promise<number> | null = null;
  const shutdown = (reason: string): Promise<number> => {
    if (stopping !== null) return stopping;
    log(`${reason}: closing ${open} connection(s)`);
    stopping = (async () => {
      listener.close();
      dashboard?.close();
      const timeout = flags.shutdownTimeout * 1000;
      // RFC 6455 §7.4.1: 1001, the server is going away.
      await Promise.all([...servers.map((wss) => wss.close({ code: 1001, reason: 'server shutting down', timeout })), ...endpoints.map((e) => e.close())]);
      await topics?.close();
      for (const session of transports.http2Sessions) session.close();
      for (const server of transports.servers) {
        const h1 = server as HttpServer;
        if (typeof h1.closeAllConnections === 'function') h1.closeAllConnections();
        server.close();
      }
      for (const session of transports.http2Sessions) session.destroy();
      certificate?.dispose();
      resolveDone(0);
      return 0;
    })();
    return stopping;
  };
  return { port, done, shutdown };
}

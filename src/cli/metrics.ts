// The counters behind `serve --dashboard` and `--metrics`, kept by the CLI itself from what its own
// endpoints see: 'connection', 'message' and 'close' on each connection, the size of each message
// an endpoint sends, the handshake answers written on the wire. Stopgap until the library has a
// counters API of its own (wss.stats()) and diagnostics_channel events: the dashboard depends only
// on StatsSource, so switching is a matter of writing another source.
//
// Bytes are payload bytes (message bodies before framing and compression), not wire bytes.

import type { Server as HttpServer } from 'node:http';
import type { Http2SecureServer, Http2Server, ServerHttp2Session, ServerHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { WebSocketConnection } from '../index.js';

export interface EndpointStats {
  readonly kind: string;
  readonly path: string;
  /** Connections open now. */
  readonly open: number;
  /** Connections accepted since start. */
  readonly accepted: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface TopicStats {
  readonly topic: string;
  /** Messages published on this topic. */
  readonly published: number;
  /** Copies delivered to subscribers for publishes on this topic. */
  readonly delivered: number;
  /** Connections subscribed to exactly this name (a topic or a filter). */
  readonly subscribers: number;
}

export interface Refusal {
  /** ms since the epoch. */
  readonly time: number;
  readonly status: number;
  readonly reason: string;
  readonly path: string;
  readonly remote: string;
}

export interface StatsSnapshot {
  /** ms since the epoch, and since the server started. */
  readonly time: number;
  readonly uptime: number;
  readonly connections: { readonly open: number; readonly accepted: number };
  readonly handshakes: { readonly accepted: number; readonly refused: number; readonly refusedByStatus: Readonly<Record<string, number>> };
  readonly messages: { readonly in: number; readonly out: number };
  readonly bytes: { readonly in: number; readonly out: number };
  readonly endpoints: readonly EndpointStats[];
  readonly topics: readonly TopicStats[];
  /** The most recent refusals, newest first. */
  readonly refusals: readonly Refusal[];
}

/** What the dashboard and the Prometheus endpoint read. */
export interface StatsSource {
  snapshot(): StatsSnapshot;
}

const MAX_REFUSALS = 50;
/** Topics tracked one by one; publishes on more topics are counted under OTHER_TOPICS. */
const MAX_TOPICS = 500;
export const OTHER_TOPICS = '(other topics)';

interface MutableEndpoint {
  kind: string;
  path: string;
  open: number;
  accepted: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

interface MutableTopic {
  topic: string;
  published: number;
  delivered: number;
  subscribers: number;
}

/** One endpoint's counters, fed by the endpoint. */
export class EndpointMeter {
  readonly #counters: MutableEndpoint;
  readonly #metrics: CliMetrics;

  constructor(metrics: CliMetrics, counters: MutableEndpoint) {
    this.#metrics = metrics;
    this.#counters = counters;
  }

  /** Counts a new connection, each message it receives, and its close. */
  track(ws: WebSocketConnection<any>): void {
    const counters = this.#counters;
    counters.open++;
    counters.accepted++;
    this.#metrics.accepted++;
    ws.on('message', (data) => {
      counters.messagesIn++;
      counters.bytesIn += data.length;
    });
    ws.once('close', () => counters.open--);
  }

  /** Counts `count` messages of `bytes` payload bytes each, sent by this endpoint. */
  sent(bytes: number, count = 1): void {
    this.#counters.messagesOut += count;
    this.#counters.bytesOut += bytes * count;
  }
}

export class CliMetrics implements StatsSource {
  readonly #started = Date.now();
  readonly #endpoints: MutableEndpoint[] = [];
  readonly #topics = new Map<string, MutableTopic>();
  readonly #refusals: Refusal[] = [];
  /** Handshakes answered 101 (counted by EndpointMeter.track). */
  accepted = 0;
  #refused = 0;
  readonly #refusedByStatus: Record<string, number> = {};

  endpoint(kind: string, path: string): EndpointMeter {
    let counters = this.#endpoints.find((e) => e.kind === kind && e.path === path);
    if (counters === undefined) {
      counters = { kind, path, open: 0, accepted: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
      this.#endpoints.push(counters);
    }
    return new EndpointMeter(this, counters);
  }

  refused(refusal: Refusal): void {
    this.#refused++;
    this.#refusedByStatus[refusal.status] = (this.#refusedByStatus[refusal.status] ?? 0) + 1;
    this.#refusals.unshift(refusal);
    if (this.#refusals.length > MAX_REFUSALS) this.#refusals.length = MAX_REFUSALS;
  }

  #topic(name: string): MutableTopic {
    let topic = this.#topics.get(name);
    if (topic === undefined) {
      if (this.#topics.size >= MAX_TOPICS) return this.#topic(OTHER_TOPICS);
      topic = { topic: name, published: 0, delivered: 0, subscribers: 0 };
      this.#topics.set(name, topic);
    }
    return topic;
  }

  /** Counts a publish on `topic` (unless `isNew` is false) and `delivered` copies of it. */
  published(topic: string, delivered: number, isNew = true): void {
    const counters = this.#topic(topic);
    if (isNew) counters.published++;
    counters.delivered += delivered;
  }

  subscribed(filter: string, change: 1 | -1): void {
    this.#topic(filter).subscribers += change;
  }

  snapshot(): StatsSnapshot {
    let open = 0;
    let messagesIn = 0;
    let messagesOut = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    for (const e of this.#endpoints) {
      open += e.open;
      messagesIn += e.messagesIn;
      messagesOut += e.messagesOut;
      bytesIn += e.bytesIn;
      bytesOut += e.bytesOut;
    }
    const now = Date.now();
    return {
      time: now,
      uptime: now - this.#started,
      connections: { open, accepted: this.accepted },
      handshakes: { accepted: this.accepted, refused: this.#refused, refusedByStatus: { ...this.#refusedByStatus } },
      messages: { in: messagesIn, out: messagesOut },
      bytes: { in: bytesIn, out: bytesOut },
      endpoints: this.#endpoints.map((e) => ({ ...e })),
      topics: [...this.#topics.values()].map((t) => ({ ...t })),
      refusals: this.#refusals.slice(0, 20),
    };
  }
}

// ------------------------------------------------------------------ handshake refusals

/**
 * Records the WebSocket handshakes `server` refuses, whoever refuses them (the library's own
 * checks, limits, or the CLI's verify hook), by reading the status line of the first answer
 * written to each upgrade socket (HTTP/1.1) or the :status of each extended CONNECT response
 * (RFC 8441 §4). Only upgrades to WebSocket paths are watched.
 */
export function watchRefusals(server: HttpServer | Http2Server | Http2SecureServer, isWebSocketPath: (path: string) => boolean, metrics: CliMetrics): void {
  (server as HttpServer).prependListener('upgrade', (req, socket: Duplex) => {
    if (!/\bwebsocket\b/i.test(String(req.headers.upgrade ?? ''))) return;
    const path = (req.url ?? '/').split('?')[0]!;
    if (!isWebSocketPath(path)) return;
    const remote = req.socket.remoteAddress ?? '';
    // The answer is written with write() (101) or end() (a refusal): look at whichever comes first.
    const write = socket.write;
    const end = socket.end;
    const inspect = (chunk: unknown): void => {
      socket.write = write;
      socket.end = end;
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('latin1', 0, 2048) : '';
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (status === null || status[1] === '101') return;
      const body = text.indexOf('\r\n\r\n');
      const reason = body === -1 ? '' : text.slice(body + 4).trim();
      metrics.refused({ time: Date.now(), status: Number(status[1]), reason: reason || 'refused', path, remote });
    };
    socket.write = function (this: Duplex, chunk: unknown, ...args: unknown[]): boolean {
      inspect(chunk);
      return (write as (...a: unknown[]) => boolean).apply(this, [chunk, ...args]);
    } as typeof socket.write;
    socket.end = function (this: Duplex, chunk?: unknown, ...args: unknown[]): Duplex {
      inspect(chunk);
      return (end as (...a: unknown[]) => Duplex).apply(this, [chunk, ...args]);
    } as typeof socket.end;
  });
  if (typeof (server as Http2Server).updateSettings !== 'function') return;
  (server as Http2Server).on('session', (session: ServerHttp2Session) => {
    session.prependListener('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      if (headers[':method'] !== 'CONNECT' || String(headers[':protocol']).toLowerCase() !== 'websocket') return;
      const path = String(headers[':path'] ?? '/').split('?')[0]!;
      if (!isWebSocketPath(path)) return;
      const remote = session.socket?.remoteAddress ?? '';
      const respond = stream.respond;
      stream.respond = function (this: ServerHttp2Stream, out, options) {
        stream.respond = respond;
        const status = Number(out?.[':status'] ?? 200);
        if (status >= 300) {
          // The reason is the body that follows; take it from the first write.
          const end = stream.end;
          let reported = false;
          const report = (reason: string): void => {
            if (reported) return;
            reported = true;
            metrics.refused({ time: Date.now(), status, reason: reason || 'refused', path, remote });
          };
          stream.end = function (this: ServerHttp2Stream, chunk?: unknown, ...rest: unknown[]) {
            stream.end = end;
            report(Buffer.isBuffer(chunk) ? chunk.toString('utf8', 0, 512) : typeof chunk === 'string' ? chunk : '');
            return (end as (...a: unknown[]) => ServerHttp2Stream).apply(this, [chunk, ...rest]);
          } as typeof stream.end;
          if (options?.endStream === true) report('');
        }
        return respond.call(this, out, options);
      };
    });
  });
}

// The figures behind `serve --dashboard` and `--metrics`. Connections, handshakes (refusals
// included), messages and bytes come from the library itself: each endpoint is one
// WebSocketServer per HTTP server (HTTP/1.1, HTTP/2…), and its figures are the sum of their
// wss.stats(). Topic figures are the CLI's own: the `--topics` endpoints are its pub/sub service.
//
// Bytes are payload bytes (message bodies before framing and compression), not wire bytes.

import type { HandshakeRefusalRecord, RefusalStage, WebSocketServer, WebSocketServerStats, WebSocketTransport } from '../index.js';

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
  /** Which step refused it (see RefusalStage). */
  readonly stage: RefusalStage;
  readonly transport: WebSocketTransport;
}

export interface StatsSnapshot {
  /** ms since the epoch, and since the server started. */
  readonly time: number;
  readonly uptime: number;
  readonly connections: { readonly open: number; readonly accepted: number; readonly byTransport: Readonly<Record<WebSocketTransport, number>> };
  readonly handshakes: {
    readonly accepted: number;
    readonly refused: number;
    readonly refusedByStatus: Readonly<Record<string, number>>;
    readonly refusedByStage: Readonly<Record<RefusalStage, number>>;
  };
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

/** Refusals the dashboard lists. */
const MAX_REFUSALS = 20;
/** Topics tracked one by one; publishes on more topics are counted under OTHER_TOPICS. */
const MAX_TOPICS = 500;
export const OTHER_TOPICS = '(other topics)';

interface MeteredEndpoint {
  readonly kind: string;
  readonly path: string;
  /** The endpoint's WebSocketServer on each HTTP server. */
  readonly servers: WebSocketServer<any>[];
}

interface MutableTopic {
  topic: string;
  published: number;
  delivered: number;
  subscribers: number;
}

export class CliMetrics implements StatsSource {
  readonly #started = Date.now();
  readonly #endpoints: MeteredEndpoint[] = [];
  readonly #topics = new Map<string, MutableTopic>();

  /** Counts `wss` (one transport's server of the endpoint `kind` at `path`) in the endpoint's figures. */
  watch(kind: string, path: string, wss: WebSocketServer<any>): void {
    let endpoint = this.#endpoints.find((e) => e.kind === kind && e.path === path);
    if (endpoint === undefined) {
      endpoint = { kind, path, servers: [] };
      this.#endpoints.push(endpoint);
    }
    endpoint.servers.push(wss);
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
    const byTransport: Record<WebSocketTransport, number> = { 'http/1.1': 0, h2: 0, h2c: 0 };
    const refusedByStage: Record<RefusalStage, number> = { request: 0, policy: 0, verify: 0, response: 0, listener: 0 };
    const refusedByStatus: Record<string, number> = {};
    const refusals: HandshakeRefusalRecord[] = [];
    const total = { open: 0, accepted: 0, refused: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
    const endpoints = this.#endpoints.map(({ kind, path, servers }): EndpointStats => {
      const e = { kind, path, open: 0, accepted: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
      for (const wss of servers) {
        const s: WebSocketServerStats = wss.stats();
        e.open += s.connections.open;
        e.accepted += s.handshakes.accepted;
        e.messagesIn += s.messages.in;
        e.messagesOut += s.messages.out;
        e.bytesIn += s.bytes.in;
        e.bytesOut += s.bytes.out;
        total.refused += s.handshakes.refused;
        addInto(byTransport, s.connections.byTransport);
        addInto(refusedByStage, s.handshakes.refusedByStage);
        addInto(refusedByStatus, s.handshakes.refusedByStatus);
        refusals.push(...s.handshakes.recent);
      }
      for (const key of ['open', 'accepted', 'messagesIn', 'messagesOut', 'bytesIn', 'bytesOut'] as const) total[key] += e[key];
      return e;
    });
    const now = Date.now();
    return {
      time: now,
      uptime: now - this.#started,
      connections: { open: total.open, accepted: total.accepted, byTransport },
      handshakes: { accepted: total.accepted, refused: total.refused, refusedByStatus, refusedByStage },
      messages: { in: total.messagesIn, out: total.messagesOut },
      bytes: { in: total.bytesIn, out: total.bytesOut },
      endpoints,
      topics: [...this.#topics.values()].map((t) => ({ ...t })),
      // Each server lists its own newest first; merged, newest first over all of them.
      refusals: refusals
        .sort((a, b) => b.time - a.time)
        .slice(0, MAX_REFUSALS)
        .map((r) => ({ time: r.time, status: r.status, reason: r.reason, path: r.path, remote: r.remoteAddress ?? '', stage: r.stage, transport: r.transport })),
    };
  }
}

function addInto<K extends string>(into: Record<K, number>, from: Readonly<Record<K, number>>): void {
  for (const key of Object.keys(from) as K[]) into[key] = (into[key] ?? 0) + from[key];
}

// Router nodes sharing realms through the pub/sub layer's adapters (in-process, Redis, NATS).
//
// Events. A node with a local subscription to a pattern watches the matching hub filter
// (`_wamp.e.<realm>.<pattern>`, the pub/sub layer's WAMP syntax), so the broker sends it only
// events some local subscriber wants; a publication is delivered locally, then published on the
// hub, and every other node delivers it to its own subscribers. Exactly once per subscription and
// in order per publishing node: what the pub/sub layer guarantees (docs/pubsub.md).
//
// Calls. Each node announces its callees of each procedure on `_wamp.c.all` (an announcement per
// change, numbered; the whole state when a node asks with `sync`), so every node knows every
// callee and picks one itself by the procedure's policy. A call for a callee on another node is a
// small request/response protocol on the node topics `_wamp.c.n.<node>`:
//   call   caller's node → callee's node   the CALL, its options and payload, and a call ID
//   reply  callee's node → caller's node   a progressive result, the result, or an error
//   cancel caller's node → callee's node   the caller canceled, timed out or left
// Node liveness: every node says `alive` (with its announcement number) every `heartbeat` ms and
// `bye` when it closes. A node not heard from for `nodeTimeout` ms is gone: its callees are
// forgotten, calls waiting for it end with wamp.error.canceled, invocations for its callers are
// interrupted. A node whose announcement number jumps asks for the whole state again, so a lost
// announcement (brokers deliver at most once) heals within a heartbeat.
//
// Payloads cross the broker as MessagePack (this folder's codec), bytes kept as bytes.

import { randomBytes } from 'node:crypto';
import { Hub, WAMP_TOPICS, type PubSubAdapter, type PublishedMessage } from '../pubsub/index.js';
import { decode, encode } from './msgpack.js';
import { isDict, isValidUri, type Dict, type MatchPolicy } from './protocol.js';
import type {
  CancelMode,
  ClusterLink,
  EventData,
  InvokePolicy,
  ProcedureAnnouncement,
  RemoteCall,
  RemoteCallee,
  RemoteReply,
} from './types.js';

export interface ClusterOptions {
  /** How often this node says it is alive, ms. Default 1000. */
  heartbeat?: number;
  /** A node not heard from for this long is gone, ms. Default 5000. */
  nodeTimeout?: number;
}

/** What the cluster asks of its router. */
export interface ClusterHost {
  event(realm: string, event: EventData): void;
  procedure(node: string, announcement: ProcedureAnnouncement): void;
  /** Forget a node's callees (before its whole state is applied again). */
  forget(node: string): void;
  /** A node is gone: forget its callees, end the calls waiting for it. */
  gone(node: string): void;
  call(node: string, call: RemoteCall): void;
  reply(realm: string, reply: RemoteReply): void;
  cancel(node: string, realm: string, id: number, mode: CancelMode): void;
  /** Every local callee, for a node asking for the whole state. */
  announcements(): ProcedureAnnouncement[];
  nodeUp(node: string): void;
  nodeDown(node: string, reason: string): void;
}

export interface ClusterStats {
  /** Other nodes known now. */
  readonly nodes: number;
  /** Broker messages that could not be decoded. */
  readonly malformed: number;
  readonly hub: Hub<object>['stats'];
}

interface KnownNode {
  lastSeen: number;
  /** Its announcement number as applied here; -1 before its state arrived. */
  version: number;
  /** When this node last asked it for its state (0: not waiting). */
  asked: number;
}

const PREFIX = '_wamp';
const ALL = `${PREFIX}.c.all`;
const nodeTopic = (node: string): string => `${PREFIX}.c.n.${node}`;
const realmToken = (realm: string): string => Buffer.from(realm, 'utf8').toString('base64url');
const eventTopic = (realm: string, uri: string): string => `${PREFIX}.e.${realmToken(realm)}.${uri}`;

const nil = <T>(value: T | null | undefined): T | undefined => (value === null ? undefined : value);

function callees(value: unknown): RemoteCallee[] {
  if (!Array.isArray(value)) return [];
  const out: RemoteCallee[] = [];
  for (const item of value) {
    if (Array.isArray(item) && typeof item[0] === 'number' && typeof item[1] === 'number') out.push({ session: item[0], since: item[1] });
  }
  return out;
}

const MATCHES = new Set(['exact', 'prefix', 'wildcard']);
const POLICIES = new Set(['single', 'roundrobin', 'random', 'first', 'last']);

function announcement(realm: unknown, uri: unknown, match: unknown, invoke: unknown, list: unknown): ProcedureAnnouncement | null {
  if (typeof realm !== 'string' || !MATCHES.has(match as string) || !POLICIES.has(invoke as string)) return null;
  // Another node's word is checked like a client's: an invalid pattern would not index.
  if (!isValidUri(uri, false, match as MatchPolicy)) return null;
  return { realm, uri, match: match as MatchPolicy, invoke: invoke as InvokePolicy, callees: callees(list) };
}

export class Cluster implements ClusterLink {
  readonly node = randomBytes(8).toString('hex');
  readonly #hub: Hub<object>;
  readonly #host: ClusterHost;
  /** The hub subscriber standing for this whole node. */
  readonly #self = {};
  readonly #watched = new Map<string, number>();
  readonly #nodes = new Map<string, KnownNode>();
  readonly #heartbeat: number;
  readonly #nodeTimeout: number;
  readonly #timer: NodeJS.Timeout;
  #version = 0;
  #malformed = 0;
  #closed = false;
  #ready: Promise<void> | null = null;

  constructor(adapter: PubSubAdapter, host: ClusterHost, options: ClusterOptions = {}) {
    this.#host = host;
    this.#heartbeat = options.heartbeat ?? 1000;
    this.#nodeTimeout = options.nodeTimeout ?? 5000;
    if (!(this.#heartbeat > 0) || !(this.#nodeTimeout > this.#heartbeat)) {
      throw new RangeError('cluster.heartbeat must be > 0 and cluster.nodeTimeout longer than it');
    }
    this.#hub = new Hub<object>({
      adapter,
      syntax: WAMP_TOPICS,
      maxLength: 4096,
      maxLevels: 4096,
      deliver: (_subscriber, message) => {
        try {
          this.#receive(message);
        } catch {
          // What another node sent must not take this one down.
          this.#malformed++;
        }
      },
    });
    this.#hub.subscribe(this.#self, ALL);
    this.#hub.subscribe(this.#self, nodeTopic(this.node));
    // After an outage the other nodes may have given this one up, and announcements were lost.
    this.#hub.on('broker-up', (event) => {
      if (event.reconnect) this.#send(ALL, ['hello', this.node, this.#version]);
    });
    this.#timer = setInterval(() => this.#tick(), this.#heartbeat);
    this.#timer.unref();
  }

  /** Resolves once the broker is connected and this node's subscriptions are in place. */
  ready(): Promise<void> {
    this.#ready ??= this.#hub.ready().then(() => {
      this.#send(ALL, ['hello', this.node, this.#version]);
    });
    return this.#ready.then(() => this.#hub.ready());
  }

  get stats(): ClusterStats {
    return { nodes: this.#nodes.size, malformed: this.#malformed, hub: this.#hub.stats };
  }

  /** Says goodbye to the other nodes and leaves the broker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#send(ALL, ['bye', this.node]);
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#hub.close();
  }

  // ---- ClusterLink: what this node's realms send ----

  publish(realm: string, event: EventData): void {
    this.#send(eventTopic(realm, event.topic), [
      'e',
      realm,
      event.publication,
      event.topic,
      event.publisher,
      event.authid,
      event.authrole,
      event.disclose,
      event.excludeMe,
      event.exclude,
      event.eligible,
      event.excludeAuthid,
      event.eligibleAuthid,
      event.excludeAuthrole,
      event.eligibleAuthrole,
      event.args,
      event.kwargs,
    ]);
  }

  watch(realm: string, uri: string, match: MatchPolicy): void {
    const key = `${match} ${realm} ${uri}`;
    const count = this.#watched.get(key) ?? 0;
    this.#watched.set(key, count + 1);
    if (count === 0 && !this.#closed) this.#hub.subscribe(this.#self, eventTopic(realm, uri), match === 'prefix' ? { match: 'prefix' } : undefined);
  }

  unwatch(realm: string, uri: string, match: MatchPolicy): void {
    const key = `${match} ${realm} ${uri}`;
    const count = this.#watched.get(key);
    if (count === undefined) return;
    if (count > 1) {
      this.#watched.set(key, count - 1);
      return;
    }
    this.#watched.delete(key);
    this.#hub.unsubscribe(this.#self, eventTopic(realm, uri), match === 'prefix' ? { match: 'prefix' } : undefined);
  }

  announce(a: ProcedureAnnouncement): void {
    this.#version++;
    this.#send(ALL, ['proc', this.node, this.#version, a.realm, a.uri, a.match, a.invoke, a.callees.map((c) => [c.session, c.since])]);
  }

  call(node: string, c: RemoteCall): void {
    this.#send(nodeTopic(node), [
      'call',
      this.node,
      c.realm,
      c.id,
      c.uri,
      c.match,
      c.callee,
      c.procedure,
      c.caller,
      c.callerAuthid,
      c.callerAuthrole,
      c.discloseMe,
      c.receiveProgress,
      c.args,
      c.kwargs,
    ]);
  }

  reply(node: string, realm: string, r: RemoteReply): void {
    this.#send(nodeTopic(node), ['reply', this.node, realm, r.id, r.kind, r.error, r.args, r.kwargs]);
  }

  cancel(node: string, realm: string, id: number, mode: CancelMode): void {
    this.#send(nodeTopic(node), ['cancel', this.node, realm, id, mode]);
  }

  // ---- The wire ----

  #send(topic: string, message: unknown[]): void {
    if (this.#closed) return;
    try {
      this.#hub.publish(topic, encode(message), true, { except: this.#self });
    } catch {
      // A topic the hub refuses cannot come from a valid URI; nothing to send then.
    }
  }

  #receive(message: PublishedMessage): void {
    if (this.#closed) return;
    let decoded: unknown;
    const info = { binary: false };
    try {
      decoded = decode(message.payload, info);
    } catch {
      this.#malformed++;
      return;
    }
    if (!Array.isArray(decoded) || typeof decoded[0] !== 'string' || (decoded[0] !== 'e' && typeof decoded[1] !== 'string')) {
      this.#malformed++;
      return;
    }
    const m = decoded;
    if (m[0] === 'e') return this.#event(m, info.binary);
    const from = m[1] as string;
    if (from === this.node) return;
    const known = this.#see(from, m[0] !== 'bye');
    switch (m[0]) {
      case 'hello':
        // A new (or returning) node: it wants everyone's state, and its own may be news.
        this.#send(nodeTopic(from), ['state', this.node, this.#version, this.#host.announcements().map(wire)]);
        this.#check(from, known!, m[2]);
        return;
      case 'alive':
        this.#check(from, known!, m[2]);
        return;
      case 'bye':
        this.#drop(from, 'it left');
        return;
      case 'sync':
        this.#send(nodeTopic(from), ['state', this.node, this.#version, this.#host.announcements().map(wire)]);
        return;
      case 'state': {
        if (typeof m[2] !== 'number' || !Array.isArray(m[3])) break;
        this.#host.forget(from);
        for (const item of m[3]) {
          const parsed = Array.isArray(item) ? announcement(item[0], item[1], item[2], item[3], item[4]) : null;
          if (parsed !== null) this.#host.procedure(from, parsed);
        }
        known!.version = m[2];
        known!.asked = 0;
        return;
      }
      case 'proc': {
        const parsed = announcement(m[3], m[4], m[5], m[6], m[7]);
        if (typeof m[2] !== 'number' || parsed === null) break;
        // Applying is safe in any order (it states a procedure's whole callee list); a gap in
        // the numbers means something was lost: ask for everything.
        this.#host.procedure(from, parsed);
        if (known!.version >= 0 && m[2] === known!.version + 1) known!.version = m[2];
        else this.#check(from, known!, m[2]);
        return;
      }
      case 'call': {
        const [, , realm, id, uri, match, callee, procedure, caller, callerAuthid, callerAuthrole, discloseMe, receiveProgress, args, kwargs] = m;
        if (typeof realm !== 'string' || typeof id !== 'number' || !MATCHES.has(match as string) || !isValidUri(uri, false, match as MatchPolicy)) break;
        if (typeof callee !== 'number' || typeof procedure !== 'string' || typeof caller !== 'number') break;
        this.#host.call(from, {
          id,
          realm,
          uri,
          match: match as MatchPolicy,
          callee,
          procedure,
          caller,
          callerAuthid: String(callerAuthid),
          callerAuthrole: String(callerAuthrole),
          discloseMe: discloseMe === true,
          receiveProgress: receiveProgress === true,
          args: list(args),
          kwargs: dict(kwargs),
          binary: info.binary,
        });
        return;
      }
      case 'reply': {
        const [, , realm, id, kind, error, args, kwargs] = m;
        if (typeof realm !== 'string' || typeof id !== 'number' || (kind !== 'result' && kind !== 'progress' && kind !== 'error')) break;
        this.#host.reply(realm, { id, kind, error: String(error), args: list(args), kwargs: dict(kwargs), binary: info.binary });
        return;
      }
      case 'cancel': {
        const [, , realm, id, mode] = m;
        if (typeof realm !== 'string' || typeof id !== 'number' || (mode !== 'skip' && mode !== 'kill' && mode !== 'killnowait')) break;
        this.#host.cancel(from, realm, id, mode);
        return;
      }
    }
    this.#malformed++;
  }

  #event(m: unknown[], binary: boolean): void {
    const [, realm, publication, topic, publisher, authid, authrole, disclose, excludeMe, ex, el, exA, elA, exR, elR, args, kwargs] = m;
    if (typeof realm !== 'string' || typeof publication !== 'number' || !isValidUri(topic, false) || typeof publisher !== 'number') {
      this.#malformed++;
      return;
    }
    this.#host.event(realm, {
      publication,
      topic,
      args: list(args),
      kwargs: dict(kwargs),
      binary,
      publisher,
      authid: String(authid),
      authrole: String(authrole),
      disclose: disclose === true,
      excludeMe: excludeMe !== false,
      exclude: nil(ex as number[] | null),
      eligible: nil(el as number[] | null),
      excludeAuthid: nil(exA as string[] | null),
      eligibleAuthid: nil(elA as string[] | null),
      excludeAuthrole: nil(exR as string[] | null),
      eligibleAuthrole: nil(elR as string[] | null),
    });
  }

  /** Notes that `node` was heard from; undefined for a 'bye'. */
  #see(node: string, alive: boolean): KnownNode | undefined {
    let known = this.#nodes.get(node);
    if (!alive) return known;
    if (known === undefined) {
      known = { lastSeen: Date.now(), version: -1, asked: 0 };
      this.#nodes.set(node, known);
      this.#host.nodeUp(node);
    }
    known.lastSeen = Date.now();
    return known;
  }

  /** Asks `node` for its whole state when its announcement number is not the one applied here. */
  #check(node: string, known: KnownNode, version: unknown): void {
    if (typeof version !== 'number' || version === known.version) return;
    const now = Date.now();
    if (known.asked !== 0 && now - known.asked < this.#nodeTimeout) return; // asked already
    known.asked = now;
    this.#send(nodeTopic(node), ['sync', this.node]);
  }

  #drop(node: string, reason: string): void {
    if (!this.#nodes.delete(node)) return;
    this.#host.gone(node);
    this.#host.nodeDown(node, reason);
  }

  #tick(): void {
    if (this.#closed) return;
    this.#send(ALL, ['alive', this.node, this.#version]);
    const limit = Date.now() - this.#nodeTimeout;
    for (const [node, known] of [...this.#nodes]) {
      if (known.lastSeen < limit) this.#drop(node, `not heard from for ${this.#nodeTimeout} ms`);
    }
  }
}

function wire(a: ProcedureAnnouncement): unknown[] {
  return [a.realm, a.uri, a.match, a.invoke, a.callees.map((c) => [c.session, c.since])];
}

function list(value: unknown): unknown[] | undefined {
  return Array.isArray(value) ? value : undefined;
}

function dict(value: unknown): Dict | undefined {
  return isDict(value) ? value : undefined;
}

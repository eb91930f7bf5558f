// WampRouter: a WAMP v2 router mounted on WebSocket endpoints. It owns the realms, runs one
// sans-I/O Session per connection (session.ts) behind a thin WebSocket adapter, and, given a
// pub/sub adapter, joins the other router nodes on that broker (cluster.ts).
//
// Subprotocols: `wamp.2.json` and `wamp.2.msgpack` (WAMP Basic Profile, "WebSocket Transport").
// The bare token `wamp` (WAMP v1) is never selected: v1 is not implemented, and a connection
// that negotiated no WAMP v2 subprotocol is closed with 1002 and a reason saying so.

import { EventEmitter } from 'node:events';
import type { PubSubAdapter } from '../pubsub/index.js';
import { checkOptionNames } from '../util/options.js';
import { sendShared, WebSocketConnection } from '../connection/websocket-connection.js';
import { anonymous, type Authenticator } from './auth.js';
import { Cluster, type ClusterHost, type ClusterOptions, type ClusterStats } from './cluster.js';
import type { Dict, MatchPolicy } from './protocol.js';
import { Realm, type RealmOptions, type RealmStats } from './realm.js';
import { SERIALIZERS } from './serializer.js';
import { Session, type SessionContext, type WampTransport } from './session.js';
import type { CancelMode, EventData, ProcedureAnnouncement, RemoteCall, RemoteReply } from './types.js';

/** The WebSocket subprotocols this router speaks, in its order of preference. */
export const WAMP_PROTOCOLS: readonly string[] = Object.freeze(['wamp.2.msgpack', 'wamp.2.json']);

/**
 * For WebSocketServer's `protocols` option: the first WAMP v2 subprotocol in the client's order
 * of preference. Never the bare `wamp` (WAMP v1, not implemented).
 */
export function selectWampProtocol(offered: readonly string[]): string | undefined {
  return offered.find((protocol) => SERIALIZERS.has(protocol));
}

/** What the router needs of a WebSocket: Upshift's WebSocketConnection (and ws's WebSocket) fit. */
export interface WampSocket {
  readonly protocol: string;
  readonly bufferedAmount: number;
  send(data: Buffer, options: { binary: boolean }): unknown;
  close(code?: number, reason?: string): void;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Anything that emits 'connection' with a WampSocket: a WebSocketServer. */
export interface WampEndpoint {
  on(event: 'connection', listener: (ws: never, ...rest: never[]) => void): unknown;
}

export interface WampRouterOptions {
  /** The realms, by name (a URI). */
  realms: Record<string, RealmOptions>;
  /** Create a realm a client asks for that is not in `realms`, with these options. Default: refuse. */
  autoCreateRealms?: boolean | RealmOptions;
  /** Authenticators for realms without their own `auth`. Default: [anonymous()]. */
  auth?: readonly Authenticator[];
  /** Share the realms with other router nodes through this pub/sub adapter (Redis, NATS, in-process). */
  pubsub?: { adapter: PubSubAdapter };
  /** Heartbeat and node timeout between router nodes. */
  cluster?: ClusterOptions;
  /** Strict URIs (components of [0-9a-z_]) instead of loose ones. Default false. */
  strictUris?: boolean;
  /** Events to a session with more than this many bytes waiting to be sent are dropped. Default 4 MiB. */
  maxBufferedAmount?: number;
  /** Longest time from HELLO to WELCOME, ms. Default 10000. */
  authTimeout?: number;
}

const OPTION_NAMES = new Set(['realms', 'autoCreateRealms', 'auth', 'pubsub', 'cluster', 'strictUris', 'maxBufferedAmount', 'authTimeout']);

/** WELCOME.Details.roles: exactly the features implemented (WAMP Advanced Profile, "Feature Announcement"). */
export const ROUTER_ROLES: Dict = Object.freeze({
  broker: {
    features: {
      pattern_based_subscription: true,
      publisher_exclusion: true,
      publisher_identification: true,
      subscriber_blackwhite_listing: true,
      session_meta_api: true,
    },
  },
  dealer: {
    features: {
      pattern_based_registration: true,
      shared_registration: true,
      caller_identification: true,
      progressive_call_results: true,
      call_timeout: true,
      call_canceling: true,
      session_meta_api: true,
    },
  },
});

export interface WampRouterStats extends RealmStats {
  /** Sessions connected to this node (joined or not). */
  readonly sessions: number;
  readonly realms: number;
  /** The cluster's view, with an adapter. */
  readonly cluster: ClusterStats | null;
}

export interface WampRouterEvents {
  /** Another router node appeared on the broker. */
  'node-up': [event: { readonly node: string }];
  /** A router node left or was not heard from for cluster.nodeTimeout. */
  'node-down': [event: { readonly node: string; readonly reason: string }];
  /** Another node's callees of a procedure changed (none left: `callees` is 0). */
  procedure: [event: { readonly node: string; readonly realm: string; readonly uri: string; readonly match: MatchPolicy; readonly callees: number }];
}

const AGENT = 'upshift-wamp';

export class WampRouter extends EventEmitter<WampRouterEvents> {
  readonly #realms = new Map<string, Realm>();
  readonly #realmOptions: Record<string, RealmOptions>;
  readonly #autoCreate: RealmOptions | null;
  readonly #auth: readonly Authenticator[];
  readonly #sessions = new Map<Session, WampTransport>();
  readonly #stats: RealmStats = { published: 0, delivered: 0, dropped: 0, calls: 0, remoteCalls: 0 };
  readonly #cluster: Cluster | null;
  readonly #context: SessionContext;
  #closed = false;

  constructor(options: WampRouterOptions) {
    super();
    checkOptionNames('new WampRouter()', options, OPTION_NAMES);
    if (typeof options?.realms !== 'object' || options.realms === null) throw new TypeError('new WampRouter(): options.realms must be an object of realm names');
    this.#realmOptions = options.realms;
    this.#autoCreate = options.autoCreateRealms === true ? {} : options.autoCreateRealms || null;
    this.#auth = options.auth ?? [anonymous()];
    const maxBufferedAmount = options.maxBufferedAmount ?? 4 * 1024 * 1024;
    const authTimeout = options.authTimeout ?? 10_000;
    const strictUris = options.strictUris === true;
    this.#cluster = options.pubsub === undefined ? null : new Cluster(options.pubsub.adapter, this.#clusterHost(), options.cluster);
    // Realms are made up front so that their procedures and subscriptions exist for the cluster.
    for (const name of Object.keys(this.#realmOptions)) this.#realm(name);
    this.#context = {
      realm: (name) => this.#realm(name),
      authenticators: (realm) => realm.options.auth ?? this.#auth,
      strictUris,
      maxBufferedAmount,
      authTimeout,
      agent: AGENT,
      roles: ROUTER_ROLES,
      sessionEnded: (session) => this.#sessions.delete(session),
    };
  }

  #realm(name: string): Realm | undefined {
    let realm = this.#realms.get(name);
    if (realm !== undefined) return realm;
    const options = Object.hasOwn(this.#realmOptions, name) ? this.#realmOptions[name]! : this.#autoCreate;
    if (options === null || this.#closed) return undefined;
    realm = new Realm(name, options, this.#cluster, this.#stats);
    this.#realms.set(name, realm);
    return realm;
  }

  /** This node's ID among the router nodes, or null without a pub/sub adapter. */
  get node(): string | null {
    return this.#cluster?.node ?? null;
  }

  /** Serves every connection of `endpoint` (a WebSocketServer created with `protocols: selectWampProtocol`). */
  attach(endpoint: WampEndpoint): this {
    endpoint.on('connection', ((ws: WampSocket) => this.handle(ws)) as never);
    return this;
  }

  /**
   * Serves one WebSocket. `transport` is shown to authenticators and in the session meta API.
   * Returns false (after closing it with 1002) when it did not negotiate a WAMP v2 subprotocol.
   */
  handle(ws: WampSocket, options: { transport?: Dict } = {}): boolean {
    const serializer = SERIALIZERS.get(ws.protocol);
    if (serializer === undefined || this.#closed) {
      ws.close(
        this.#closed ? 1001 : 1002,
        this.#closed ? 'the WAMP router is closed' : 'WAMP v2 needs subprotocol wamp.2.json or wamp.2.msgpack; WAMP v1 is not supported',
      );
      return false;
    }
    const binary = { binary: serializer.binary };
    const transport: WampTransport = {
      serializer,
      send: (data) => void ws.send(data, binary),
      // An Upshift connection writes a shared EVENT's one frame (or one compression); any other
      // WebSocket (ws's, say) gets the encoded bytes.
      sendShared: ws instanceof WebSocketConnection ? (message) => void sendShared(ws, message) : (message) => void ws.send(message.payload, binary),
      close: (code, reason) => ws.close(code, reason),
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    const session = new Session(transport, this.#context, { protocol: ws.protocol, ...options.transport });
    this.#sessions.set(session, transport);
    ws.on('message', (data, isBinary) => session.receive(data, isBinary));
    ws.on('close', () => session.transportClosed());
    // The connection reports its errors by closing; the router has nothing to add.
    ws.on('error', () => {});
    return true;
  }

  /** Resolves once the pub/sub broker is connected and this node has greeted the others. */
  async ready(): Promise<void> {
    await this.#cluster?.ready();
  }

  get stats(): WampRouterStats {
    return { ...this.#stats, sessions: this.#sessions.size, realms: this.#realms.size, cluster: this.#cluster?.stats ?? null };
  }

  /**
   * Ends every session (GOODBYE wamp.close.system_shutdown, then the WebSocket is closed with
   * 1001) and leaves the cluster. The WebSocket server itself is the application's to close.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [session, transport] of [...this.#sessions]) {
      session.shutdown();
      session.transportClosed();
      try {
        transport.close(1001, 'the WAMP router is closing');
      } catch {
        // closed already
      }
    }
    await this.#cluster?.close();
  }

  #clusterHost(): ClusterHost {
    const realms = this.#realms;
    return {
      event: (realm: string, event: EventData) => realms.get(realm)?.broker.deliver(event),
      procedure: (node: string, a: ProcedureAnnouncement) => {
        const realm = this.#realm(a.realm);
        if (realm === undefined) return;
        realm.dealer.remoteAnnouncement(node, a);
        this.emit('procedure', { node, realm: a.realm, uri: a.uri, match: a.match, callees: a.callees.length });
      },
      forget: (node: string) => {
        for (const realm of realms.values()) realm.dealer.forgetNodeProcedures(node);
      },
      gone: (node: string) => {
        for (const realm of realms.values()) realm.dealer.nodeGone(node);
      },
      call: (node: string, call: RemoteCall) => {
        const realm = realms.get(call.realm);
        if (realm !== undefined) realm.dealer.remoteCall(node, call);
        else this.#cluster!.reply(node, call.realm, { id: call.id, kind: 'error', error: 'wamp.error.no_such_realm', args: [call.realm], kwargs: undefined, binary: false });
      },
      reply: (realm: string, reply: RemoteReply) => realms.get(realm)?.dealer.remoteReply(reply),
      cancel: (node: string, realm: string, id: number, mode: CancelMode) => realms.get(realm)?.dealer.remoteCancel(node, id, mode),
      announcements: () => [...realms.values()].flatMap((realm) => realm.dealer.announcements()),
      nodeUp: (node: string) => this.emit('node-up', { node }),
      nodeDown: (node: string, reason: string) => this.emit('node-down', { node, reason }),
    };
  }
}

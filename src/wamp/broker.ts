// The broker of one realm on one node: subscriptions and the delivery of events to local
// subscribers (WAMP Basic Profile "Publish and Subscribe"; Advanced Profile: pattern-based
// subscriptions, publisher exclusion and identification, subscriber black- and whitelisting).
//
// A subscription is one (topic, match) pair with one ID shared by every session subscribed to it
// (Basic Profile, SUBSCRIBED: "may be assigned to the Topic ... [so the Broker can] serialize an
// event to be delivered only once"): an EVENT is encoded once per subscription and serializer and
// the same bytes are written to each subscriber. Matching uses the pub/sub layer's topic registry
// (WAMP syntax: `.` separated, an empty component is a one-level wildcard, prefix filters), so a
// publication visits only the subscriptions that match, never a scan.

import { TopicRegistry, WAMP_TOPICS } from '../pubsub/index.js';
import { Code, MAX_URI_LENGTH, randomId, withPayload, type Dict, type MatchPolicy } from './protocol.js';
import { JSON_SERIALIZER } from './serializer.js';
import { SharedMessage } from '../protocol/shared-message.js';
import type { ClusterLink, EventData, Peer } from './types.js';

export class Subscription {
  readonly sessions = new Set<Peer>();

  constructor(
    readonly id: number,
    readonly uri: string,
    readonly match: MatchPolicy,
  ) {}
}

export interface BrokerStats {
  /** Publications accepted on this node. */
  published: number;
  /** EVENT messages written. */
  delivered: number;
  /** EVENT messages dropped: the subscriber was over its output limit. */
  dropped: number;
}

const keyOf = (uri: string, match: MatchPolicy): string => `${match}\u0000${uri}`;

export class Broker {
  readonly #realm: string;
  readonly #registry = new TopicRegistry<Subscription>({ syntax: WAMP_TOPICS, maxLength: MAX_URI_LENGTH, maxLevels: MAX_URI_LENGTH });
  readonly #byKey = new Map<string, Subscription>();
  readonly #byId = new Map<number, Subscription>();
  readonly #ofPeer = new Map<Peer, Map<number, Subscription>>();
  readonly #cluster: ClusterLink | null;
  readonly #stats: BrokerStats;

  constructor(realm: string, cluster: ClusterLink | null, stats: BrokerStats) {
    this.#realm = realm;
    this.#cluster = cluster;
    this.#stats = stats;
  }

  /** Subscribes `peer`; the same subscription (and ID) when it already is. */
  subscribe(peer: Peer, uri: string, match: MatchPolicy): Subscription {
    const key = keyOf(uri, match);
    let subscription = this.#byKey.get(key);
    if (subscription === undefined) {
      subscription = new Subscription(randomId(), uri, match);
      this.#registry.subscribe(subscription, uri, match === 'prefix' ? { match: 'prefix' } : undefined);
      this.#byKey.set(key, subscription);
      this.#byId.set(subscription.id, subscription);
      this.#cluster?.watch(this.#realm, uri, match);
    }
    subscription.sessions.add(peer);
    let mine = this.#ofPeer.get(peer);
    if (mine === undefined) this.#ofPeer.set(peer, (mine = new Map()));
    mine.set(subscription.id, subscription);
    return subscription;
  }

  /** false when `peer` holds no subscription with this ID. */
  unsubscribe(peer: Peer, id: number): boolean {
    const mine = this.#ofPeer.get(peer);
    const subscription = mine?.get(id);
    if (subscription === undefined) return false;
    mine!.delete(id);
    if (mine!.size === 0) this.#ofPeer.delete(peer);
    this.#leave(subscription, peer);
    return true;
  }

  /** Drops every subscription of a leaving session. */
  leave(peer: Peer): void {
    const mine = this.#ofPeer.get(peer);
    if (mine === undefined) return;
    this.#ofPeer.delete(peer);
    for (const subscription of mine.values()) this.#leave(subscription, peer);
  }

  #leave(subscription: Subscription, peer: Peer): void {
    subscription.sessions.delete(peer);
    if (subscription.sessions.size > 0) return;
    this.#registry.unsubscribe(subscription, subscription.uri, subscription.match === 'prefix' ? { match: 'prefix' } : undefined);
    this.#byKey.delete(keyOf(subscription.uri, subscription.match));
    this.#byId.delete(subscription.id);
    this.#cluster?.unwatch(this.#realm, subscription.uri, subscription.match);
  }

  /** Publishes on this node and, through the cluster, on every other. */
  publish(event: EventData): void {
    this.#stats.published++;
    this.deliver(event);
    this.#cluster?.publish(this.#realm, event);
  }

  /** Writes `event` to the local subscribers it reaches (from this node or another). */
  deliver(event: EventData): void {
    if (this.#byKey.size === 0) return;
    const matched = this.#registry.match(event.topic);
    if (matched.length === 0) return;
    const filtered =
      event.exclude !== undefined ||
      event.eligible !== undefined ||
      event.excludeAuthid !== undefined ||
      event.eligibleAuthid !== undefined ||
      event.excludeAuthrole !== undefined ||
      event.eligibleAuthrole !== undefined;
    const skip = event.excludeMe ? event.publisher : 0;
    const stats = this.#stats;
    for (const subscription of matched) {
      // One EVENT per subscription, encoded (and framed, and compressed per compressor kind) at
      // most once per serializer.
      let json: SharedMessage | undefined;
      let msgpack: SharedMessage | undefined;
      let message: unknown[] | undefined;
      for (const peer of subscription.sessions) {
        if (peer.info.session === skip) continue;
        if (filtered && !receives(peer, event)) continue;
        message ??= eventMessage(subscription, event);
        let data: SharedMessage;
        if (peer.serializer === JSON_SERIALIZER) data = json ??= encodeEvent(peer, message, event.binary);
        else data = msgpack ??= encodeEvent(peer, message, event.binary);
        if (peer.sendEvent(data)) stats.delivered++;
        else stats.dropped++;
      }
    }
  }

  /** Subscription IDs, for tests and the stats. */
  get size(): number {
    return this.#byId.size;
  }
}

function encodeEvent(peer: Peer, message: unknown[], binary: boolean): SharedMessage {
  const serializer = peer.serializer;
  return new SharedMessage(serializer.encode(message, binary), serializer.binary, true);
}

function eventMessage(subscription: Subscription, event: EventData): unknown[] {
  const details: Dict = {};
  // Advanced Profile, pattern-based subscription: "MUST supply the original PUBLISH.Topic".
  if (subscription.match !== 'exact') details.topic = event.topic;
  if (event.disclose) {
    details.publisher = event.publisher;
    details.publisher_authid = event.authid;
    details.publisher_authrole = event.authrole;
  }
  return withPayload([Code.EVENT, subscription.id, event.publication, details], event.args, event.kwargs);
}

/** Subscriber black- and whitelisting (Advanced Profile): every present list must agree. */
function receives(peer: Peer, event: EventData): boolean {
  const { session, authid, authrole } = peer.info;
  if (event.eligible !== undefined && !event.eligible.includes(session)) return false;
  if (event.eligibleAuthid !== undefined && !event.eligibleAuthid.includes(authid)) return false;
  if (event.eligibleAuthrole !== undefined && !event.eligibleAuthrole.includes(authrole)) return false;
  if (event.exclude !== undefined && event.exclude.includes(session)) return false;
  if (event.excludeAuthid !== undefined && event.excludeAuthid.includes(authid)) return false;
  if (event.excludeAuthrole !== undefined && event.excludeAuthrole.includes(authrole)) return false;
  return true;
}

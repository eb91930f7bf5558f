// Types shared by the router's parts (sessions, broker, dealer, cluster), kept here so that the
// modules depend on this file rather than on each other.

import type { SharedMessage } from '../protocol/shared-message.js';
import type { Dict, MatchPolicy } from './protocol.js';
import type { Serializer } from './serializer.js';

/** Who a session is: what the session meta API reports, and what authorization sees. */
export interface SessionInfo {
  readonly session: number;
  readonly realm: string;
  readonly authid: string;
  readonly authrole: string;
  readonly authmethod: string;
  readonly authprovider: string;
  /** What the application attached to the connection (router.handle(ws, { transport })). */
  readonly transport: Dict;
}

/** What a session announced in HELLO.Details.roles that the dealer acts on. */
export interface CalleeFeatures {
  /** callee.features.call_canceling: INTERRUPT may be sent to it. */
  readonly canceling: boolean;
  /** callee.features.progressive_call_results: it may be asked for progress. */
  readonly progress: boolean;
}

/** A joined session as the broker and dealer see it. */
export interface Peer {
  readonly info: SessionInfo;
  readonly serializer: Serializer;
  readonly callee: CalleeFeatures;
  /** Encodes and sends one message; `binary`: it holds Buffers. */
  send(message: unknown[], binary: boolean): void;
  /**
   * Sends an encoded EVENT, one SharedMessage for every subscriber with this serializer (framed and
   * compressed once); false when dropped because the peer is over its output limit.
   */
  sendEvent(event: SharedMessage): boolean;
  /** The next router-to-client request ID (INVOCATION), sequential in the session scope. */
  nextRequestId(): number;
  /** Closes the session: GOODBYE with `reason` (wamp.session.kill). */
  kill(reason: string, message: string | undefined): void;
}

/** One publication as it travels: built by the publishing node, delivered by every node. */
export interface EventData {
  readonly publication: number;
  readonly topic: string;
  readonly args: unknown[] | undefined;
  readonly kwargs: Dict | undefined;
  readonly binary: boolean;
  /** The publisher's session ID (0 for the router's own meta events). */
  readonly publisher: number;
  /** Shown to subscribers when `disclose`. */
  readonly authid: string;
  readonly authrole: string;
  readonly disclose: boolean;
  /** The publisher does not get its own event (default true). */
  readonly excludeMe: boolean;
  readonly exclude: readonly number[] | undefined;
  readonly eligible: readonly number[] | undefined;
  readonly excludeAuthid: readonly string[] | undefined;
  readonly eligibleAuthid: readonly string[] | undefined;
  readonly excludeAuthrole: readonly string[] | undefined;
  readonly eligibleAuthrole: readonly string[] | undefined;
}

export type InvokePolicy = 'single' | 'roundrobin' | 'random' | 'first' | 'last';

/** A callee of a procedure on another node, as that node announced it. */
export interface RemoteCallee {
  readonly session: number;
  /** When it registered (that node's clock, ms): orders callees for first/last/roundrobin. */
  readonly since: number;
}

/** A node's callees of one procedure (empty: the node has none any more). */
export interface ProcedureAnnouncement {
  readonly realm: string;
  readonly uri: string;
  readonly match: MatchPolicy;
  readonly invoke: InvokePolicy;
  readonly callees: readonly RemoteCallee[];
}

export type CancelMode = 'skip' | 'kill' | 'killnowait';

/** A CALL sent to the node of the chosen callee. */
export interface RemoteCall {
  readonly id: number;
  readonly realm: string;
  /** The registration's pattern, and the callee the calling node chose. */
  readonly uri: string;
  readonly match: MatchPolicy;
  readonly callee: number;
  /** CALL.Procedure. */
  readonly procedure: string;
  readonly caller: number;
  readonly callerAuthid: string;
  readonly callerAuthrole: string;
  readonly discloseMe: boolean;
  readonly receiveProgress: boolean;
  readonly args: unknown[] | undefined;
  readonly kwargs: Dict | undefined;
  readonly binary: boolean;
}

/** What comes back for a RemoteCall: a (progressive) result or an error. */
export interface RemoteReply {
  readonly id: number;
  readonly kind: 'result' | 'progress' | 'error';
  /** The error URI (kind 'error'). */
  readonly error: string;
  readonly args: unknown[] | undefined;
  readonly kwargs: Dict | undefined;
  readonly binary: boolean;
}

/** What the broker and dealer ask of the cluster (absent on a router without an adapter). */
export interface ClusterLink {
  /** This node's ID. */
  readonly node: string;
  publish(realm: string, event: EventData): void;
  /** A local subscription to this pattern appeared / went away: receive (or stop) its events. */
  watch(realm: string, uri: string, match: MatchPolicy): void;
  unwatch(realm: string, uri: string, match: MatchPolicy): void;
  /** This node's callees of a procedure changed. */
  announce(announcement: ProcedureAnnouncement): void;
  call(node: string, call: RemoteCall): void;
  reply(node: string, realm: string, reply: RemoteReply): void;
  cancel(node: string, realm: string, id: number, mode: CancelMode): void;
}

/** Where a received invocation came from: the node and its call ID. */
export interface RemoteOrigin {
  readonly node: string;
  readonly id: number;
}

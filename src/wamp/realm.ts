// A realm on one node: its sessions, broker and dealer, its authorization, and the session meta
// API (WAMP Advanced Profile, "Session Meta API": wamp.session.on_join / on_leave events, and the
// wamp.session.count / list / get / kill* procedures, answered by the router itself).

import type { Authenticator } from './auth.js';
import { Broker, type BrokerStats } from './broker.js';
import { Dealer, type DealerStats } from './dealer.js';
import { PatternTable } from './match.js';
import { Code, Uri, isValidUri, randomId, withPayload, type Dict, type MatchPolicy, type Payload } from './protocol.js';
import type { ClusterLink, EventData, Peer, SessionInfo } from './types.js';

export type Action = 'publish' | 'subscribe' | 'register' | 'call';

/** A role's permission on a URI pattern (the best-matching pattern decides: exact, longest prefix, wildcard). */
export interface Permission {
  uri: string;
  /** Default 'exact'. */
  match?: MatchPolicy;
  publish?: boolean;
  subscribe?: boolean;
  register?: boolean;
  call?: boolean;
}

export interface RealmOptions {
  /**
   * The roles that may join, with their permissions. Without it every authenticated session may
   * do everything. A session authenticated under a role not listed is refused (wamp.error.no_such_role).
   */
  roles?: Record<string, readonly Permission[]>;
  /** Decides instead of `roles` (synchronously, so messages keep their order): true allows. */
  authorize?: (session: SessionInfo, action: Action, uri: string) => boolean;
  /** This realm's authenticators (default: the router's `auth`). */
  auth?: readonly Authenticator[];
}

export interface RealmStats extends BrokerStats, DealerStats {}

/** The outcome of an authorization check. */
export type Authorization = 'allowed' | 'denied' | 'failed';

export class Realm {
  readonly name: string;
  readonly options: RealmOptions;
  readonly sessions = new Map<number, Peer>();
  readonly broker: Broker;
  readonly dealer: Dealer;
  readonly #permissions: Map<string, PatternTable<Permission>> | null;

  constructor(name: string, options: RealmOptions, cluster: ClusterLink | null, stats: RealmStats) {
    this.name = name;
    this.options = options;
    this.broker = new Broker(name, cluster, stats);
    this.dealer = new Dealer(name, cluster, stats, this.sessions);
    if (options.roles === undefined) {
      this.#permissions = null;
    } else {
      this.#permissions = new Map();
      for (const [role, permissions] of Object.entries(options.roles)) {
        const table = new PatternTable<Permission>();
        for (const permission of permissions) table.add({ uri: permission.uri, match: permission.match ?? 'exact' }, permission);
        this.#permissions.set(role, table);
      }
    }
  }

  /** May a session under this role join? */
  hasRole(role: string): boolean {
    return this.#permissions === null || this.#permissions.has(role);
  }

  authorize(peer: Peer, action: Action, uri: string): Authorization {
    const hook = this.options.authorize;
    if (hook !== undefined) {
      try {
        return hook(peer.info, action, uri) === true ? 'allowed' : 'denied';
      } catch {
        return 'failed';
      }
    }
    if (this.#permissions === null) return 'allowed';
    const permission = this.#permissions.get(peer.info.authrole)?.best(uri);
    return permission?.[action] === true ? 'allowed' : 'denied';
  }

  join(peer: Peer): void {
    this.sessions.set(peer.info.session, peer);
    this.#meta('wamp.session.on_join', [sessionDetails(peer.info)]);
  }

  leave(peer: Peer): void {
    if (this.sessions.get(peer.info.session) !== peer) return;
    this.sessions.delete(peer.info.session);
    this.broker.leave(peer);
    this.dealer.leave(peer);
    this.#meta('wamp.session.on_leave', [peer.info.session, peer.info.authid, peer.info.authrole]);
  }

  /** A meta event, published by the router itself (session 0) to the whole realm. */
  #meta(topic: string, args: unknown[]): void {
    const event: EventData = {
      publication: randomId(),
      topic,
      args,
      kwargs: undefined,
      binary: false,
      publisher: 0,
      authid: '',
      authrole: '',
      disclose: false,
      excludeMe: false,
      exclude: undefined,
      eligible: undefined,
      excludeAuthid: undefined,
      eligibleAuthid: undefined,
      excludeAuthrole: undefined,
      eligibleAuthrole: undefined,
    };
    this.broker.publish(event);
  }

  /**
   * Answers a call to a router procedure (`wamp.session.*`); false when `uri` is none of them.
   * These answer for this node's sessions of the realm.
   */
  metaCall(caller: Peer, request: number, uri: string, payload: Payload): boolean {
    const args = payload.args ?? [];
    const kwargs = payload.kwargs ?? {};
    const result = (values: unknown[]): void => caller.send(withPayload([Code.RESULT, request, {}], values, undefined), false);
    const error = (reason: string, message: string): void => caller.send([Code.ERROR, Code.CALL, request, {}, reason, [message]], false);
    const roles = Array.isArray(args[0]) ? new Set(args[0] as unknown[]) : null;
    const counted = (): Peer[] => [...this.sessions.values()].filter((peer) => roles === null || roles.has(peer.info.authrole));
    const closing = (): { reason: string; message: string | undefined } | null => {
      const reason = kwargs.reason ?? Uri.KILLED;
      if (!isValidUri(reason, false)) {
        error(Uri.INVALID_URI, 'reason must be a URI');
        return null;
      }
      return { reason, message: typeof kwargs.message === 'string' ? kwargs.message : undefined };
    };
    const killAll = (victims: Peer[], how: { reason: string; message: string | undefined }): void => {
      for (const peer of victims) peer.kill(how.reason, how.message);
    };
    switch (uri) {
      case 'wamp.session.count':
        result([counted().length]);
        return true;
      case 'wamp.session.list':
        result([counted().map((peer) => peer.info.session)]);
        return true;
      case 'wamp.session.get': {
        const peer = this.sessions.get(args[0] as number);
        if (peer === undefined) error(Uri.NO_SUCH_SESSION, `no session ${String(args[0])} on this node`);
        else result([sessionDetails(peer.info)]);
        return true;
      }
      case 'wamp.session.kill': {
        const peer = this.sessions.get(args[0] as number);
        // "Specifying the caller's own session will result in a wamp.error.no_such_session."
        if (peer === undefined || peer === caller) {
          error(Uri.NO_SUCH_SESSION, `no other session ${String(args[0])} on this node`);
          return true;
        }
        const how = closing();
        if (how === null) return true;
        killAll([peer], how);
        result([]);
        return true;
      }
      case 'wamp.session.kill_by_authid':
      case 'wamp.session.kill_by_authrole':
      case 'wamp.session.kill_all': {
        const how = closing();
        if (how === null) return true;
        const victims = [...this.sessions.values()].filter(
          (peer) =>
            peer !== caller &&
            (uri === 'wamp.session.kill_all' ||
              (uri === 'wamp.session.kill_by_authid' ? peer.info.authid === args[0] : peer.info.authrole === args[0])),
        );
        killAll(victims, how);
        result(uri === 'wamp.session.kill_by_authid' ? [victims.map((peer) => peer.info.session)] : [victims.length]);
        return true;
      }
      default:
        return false;
    }
  }
}

/** The session details of wamp.session.on_join and wamp.session.get. */
function sessionDetails(info: SessionInfo): Dict {
  return {
    session: info.session,
    authid: info.authid,
    authrole: info.authrole,
    authmethod: info.authmethod,
    authprovider: info.authprovider,
    transport: info.transport,
  };
}

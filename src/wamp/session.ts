// One client's WAMP session, sans I/O: bytes (or decoded messages) in, encoded messages out
// through a WampTransport; no sockets here. It runs the session life cycle (WAMP Basic Profile
// "Sessions": HELLO, CHALLENGE/AUTHENTICATE, WELCOME, ABORT, GOODBYE), checks every message, and
// hands the valid ones to its realm's broker and dealer.
//
// A message that breaks the protocol (undecodable bytes, the wrong frame type for the serializer,
// an unknown or router-only message type, wrong element types, a message out of its state) is
// answered with ABORT wamp.error.protocol_violation and the transport is closed (Basic Profile,
// "Protocol Errors"). A valid request the router cannot fulfil gets the spec's ERROR instead.
// Nothing a client sends can throw out of receive().
//
// Request IDs are not required to be sequential: the spec asks for it, but clients in use (older
// AutobahnJS among them) draw them at random, and nothing in the router depends on the order.

import { AuthRefusal, type AuthRequest, type AuthStep, type Authenticator, type Identity } from './auth.js';
import {
  Code,
  ProtocolViolation,
  Uri,
  isDict,
  isId,
  isReservedUri,
  isValidUri,
  messageName,
  parseClientMessage,
  randomId,
  type ClientMessage,
  type Dict,
  type MatchPolicy,
  type Payload,
} from './protocol.js';
import type { Realm } from './realm.js';
import type { Serializer } from './serializer.js';
import type { SharedMessage } from '../protocol/shared-message.js';
import type { CalleeFeatures, CancelMode, EventData, InvokePolicy, Peer, SessionInfo } from './types.js';

/** Where a session's messages go: a WebSocket in production, anything in tests. */
export interface WampTransport {
  readonly serializer: Serializer;
  /** Sends one encoded message (a text frame for JSON, binary for MessagePack). */
  send(data: Buffer): void;
  /** Sends a message encoded once for many sessions (an EVENT). */
  sendShared(message: SharedMessage): void;
  /** Closes the transport (a WebSocket close code and reason). */
  close(code: number, reason: string): void;
  /** Bytes accepted by send() and not yet written. */
  readonly bufferedAmount: number;
}

/** What a session needs from its router. */
export interface SessionContext {
  /** The realm to join, or undefined when there is none by that name. */
  realm(name: string): Realm | undefined;
  authenticators(realm: Realm): readonly Authenticator[];
  readonly strictUris: boolean;
  /** Events are dropped for a session with more than this many bytes buffered. */
  readonly maxBufferedAmount: number;
  /** How long HELLO to WELCOME may take, ms. */
  readonly authTimeout: number;
  readonly agent: string;
  readonly roles: Dict;
  /** A session ended (left its realm, or never joined one and its transport closed). */
  sessionEnded(session: Session): void;
}

type State = 'idle' | 'authenticating' | 'established' | 'goodbye-sent' | 'closed';

const NO_FEATURES: CalleeFeatures = Object.freeze({ canceling: false, progress: false });

/** WebSocket close codes the router uses (RFC 6455 §7.4.1). */
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_ERROR = 1002;

function stringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function idList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isId);
}

export class Session implements Peer {
  readonly #transport: WampTransport;
  readonly #context: SessionContext;
  readonly #extraTransport: Dict;
  #state: State = 'idle';
  #realm: Realm | null = null;
  #info: SessionInfo | null = null;
  #callee: CalleeFeatures = NO_FEATURES;
  #requestId = 0;
  /** The authentication in progress: its method and, after CHALLENGE, the check of AUTHENTICATE. */
  #auth: { method: string; realm: Realm; session: number; step: AuthStep | null } | null = null;
  #authTimer: NodeJS.Timeout | null = null;
  /** Bumped on every state change that makes a pending async step stale. */
  #generation = 0;
  /** Events dropped because the client did not read fast enough. */
  dropped = 0;

  constructor(transport: WampTransport, context: SessionContext, transportDetails: Dict = {}) {
    this.#transport = transport;
    this.#context = context;
    this.#extraTransport = transportDetails;
  }

  get serializer(): Serializer {
    return this.#transport.serializer;
  }

  get info(): SessionInfo {
    if (this.#info === null) throw new Error('The session has not joined a realm');
    return this.#info;
  }

  /** The joined session's details, or null before WELCOME and after it left. */
  get details(): SessionInfo | null {
    return this.#state === 'established' ? this.#info : null;
  }

  get callee(): CalleeFeatures {
    return this.#callee;
  }

  get state(): State {
    return this.#state;
  }

  // ---- Output ----

  send(message: unknown[], binary: boolean): void {
    if (this.#state === 'closed') return;
    let data: Buffer;
    try {
      data = this.#transport.serializer.encode(message, binary);
    } catch (error) {
      // Only a payload this serializer cannot hold gets here (a bigint beyond 64 bits in JSON...).
      this.#abort(Uri.PROTOCOL_VIOLATION, `could not encode a message: ${(error as Error).message}`, CLOSE_PROTOCOL_ERROR);
      return;
    }
    this.#transport.send(data);
  }

  sendEvent(event: SharedMessage): boolean {
    if (this.#state !== 'established') return false;
    if (this.#transport.bufferedAmount > this.#context.maxBufferedAmount) {
      this.dropped++;
      return false;
    }
    this.#transport.sendShared(event);
    return true;
  }

  nextRequestId(): number {
    // Session scope IDs count from 1 and wrap after 2^53 (Basic Profile, "IDs").
    this.#requestId = this.#requestId >= 2 ** 53 ? 1 : this.#requestId + 1;
    return this.#requestId;
  }

  // ---- Input ----

  /** One WebSocket message from the client. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.#state === 'closed') return;
    const serializer = this.#transport.serializer;
    if (isBinary !== serializer.binary) {
      // Basic Profile, "WebSocket Transport": wamp.2.json is text only, wamp.2.msgpack binary only.
      this.#violation(`${serializer.protocol} messages are ${serializer.binary ? 'binary' : 'text'} frames`);
      return;
    }
    const info = { binary: false };
    let decoded: unknown;
    try {
      decoded = serializer.decode(data, info);
    } catch (error) {
      this.#violation(`undecodable ${serializer.id} message: ${(error as Error).message}`);
      return;
    }
    this.receiveMessage(decoded, info.binary);
  }

  /** One decoded message (`binary`: it holds Buffers). */
  receiveMessage(decoded: unknown, binary = false): void {
    if (this.#state === 'closed') return;
    let message: ClientMessage;
    try {
      message = parseClientMessage(decoded, binary);
    } catch (error) {
      if (error instanceof ProtocolViolation) {
        this.#violation(error.message);
        return;
      }
      throw error;
    }
    try {
      this.#dispatch(message);
    } catch (error) {
      // A bug of the router's, not the client's: end this session rather than the process.
      this.#abort(Uri.PROTOCOL_VIOLATION, `the router failed on this message: ${(error as Error)?.message}`, CLOSE_PROTOCOL_ERROR);
    }
  }

  /** The transport is gone: leave the realm without a word. */
  transportClosed(): void {
    this.#end();
  }

  /** The router shuts down: GOODBYE wamp.close.system_shutdown (or ABORT before WELCOME). */
  shutdown(message = 'the router is shutting down'): void {
    if (this.#state === 'established') this.#goodbye(Uri.SYSTEM_SHUTDOWN, message);
    else if (this.#state === 'authenticating') this.#abort(Uri.SYSTEM_SHUTDOWN, message, CLOSE_NORMAL);
  }

  /** wamp.session.kill: GOODBYE with `reason`; the session leaves its realm at once. */
  kill(reason: string, message: string | undefined): void {
    if (this.#state === 'established') this.#goodbye(reason, message);
  }

  // ---- The life cycle ----

  #dispatch(message: ClientMessage): void {
    switch (this.#state) {
      case 'idle':
        if (message.type === Code.HELLO) return this.#hello(message.realm, message.details);
        if (message.type === Code.ABORT) return this.#closeTransport(CLOSE_NORMAL, 'ABORT');
        return this.#violation(`${messageName(message.type)} before HELLO`);
      case 'authenticating':
        if (message.type === Code.AUTHENTICATE) return this.#authenticate(message.signature, message.extra);
        if (message.type === Code.ABORT) return this.#closeTransport(CLOSE_NORMAL, 'ABORT');
        return this.#violation(`${messageName(message.type)} during authentication`);
      case 'goodbye-sent':
        // Basic Profile, state chart (14): while shutting down, anything but GOODBYE is ignored.
        if (message.type === Code.GOODBYE) this.#state = 'idle';
        else if (message.type === Code.ABORT) this.#closeTransport(CLOSE_NORMAL, 'ABORT');
        return;
      case 'established':
        return this.#established(message);
      default:
        return;
    }
  }

  #hello(realmName: unknown, details: Dict): void {
    const context = this.#context;
    if (!isValidUri(realmName, context.strictUris)) return this.#abort(Uri.INVALID_URI, 'the realm must be a URI', CLOSE_NORMAL);
    const realm = context.realm(realmName);
    if (realm === undefined) return this.#abort(Uri.NO_SUCH_REALM, `no realm ${realmName}`, CLOSE_NORMAL);
    const roles = details.roles;
    // Basic Profile, HELLO: a client announces at least one role, each a dict.
    if (!isDict(roles) || !['publisher', 'subscriber', 'caller', 'callee'].some((role) => isDict(roles[role]))) {
      return this.#violation('HELLO.Details.roles must announce at least one of publisher, subscriber, caller, callee');
    }
    const callee = roles.callee;
    const features = isDict(callee) && isDict(callee.features) ? callee.features : {};
    this.#callee = { canceling: features.call_canceling === true, progress: features.progressive_call_results === true };
    const asked = details.authmethods === undefined ? ['anonymous'] : details.authmethods;
    if (!stringList(asked)) return this.#violation('HELLO.Details.authmethods must be a list of strings');
    const offered = context.authenticators(realm);
    let authenticator: Authenticator | undefined;
    for (const method of asked) {
      authenticator = offered.find((candidate) => candidate.method === method);
      if (authenticator !== undefined) break;
    }
    if (authenticator === undefined) {
      return this.#abort(Uri.NO_MATCHING_AUTH_METHOD, `this realm offers ${offered.map((a) => a.method).join(', ') || 'no method'}`, CLOSE_NORMAL);
    }
    const session = randomId();
    const request: AuthRequest = {
      realm: realm.name,
      authid: typeof details.authid === 'string' ? details.authid : undefined,
      details,
      session,
      transport: this.#extraTransport,
    };
    this.#state = 'authenticating';
    const generation = ++this.#generation;
    this.#auth = { method: authenticator.method, realm, session, step: null };
    this.#authTimer = setTimeout(() => this.#abort(Uri.AUTHENTICATION_FAILED, 'authentication took too long', CLOSE_NORMAL), context.authTimeout);
    const chosen = authenticator;
    this.#settle(generation, () => chosen.hello(request), (step) => {
      if ('welcome' in step) return this.#welcome(step.welcome);
      this.#auth!.step = step;
      this.send([Code.CHALLENGE, this.#auth!.method, step.challenge], false);
    });
  }

  #authenticate(signature: string, extra: Dict): void {
    const step = this.#auth?.step;
    if (step === null || step === undefined || 'welcome' in step) return this.#violation('AUTHENTICATE without a CHALLENGE');
    this.#auth!.step = null; // one answer per challenge
    const generation = this.#generation;
    this.#settle(generation, () => step.authenticate(signature, extra), (identity) => this.#welcome(identity));
  }

  /** Runs a (possibly async) authentication step; ignores its outcome if the session moved on. */
  #settle<T>(generation: number, run: () => T | Promise<T>, then: (value: T) => void): void {
    let pending: Promise<T>;
    try {
      pending = Promise.resolve(run());
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => {
        if (generation === this.#generation && this.#state === 'authenticating') then(value);
      },
      (error: unknown) => {
        if (generation !== this.#generation || this.#state !== 'authenticating') return;
        if (error instanceof AuthRefusal) this.#abort(error.reason, error.message, CLOSE_NORMAL);
        else this.#abort(Uri.AUTHENTICATION_FAILED, 'the authenticator failed', CLOSE_NORMAL);
      },
    );
  }

  #welcome(identity: Identity): void {
    const auth = this.#auth!;
    const realm = auth.realm;
    if (typeof identity?.authrole !== 'string' || typeof identity.authid !== 'string') {
      return this.#abort(Uri.AUTHENTICATION_FAILED, 'the authenticator returned no authid/authrole', CLOSE_NORMAL);
    }
    if (!realm.hasRole(identity.authrole)) return this.#abort(Uri.NO_SUCH_ROLE, `no role ${identity.authrole} in realm ${realm.name}`, CLOSE_NORMAL);
    this.#clearAuth();
    this.#info = Object.freeze({
      session: auth.session,
      realm: realm.name,
      authid: identity.authid,
      authrole: identity.authrole,
      authmethod: auth.method,
      authprovider: identity.authprovider ?? 'static',
      transport: this.#extraTransport,
    });
    this.#state = 'established';
    this.#realm = realm;
    const details: Dict = {
      agent: this.#context.agent,
      roles: this.#context.roles,
      realm: realm.name,
      authid: identity.authid,
      authrole: identity.authrole,
      authmethod: auth.method,
      authprovider: this.#info.authprovider,
    };
    if (identity.authextra !== undefined) details.authextra = identity.authextra;
    this.send([Code.WELCOME, auth.session, details], false);
    realm.join(this);
  }

  #clearAuth(): void {
    if (this.#authTimer !== null) clearTimeout(this.#authTimer);
    this.#authTimer = null;
    this.#auth = null;
  }

  #goodbye(reason: string, message: string | undefined): void {
    this.send([Code.GOODBYE, message === undefined ? {} : { message }, reason], false);
    this.#leaveRealm();
    this.#state = 'goodbye-sent';
  }

  /** ABORT, then close the transport (WAMP Basic Profile "Protocol Errors": SHOULD drop it). */
  #abort(reason: string, message: string, code: number): void {
    if (this.#state === 'closed') return;
    this.send([Code.ABORT, { message }, reason], false);
    this.#closeTransport(code, reason === Uri.PROTOCOL_VIOLATION ? 'WAMP protocol violation' : 'WAMP session aborted');
  }

  #violation(message: string): void {
    this.#abort(Uri.PROTOCOL_VIOLATION, message, CLOSE_PROTOCOL_ERROR);
  }

  #closeTransport(code: number, reason: string): void {
    this.#end();
    try {
      this.#transport.close(code, reason);
    } catch {
      // already closed
    }
  }

  #leaveRealm(): void {
    const realm = this.#realm;
    this.#realm = null;
    if (realm !== null) realm.leave(this);
  }

  /** Leaves the realm and stops everything, once. */
  #end(): void {
    if (this.#state === 'closed') return;
    this.#generation++;
    this.#clearAuth();
    this.#leaveRealm();
    this.#state = 'closed';
    this.#context.sessionEnded(this);
  }

  // ---- An established session ----

  #established(message: ClientMessage): void {
    const realm = this.#realm!;
    switch (message.type) {
      case Code.HELLO:
        return this.#violation('HELLO after the session was established');
      case Code.AUTHENTICATE:
        return this.#violation('AUTHENTICATE after the session was established');
      case Code.GOODBYE:
        this.send([Code.GOODBYE, {}, Uri.GOODBYE_AND_OUT], false);
        this.#leaveRealm();
        this.#state = 'idle';
        return;
      case Code.ABORT:
        return this.#closeTransport(CLOSE_NORMAL, 'ABORT');
      case Code.ERROR:
        // Only a callee answers with ERROR, and only to an INVOCATION (Basic Profile, "Protocol Errors").
        if (message.requestType !== Code.INVOCATION) return this.#violation(`ERROR for request type ${message.requestType}`);
        if (!isValidUri(message.error, false)) return this.#violation('ERROR.Error must be a URI');
        if (realm.dealer.error(this, message.request, message.error, message.payload) === 'violation') {
          return this.#violation(`ERROR for INVOCATION ${message.request}, which was never sent`);
        }
        return;
      case Code.YIELD:
        if (realm.dealer.yield(this, message.request, message.options.progress === true, message.payload) === 'violation') {
          return this.#violation(`YIELD for INVOCATION ${message.request}, which was never sent`);
        }
        return;
      case Code.PUBLISH:
        return this.#publish(realm, message.request, message.options, message.topic, message.payload);
      case Code.SUBSCRIBE:
        return this.#subscribe(realm, message.request, message.options, message.topic);
      case Code.UNSUBSCRIBE:
        if (realm.broker.unsubscribe(this, message.subscription)) this.send([Code.UNSUBSCRIBED, message.request], false);
        else this.#error(Code.UNSUBSCRIBE, message.request, Uri.NO_SUCH_SUBSCRIPTION, `no subscription ${message.subscription}`);
        return;
      case Code.REGISTER:
        return this.#register(realm, message.request, message.options, message.procedure);
      case Code.UNREGISTER:
        if (realm.dealer.unregister(this, message.registration)) this.send([Code.UNREGISTERED, message.request], false);
        else this.#error(Code.UNREGISTER, message.request, Uri.NO_SUCH_REGISTRATION, `no registration ${message.registration}`);
        return;
      case Code.CALL:
        return this.#call(realm, message.request, message.options, message.procedure, message.payload);
      case Code.CANCEL: {
        const mode = message.options.mode;
        realm.dealer.cancel(this, message.request, mode === 'skip' || mode === 'kill' ? mode : ('killnowait' as CancelMode));
        return;
      }
    }
  }

  #error(requestType: number, request: number, error: string, message: string): void {
    this.send([Code.ERROR, requestType, request, {}, error, [message]], false);
  }

  /** The URI check and authorization every request starts with; sends the ERROR and returns false on failure. */
  #admit(realm: Realm, type: Code, request: number, uri: unknown, match: MatchPolicy, action: 'publish' | 'subscribe' | 'register' | 'call'): uri is string {
    if (!isValidUri(uri, this.#context.strictUris, match)) {
      this.#error(type, request, Uri.INVALID_URI, `not a valid ${match === 'exact' ? 'URI' : `${match} pattern`}: ${String(uri).slice(0, 100)}`);
      return false;
    }
    if ((action === 'publish' || action === 'register') && isReservedUri(uri)) {
      this.#error(type, request, Uri.INVALID_URI, 'URIs starting with "wamp." are reserved for the protocol');
      return false;
    }
    const verdict = realm.authorize(this, action, uri);
    if (verdict === 'allowed') return true;
    if (verdict === 'failed') this.#error(type, request, Uri.AUTHORIZATION_FAILED, `the authorizer failed for ${action} on ${uri}`);
    else this.#error(type, request, Uri.NOT_AUTHORIZED, `${this.info.authrole} may not ${action} ${uri}`);
    return false;
  }

  #matchPolicy(type: Code, request: number, options: Dict): MatchPolicy | null {
    const match = options.match ?? 'exact';
    if (match === 'exact' || match === 'prefix' || match === 'wildcard') return match;
    this.#error(type, request, Uri.INVALID_ARGUMENT, `unknown match policy ${JSON.stringify(match)}`);
    return null;
  }

  #subscribe(realm: Realm, request: number, options: Dict, topic: unknown): void {
    const match = this.#matchPolicy(Code.SUBSCRIBE, request, options);
    if (match === null || !this.#admit(realm, Code.SUBSCRIBE, request, topic, match, 'subscribe')) return;
    const subscription = realm.broker.subscribe(this, topic, match);
    this.send([Code.SUBSCRIBED, request, subscription.id], false);
  }

  #publish(realm: Realm, request: number, options: Dict, topic: unknown, payload: Payload): void {
    const acknowledge = options.acknowledge === true;
    // Without acknowledge a failed publication is not answered (Basic Profile, "Publish ERROR").
    const refuse = (error: string, message: string): void => {
      if (acknowledge) this.#error(Code.PUBLISH, request, error, message);
    };
    if (!isValidUri(topic, this.#context.strictUris)) return refuse(Uri.INVALID_URI, `not a valid URI: ${String(topic).slice(0, 100)}`);
    if (isReservedUri(topic)) return refuse(Uri.INVALID_URI, 'URIs starting with "wamp." are reserved for the protocol');
    const verdict = realm.authorize(this, 'publish', topic);
    if (verdict !== 'allowed') {
      return refuse(verdict === 'failed' ? Uri.AUTHORIZATION_FAILED : Uri.NOT_AUTHORIZED, `${this.info.authrole} may not publish ${topic}`);
    }
    const lists: Record<string, readonly unknown[] | undefined> = {};
    for (const name of ['exclude', 'eligible', 'exclude_authid', 'eligible_authid', 'exclude_authrole', 'eligible_authrole']) {
      const value = options[name];
      if (value === undefined) continue;
      if (!(name.endsWith('_authid') || name.endsWith('_authrole') ? stringList(value) : idList(value))) {
        return refuse(Uri.INVALID_ARGUMENT, `PUBLISH.Options.${name} must be a list of ${name.includes('_auth') ? 'strings' : 'session IDs'}`);
      }
      lists[name] = value as unknown[];
    }
    const info = this.info;
    const event: EventData = {
      publication: randomId(),
      topic,
      args: payload.args,
      kwargs: payload.kwargs,
      binary: payload.binary,
      publisher: info.session,
      authid: info.authid,
      authrole: info.authrole,
      disclose: options.disclose_me === true,
      excludeMe: options.exclude_me !== false,
      exclude: lists.exclude as number[] | undefined,
      eligible: lists.eligible as number[] | undefined,
      excludeAuthid: lists.exclude_authid as string[] | undefined,
      eligibleAuthid: lists.eligible_authid as string[] | undefined,
      excludeAuthrole: lists.exclude_authrole as string[] | undefined,
      eligibleAuthrole: lists.eligible_authrole as string[] | undefined,
    };
    realm.broker.publish(event);
    if (acknowledge) this.send([Code.PUBLISHED, request, event.publication], false);
  }

  #register(realm: Realm, request: number, options: Dict, procedure: unknown): void {
    const match = this.#matchPolicy(Code.REGISTER, request, options);
    if (match === null) return;
    const invoke = options.invoke ?? 'single';
    if (invoke !== 'single' && invoke !== 'roundrobin' && invoke !== 'random' && invoke !== 'first' && invoke !== 'last') {
      return this.#error(Code.REGISTER, request, Uri.INVALID_ARGUMENT, `unknown invocation policy ${JSON.stringify(invoke)}`);
    }
    if (!this.#admit(realm, Code.REGISTER, request, procedure, match, 'register')) return;
    const outcome = realm.dealer.register(this, procedure, match, invoke as InvokePolicy, options.disclose_caller === true);
    if (typeof outcome === 'string') {
      this.#error(Code.REGISTER, request, outcome, `${procedure} is registered already${invoke === 'single' ? '' : ' with another invocation policy'}`);
    } else {
      this.send([Code.REGISTERED, request, outcome.id], false);
    }
  }

  #call(realm: Realm, request: number, options: Dict, procedure: unknown, payload: Payload): void {
    if (!this.#admit(realm, Code.CALL, request, procedure, 'exact', 'call')) return;
    const timeout = options.timeout ?? 0;
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0) {
      return this.#error(Code.CALL, request, Uri.INVALID_ARGUMENT, 'CALL.Options.timeout must be a non-negative integer (ms)');
    }
    if (isReservedUri(procedure)) {
      if (!realm.metaCall(this, request, procedure, payload)) this.#error(Code.CALL, request, Uri.NO_SUCH_PROCEDURE, `no procedure ${procedure}`);
      return;
    }
    realm.dealer.call(this, request, procedure, { timeout, receiveProgress: options.receive_progress === true, discloseMe: options.disclose_me === true }, payload);
  }
}

// The dealer of one realm on one node (WAMP Basic Profile "Remote Procedure Calls"; Advanced
// Profile: pattern-based and shared registrations, caller identification, progressive call
// results, call timeouts and call canceling).
//
// A procedure is one (URI, match) pair. This node's callees of it form one Registration (one ID,
// shared like a subscription's); other nodes' callees are known from their announcements through
// the cluster. A CALL picks the best-matching procedure (exact, then longest prefix, then the
// best wildcard), then one callee by the procedure's invocation policy over all callees, local and
// remote, in registration order. A local callee gets an INVOCATION; a remote one gets the call
// through the cluster, and its (progressive) results and errors come back the same way.
//
// Every call ends exactly once for the caller: RESULT, ERROR from the callee, or an ERROR from the
// dealer (canceled, timeout, the callee or its node gone). Late YIELDs and ERRORs of an invocation
// that was given up (cancel with skip/killnowait, timeout) are dropped.

import { TopicRegistry, WAMP_TOPICS } from '../pubsub/index.js';
import { comparePatterns, wildcardRuns } from './match.js';
import { Code, MAX_URI_LENGTH, Uri, randomId, withPayload, type Dict, type MatchPolicy, type Payload } from './protocol.js';
import type { CancelMode, ClusterLink, InvokePolicy, Peer, ProcedureAnnouncement, RemoteCall, RemoteCallee, RemoteOrigin, RemoteReply } from './types.js';

interface LocalCallee {
  readonly peer: Peer;
  readonly since: number;
  readonly discloseCaller: boolean;
}

export class Registration {
  readonly callees: LocalCallee[] = [];

  constructor(
    readonly id: number,
    readonly procedure: Procedure,
  ) {}
}

export class Procedure {
  readonly runs: readonly number[] | undefined;
  registration: Registration | null = null;
  /** Other nodes' callees, by node. */
  readonly remote = new Map<string, readonly RemoteCallee[]>();
  /** The round-robin position. */
  next = 0;

  constructor(
    readonly uri: string,
    readonly match: MatchPolicy,
    public invoke: InvokePolicy,
  ) {
    this.runs = match === 'wildcard' ? wildcardRuns(uri) : undefined;
  }

  get empty(): boolean {
    return (this.registration === null || this.registration.callees.length === 0) && this.remote.size === 0;
  }
}

/** A call made by a session on this node. */
interface PendingCall {
  readonly id: number;
  readonly caller: Peer;
  readonly request: number;
  readonly receiveProgress: boolean;
  readonly timeout: number;
  timer: NodeJS.Timeout | null;
  /** The invocation on this node, or the node the call went to. */
  target: Invocation | string;
  /** The callee supports INTERRUPT (for a remote callee: its node decides). */
  readonly canceling: boolean;
  /** A 'kill' cancel was sent: the callee's answer ends the call. */
  killed: boolean;
}

/** An INVOCATION sent to a callee on this node. */
interface Invocation {
  readonly id: number;
  readonly callee: Peer;
  readonly registration: Registration;
  readonly origin: PendingCall | RemoteOrigin;
  readonly progress: boolean;
}

interface PeerState {
  readonly registrations: Map<number, Registration>;
  readonly invocations: Map<number, Invocation>;
  readonly calls: Map<number, PendingCall>;
  /** The highest INVOCATION request ID sent: YIELD/ERROR for an ID above it is a protocol violation. */
  lastInvocation: number;
}

export interface DealerStats {
  calls: number;
  /** Calls sent to a callee on another node. */
  remoteCalls: number;
}

export interface CallOptions {
  readonly timeout: number;
  readonly receiveProgress: boolean;
  readonly discloseMe: boolean;
}

/** How a YIELD or callee ERROR was taken: 'violation' for a request ID never sent. */
export type AnswerOutcome = 'ok' | 'violation';

const keyOf = (uri: string, match: MatchPolicy): string => `${match}\u0000${uri}`;

let callIds = 0;

export class Dealer {
  readonly #realm: string;
  readonly #cluster: ClusterLink | null;
  readonly #stats: DealerStats;
  readonly #procedures = new Map<string, Procedure>();
  readonly #registry = new TopicRegistry<Procedure>({ syntax: WAMP_TOPICS, maxLength: MAX_URI_LENGTH, maxLevels: MAX_URI_LENGTH });
  readonly #peers = new Map<Peer, PeerState>();
  /** Calls from this node waiting for another node, by call ID. */
  readonly #remoteCalls = new Map<number, PendingCall>();
  /** Invocations here for calls from other nodes, by `node id`. */
  readonly #remoteInvocations = new Map<string, Invocation>();
  /** Local sessions by ID, to find a remote call's callee. */
  readonly #sessions: ReadonlyMap<number, Peer>;

  constructor(realm: string, cluster: ClusterLink | null, stats: DealerStats, sessions: ReadonlyMap<number, Peer>) {
    this.#realm = realm;
    this.#cluster = cluster;
    this.#stats = stats;
    this.#sessions = sessions;
  }

  #state(peer: Peer): PeerState {
    let state = this.#peers.get(peer);
    if (state === undefined) {
      state = { registrations: new Map(), invocations: new Map(), calls: new Map(), lastInvocation: 0 };
      this.#peers.set(peer, state);
    }
    return state;
  }

  // ---- Registrations ----

  /** Registers `peer` as a callee; an error URI when the procedure exists with another policy. */
  register(peer: Peer, uri: string, match: MatchPolicy, invoke: InvokePolicy, discloseCaller: boolean): Registration | string {
    const key = keyOf(uri, match);
    let procedure = this.#procedures.get(key);
    if (procedure !== undefined && !procedure.empty) {
      // Advanced Profile, shared registration: 'single' admits one callee; the others admit
      // callees with the same policy only.
      if (procedure.invoke === 'single' || invoke !== procedure.invoke) return Uri.PROCEDURE_ALREADY_EXISTS;
      if (procedure.registration?.callees.some((callee) => callee.peer === peer)) return Uri.PROCEDURE_ALREADY_EXISTS;
    }
    if (procedure === undefined) {
      procedure = new Procedure(uri, match, invoke);
      this.#procedures.set(key, procedure);
      this.#registry.subscribe(procedure, uri, match === 'prefix' ? { match: 'prefix' } : undefined);
    }
    procedure.invoke = invoke;
    const registration = (procedure.registration ??= new Registration(randomId(), procedure));
    // A wall-clock time with sub-millisecond steps: other nodes order callees by it.
    registration.callees.push({ peer, since: performance.timeOrigin + performance.now(), discloseCaller });
    this.#state(peer).registrations.set(registration.id, registration);
    this.#announce(procedure);
    return registration;
  }

  unregister(peer: Peer, id: number): boolean {
    const state = this.#peers.get(peer);
    const registration = state?.registrations.get(id);
    if (registration === undefined) return false;
    state!.registrations.delete(id);
    this.#removeCallee(registration, peer);
    return true;
  }

  #removeCallee(registration: Registration, peer: Peer): void {
    const index = registration.callees.findIndex((callee) => callee.peer === peer);
    if (index >= 0) registration.callees.splice(index, 1);
    const procedure = registration.procedure;
    if (registration.callees.length === 0) procedure.registration = null;
    this.#announce(procedure);
    this.#forgetIfEmpty(procedure);
  }

  #forgetIfEmpty(procedure: Procedure): void {
    if (!procedure.empty) return;
    const key = keyOf(procedure.uri, procedure.match);
    if (this.#procedures.get(key) !== procedure) return;
    this.#procedures.delete(key);
    this.#registry.unsubscribe(procedure, procedure.uri, procedure.match === 'prefix' ? { match: 'prefix' } : undefined);
  }

  #announce(procedure: Procedure): void {
    if (this.#cluster === null) return;
    const callees = procedure.registration?.callees.map((callee) => ({ session: callee.peer.info.session, since: callee.since })) ?? [];
    this.#cluster.announce({ realm: this.#realm, uri: procedure.uri, match: procedure.match, invoke: procedure.invoke, callees });
  }

  /** This node's callees, for a node that asks for the whole state. */
  announcements(): ProcedureAnnouncement[] {
    const out: ProcedureAnnouncement[] = [];
    for (const procedure of this.#procedures.values()) {
      const callees = procedure.registration?.callees;
      if (callees === undefined || callees.length === 0) continue;
      out.push({
        realm: this.#realm,
        uri: procedure.uri,
        match: procedure.match,
        invoke: procedure.invoke,
        callees: callees.map((callee) => ({ session: callee.peer.info.session, since: callee.since })),
      });
    }
    return out;
  }

  /** Another node's callees of a procedure (none: it has no callee left). */
  remoteAnnouncement(node: string, announcement: ProcedureAnnouncement): void {
    const key = keyOf(announcement.uri, announcement.match);
    let procedure = this.#procedures.get(key);
    if (announcement.callees.length === 0) {
      if (procedure === undefined) return;
      procedure.remote.delete(node);
      this.#forgetIfEmpty(procedure);
      return;
    }
    if (procedure === undefined) {
      procedure = new Procedure(announcement.uri, announcement.match, announcement.invoke);
      this.#procedures.set(key, procedure);
      this.#registry.subscribe(procedure, announcement.uri, announcement.match === 'prefix' ? { match: 'prefix' } : undefined);
    } else if (procedure.registration === null && procedure.remote.size === 0) {
      procedure.invoke = announcement.invoke;
    }
    procedure.remote.set(node, announcement.callees);
  }

  /** Everything known from a node: its procedures go, its calls fail, calls from it are dropped. */
  nodeGone(node: string): void {
    for (const procedure of [...this.#procedures.values()]) {
      if (procedure.remote.delete(node)) this.#forgetIfEmpty(procedure);
    }
    for (const call of [...this.#remoteCalls.values()]) {
      if (call.target === node) this.#finishWithError(call, Uri.CANCELED, ['the router node of the callee is gone']);
    }
    for (const [key, invocation] of [...this.#remoteInvocations]) {
      if ((invocation.origin as RemoteOrigin).node !== node) continue;
      this.#remoteInvocations.delete(key);
      this.#interrupt(invocation, 'killnowait');
      this.#dropInvocation(invocation);
    }
  }

  /** Drops what a node told us about its callees, before it sends its whole state again. */
  forgetNodeProcedures(node: string): void {
    for (const procedure of [...this.#procedures.values()]) {
      if (procedure.remote.delete(node)) this.#forgetIfEmpty(procedure);
    }
  }

  // ---- Calls ----

  /** The procedure a call to `uri` goes to (Advanced Profile, "Calls matching multiple registrations"). */
  #lookup(uri: string): Procedure | undefined {
    const exact = this.#procedures.get(keyOf(uri, 'exact'));
    if (exact !== undefined) return exact;
    let best: Procedure | undefined;
    for (const procedure of this.#registry.match(uri)) {
      if (best === undefined || comparePatterns(procedure, best) < 0) best = procedure;
    }
    return best;
  }

  call(caller: Peer, request: number, uri: string, options: CallOptions, payload: Payload): void {
    this.#stats.calls++;
    const procedure = this.#lookup(uri);
    if (procedure === undefined) {
      caller.send([Code.ERROR, Code.CALL, request, {}, Uri.NO_SUCH_PROCEDURE, [`no callee for ${uri}`]], false);
      return;
    }
    const pick = this.#pick(procedure);
    const state = this.#state(caller);
    if (state.calls.has(request)) {
      // A request ID still in use: the caller's own bookkeeping is broken; answer, do not mix the calls up.
      caller.send([Code.ERROR, Code.CALL, request, {}, Uri.INVALID_ARGUMENT, ['a call with this request ID is pending']], false);
      return;
    }
    const call: PendingCall = {
      id: ++callIds,
      caller,
      request,
      receiveProgress: options.receiveProgress,
      timeout: options.timeout,
      timer: null,
      target: '',
      canceling: pick.local === null || pick.local.peer.callee.canceling,
      killed: false,
    };
    state.calls.set(request, call);
    this.#arm(call);
    if (pick.local !== null) {
      call.target = this.#invoke(pick.local, procedure.registration!, call, uri, caller, options.discloseMe, options.receiveProgress, payload);
      return;
    }
    this.#stats.remoteCalls++;
    call.target = pick.node;
    this.#remoteCalls.set(call.id, call);
    this.#cluster!.call(pick.node, {
      id: call.id,
      realm: this.#realm,
      uri: procedure.uri,
      match: procedure.match,
      callee: pick.session,
      procedure: uri,
      caller: caller.info.session,
      callerAuthid: caller.info.authid,
      callerAuthrole: caller.info.authrole,
      discloseMe: options.discloseMe,
      receiveProgress: options.receiveProgress,
      args: payload.args,
      kwargs: payload.kwargs,
      binary: payload.binary,
    });
  }

  /** One callee of `procedure` by its invocation policy, over local and remote callees in registration order. */
  #pick(procedure: Procedure): { local: LocalCallee; node: ''; session: 0 } | { local: null; node: string; session: number } {
    const local = procedure.registration?.callees ?? [];
    if (procedure.remote.size === 0) return { local: choose(local, procedure), node: '', session: 0 };
    if (procedure.invoke === 'single' && local.length > 0) return { local: local[0]!, node: '', session: 0 };
    type Candidate = { since: number; session: number; local: LocalCallee | null; node: string };
    const all: Candidate[] = local.map((callee) => ({ since: callee.since, session: callee.peer.info.session, local: callee, node: '' }));
    for (const [node, callees] of procedure.remote) {
      for (const callee of callees) all.push({ since: callee.since, session: callee.session, local: null, node });
    }
    all.sort((a, b) => a.since - b.since || a.session - b.session);
    const chosen = choose(all, procedure);
    return chosen.local !== null ? { local: chosen.local, node: '', session: 0 } : { local: null, node: chosen.node, session: chosen.session };
  }

  #invoke(
    callee: LocalCallee,
    registration: Registration,
    origin: PendingCall | RemoteOrigin,
    procedure: string,
    caller: { info: { session: number; authid: string; authrole: string } },
    discloseMe: boolean,
    receiveProgress: boolean,
    payload: Payload,
  ): Invocation {
    const peer = callee.peer;
    const state = this.#state(peer);
    const id = peer.nextRequestId();
    state.lastInvocation = id;
    // Progressive results only when the callee announced them (see docs/wamp.md on call_canceling).
    const progress = receiveProgress && peer.callee.progress;
    const invocation: Invocation = { id, callee: peer, registration, origin, progress };
    state.invocations.set(id, invocation);
    const details: Dict = {};
    // Advanced Profile, pattern-based registration: "MUST supply the original CALL.Procedure".
    if (registration.procedure.match !== 'exact') details.procedure = procedure;
    if (discloseMe || callee.discloseCaller) {
      details.caller = caller.info.session;
      details.caller_authid = caller.info.authid;
      details.caller_authrole = caller.info.authrole;
    }
    if (progress) details.receive_progress = true;
    peer.send(withPayload([Code.INVOCATION, id, registration.id, details], payload.args, payload.kwargs), payload.binary);
    return invocation;
  }

  /** Dealer-side call timeout (Advanced Profile, "Call Timeouts"); progressive results re-arm it. */
  #arm(call: PendingCall): void {
    if (call.timeout <= 0) return;
    if (call.timer !== null) clearTimeout(call.timer);
    call.timer = setTimeout(() => {
      call.timer = null;
      // "The cancellation mode is implicitly killnowait if the Callee supports call cancellation, otherwise skip."
      this.#giveUp(call, call.canceling ? 'killnowait' : 'skip');
      this.#finishWithError(call, Uri.TIMEOUT, [`no result within ${call.timeout} ms`]);
    }, call.timeout);
  }

  /** CANCEL from the caller (Advanced Profile, "Call Canceling"). Unknown request IDs are ignored. */
  cancel(caller: Peer, request: number, mode: CancelMode): void {
    const call = this.#peers.get(caller)?.calls.get(request);
    if (call === undefined || call.killed) return;
    const effective = mode === 'kill' && !call.canceling ? 'skip' : mode;
    if (effective === 'kill') {
      call.killed = true;
      this.#giveUp(call, 'kill');
      return;
    }
    this.#giveUp(call, effective);
    this.#finishWithError(call, Uri.CANCELED, ['canceled by the caller']);
  }

  /**
   * Stops the callee side of a call: INTERRUPT for kill and killnowait (when the callee supports
   * it), nothing for skip; the invocation is dropped unless mode is 'kill'.
   */
  #giveUp(call: PendingCall, mode: CancelMode): void {
    const target = call.target;
    if (typeof target === 'string') {
      this.#cluster!.cancel(target, this.#realm, call.id, mode);
      return;
    }
    if (mode !== 'skip') this.#interrupt(target, mode);
    if (mode !== 'kill') this.#dropInvocation(target);
  }

  #interrupt(invocation: Invocation, mode: CancelMode): void {
    if (invocation.callee.callee.canceling) invocation.callee.send([Code.INTERRUPT, invocation.id, { mode }], false);
  }

  #dropInvocation(invocation: Invocation): void {
    this.#peers.get(invocation.callee)?.invocations.delete(invocation.id);
  }

  /** YIELD from a callee. */
  yield(callee: Peer, request: number, progress: boolean, payload: Payload): AnswerOutcome {
    const state = this.#peers.get(callee);
    const invocation = state?.invocations.get(request);
    if (invocation === undefined) return state !== undefined && request <= state.lastInvocation ? 'ok' : 'violation';
    if (progress) {
      // A callee that was not asked for progress must not send it; drop it rather than confuse the caller.
      if (invocation.progress) this.#answer(invocation, 'progress', '', payload);
      return 'ok';
    }
    state!.invocations.delete(request);
    this.#answer(invocation, 'result', '', payload);
    return 'ok';
  }

  /** ERROR from a callee for an invocation. */
  error(callee: Peer, request: number, error: string, payload: Payload): AnswerOutcome {
    const state = this.#peers.get(callee);
    const invocation = state?.invocations.get(request);
    if (invocation === undefined) return state !== undefined && request <= state.lastInvocation ? 'ok' : 'violation';
    state!.invocations.delete(request);
    this.#answer(invocation, 'error', error, payload);
    return 'ok';
  }

  #answer(invocation: Invocation, kind: RemoteReply['kind'], error: string, payload: Payload): void {
    const origin = invocation.origin;
    if ('node' in origin) {
      if (kind !== 'progress') this.#remoteInvocations.delete(`${origin.node} ${origin.id}`);
      this.#cluster!.reply(origin.node, this.#realm, { id: origin.id, kind, error, args: payload.args, kwargs: payload.kwargs, binary: payload.binary });
      return;
    }
    this.#deliver(origin, kind, error, payload);
  }

  /** A result or error reaches the caller. */
  #deliver(call: PendingCall, kind: RemoteReply['kind'], error: string, payload: Payload): void {
    if (kind === 'progress') {
      if (!call.receiveProgress) return;
      this.#arm(call);
      call.caller.send(withPayload([Code.RESULT, call.request, { progress: true }], payload.args, payload.kwargs), payload.binary);
      return;
    }
    this.#end(call);
    if (kind === 'result') {
      call.caller.send(withPayload([Code.RESULT, call.request, {}], payload.args, payload.kwargs), payload.binary);
    } else {
      call.caller.send(withPayload([Code.ERROR, Code.CALL, call.request, {}, error], payload.args, payload.kwargs), payload.binary);
    }
  }

  #finishWithError(call: PendingCall, error: string, args: unknown[]): void {
    if (!this.#end(call)) return;
    call.caller.send([Code.ERROR, Code.CALL, call.request, {}, error, args], false);
  }

  /** Forgets a call; false if it had ended already. */
  #end(call: PendingCall): boolean {
    const calls = this.#peers.get(call.caller)?.calls;
    if (calls?.get(call.request) !== call) return false;
    calls.delete(call.request);
    if (call.timer !== null) clearTimeout(call.timer);
    call.timer = null;
    if (typeof call.target === 'string') this.#remoteCalls.delete(call.id);
    return true;
  }

  // ---- Calls between nodes ----

  /** A call from another node for a callee here. */
  remoteCall(node: string, call: RemoteCall): void {
    const procedure = this.#procedures.get(keyOf(call.uri, call.match));
    const registration = procedure?.registration;
    const fail = (error: string, message: string): void =>
      this.#cluster!.reply(node, this.#realm, { id: call.id, kind: 'error', error, args: [message], kwargs: undefined, binary: false });
    if (registration === null || registration === undefined || registration.callees.length === 0) {
      fail(Uri.NO_SUCH_PROCEDURE, `no callee for ${call.procedure} on this node any more`);
      return;
    }
    // The chosen callee, or (if it left meanwhile) another one of this node by the policy.
    const session = this.#sessions.get(call.callee);
    const callee = registration.callees.find((candidate) => candidate.peer === session) ?? choose(registration.callees, procedure!);
    const caller = { info: { session: call.caller, authid: call.callerAuthid, authrole: call.callerAuthrole } };
    const origin: RemoteOrigin = { node, id: call.id };
    const invocation = this.#invoke(callee, registration, origin, call.procedure, caller, call.discloseMe, call.receiveProgress, call);
    this.#remoteInvocations.set(`${node} ${call.id}`, invocation);
  }

  /** A result or error from another node for a call made here. */
  remoteReply(reply: RemoteReply): void {
    const call = this.#remoteCalls.get(reply.id);
    if (call === undefined) return; // ended already (canceled, timed out)
    this.#deliver(call, reply.kind, reply.error, reply);
  }

  /** A cancel from the caller's node. */
  remoteCancel(node: string, id: number, mode: CancelMode): void {
    const key = `${node} ${id}`;
    const invocation = this.#remoteInvocations.get(key);
    if (invocation === undefined) return;
    if (mode === 'kill' && invocation.callee.callee.canceling) {
      this.#interrupt(invocation, 'kill');
      return;
    }
    this.#remoteInvocations.delete(key);
    if (mode !== 'skip') this.#interrupt(invocation, 'killnowait');
    this.#dropInvocation(invocation);
    // 'kill' on a callee without canceling acts as skip: the caller's node waits for an answer.
    if (mode === 'kill') this.#cluster!.reply(node, this.#realm, { id, kind: 'error', error: Uri.CANCELED, args: ['canceled by the caller'], kwargs: undefined, binary: false });
  }

  // ---- Sessions leaving ----

  /** A session leaves: its registrations go, calls to it fail, its own calls are canceled. */
  leave(peer: Peer): void {
    const state = this.#peers.get(peer);
    if (state === undefined) return;
    this.#peers.delete(peer);
    for (const registration of state.registrations.values()) this.#removeCallee(registration, peer);
    // Basic Profile, "Callee Leaving During an RPC Invocation": ERROR wamp.error.canceled.
    for (const invocation of state.invocations.values()) {
      const origin = invocation.origin;
      if ('node' in origin) {
        this.#remoteInvocations.delete(`${origin.node} ${origin.id}`);
        this.#cluster!.reply(origin.node, this.#realm, { id: origin.id, kind: 'error', error: Uri.CANCELED, args: ['the callee left'], kwargs: undefined, binary: false });
      } else {
        this.#finishWithError(origin, Uri.CANCELED, ['the callee left']);
      }
    }
    // "Caller Leaving During an RPC Invocation": INTERRUPT with killnowait to the callee.
    for (const call of state.calls.values()) {
      if (call.timer !== null) clearTimeout(call.timer);
      call.timer = null;
      if (typeof call.target === 'string') {
        this.#remoteCalls.delete(call.id);
        this.#cluster!.cancel(call.target, this.#realm, call.id, 'killnowait');
      } else if (call.target.callee !== peer) {
        // (A call to its own procedure ended with the invocations above.)
        this.#interrupt(call.target, 'killnowait');
        this.#dropInvocation(call.target);
      }
    }
  }

  /** Pending calls and procedures, for the stats. */
  get size(): { procedures: number; pendingCalls: number } {
    let pendingCalls = 0;
    for (const state of this.#peers.values()) pendingCalls += state.calls.size;
    return { procedures: this.#procedures.size, pendingCalls };
  }
}

/** The invocation policy's choice (Advanced Profile, "Shared Registration"). `list` is in registration order. */
function choose<T>(list: readonly T[], procedure: Procedure): T {
  switch (procedure.invoke) {
    case 'roundrobin':
      return list[procedure.next++ % list.length]!;
    case 'random':
      return list[Math.floor(Math.random() * list.length)]!;
    case 'last':
      return list[list.length - 1]!;
    default:
      return list[0]!; // 'single' and 'first'
  }
}

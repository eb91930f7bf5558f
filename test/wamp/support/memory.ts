// WAMP clients without sockets for the router's unit tests: a fake WebSocket that the router
// serves through router.handle(), with what the router sends decoded into an inbox. Waits are
// bounded and wake on every message the router sends (never on the clock).

import { EventEmitter } from 'node:events';
import type { WampRouter, WampSocket } from '../../../src/wamp/index.js';
import { msgpackDecode, msgpackEncode } from '../../../src/wamp/index.js';

export const HELLO = 1, WELCOME = 2, ABORT = 3, CHALLENGE = 4, AUTHENTICATE = 5, GOODBYE = 6, ERROR = 8;
export const PUBLISH = 16, PUBLISHED = 17, SUBSCRIBE = 32, SUBSCRIBED = 33, UNSUBSCRIBE = 34, UNSUBSCRIBED = 35, EVENT = 36;
export const CALL = 48, CANCEL = 49, RESULT = 50, REGISTER = 64, REGISTERED = 65, UNREGISTER = 66, UNREGISTERED = 67;
export const INVOCATION = 68, INTERRUPT = 69, YIELD = 70;

/** Every client role with the features the router acts on. */
export const CLIENT_ROLES = {
  publisher: { features: { publisher_exclusion: true, publisher_identification: true, subscriber_blackwhite_listing: true } },
  subscriber: { features: { pattern_based_subscription: true, publisher_identification: true } },
  caller: { features: { progressive_call_results: true, call_canceling: true, call_timeout: true, caller_identification: true } },
  callee: { features: { progressive_call_results: true, call_canceling: true, pattern_based_registration: true, shared_registration: true, caller_identification: true } },
};

export type Message = unknown[];

export class MemoryClient extends EventEmitter implements WampSocket {
  readonly protocol: string;
  bufferedAmount = 0;
  readonly inbox: Message[] = [];
  /** Raw frames sent by the router: [isBinary, bytes]. */
  readonly frames: [boolean, Buffer][] = [];
  closed: { code: number | undefined; reason: string | undefined } | null = null;
  #waiters = new Set<() => void>();
  #request = 0;
  session = 0;

  constructor(protocol = 'wamp.2.json') {
    super();
    this.protocol = protocol;
  }

  get binary(): boolean {
    return this.protocol === 'wamp.2.msgpack';
  }

  send(data: Buffer, options: { binary: boolean }): void {
    this.frames.push([options.binary, data]);
    this.inbox.push((options.binary ? msgpackDecode(data) : JSON.parse(data.toString())) as Message);
    this.#wake();
  }

  close(code?: number, reason?: string): void {
    if (this.closed !== null) return;
    this.closed = { code, reason };
    this.#wake();
    this.emit('close');
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Sends a message as the client (encoded with this client's serializer). */
  write(message: Message): void {
    const data = this.binary ? msgpackEncode(message) : Buffer.from(JSON.stringify(message));
    this.emit('message', data, this.binary);
  }

  /** Sends raw bytes as one WebSocket message. */
  writeRaw(data: Buffer, isBinary: boolean): void {
    this.emit('message', data, isBinary);
  }

  nextRequest(): number {
    return ++this.#request;
  }

  /** Resolves with the first inbox message (removed) that `match` accepts, waiting up to `ms`. */
  async take(match: (message: Message) => boolean, what = 'a message', ms = 5000): Promise<Message> {
    const find = (): Message | undefined => {
      const index = this.inbox.findIndex(match);
      return index < 0 ? undefined : this.inbox.splice(index, 1)[0];
    };
    const now = find();
    if (now !== undefined) return now;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`Timed out waiting for ${what}; inbox: ${JSON.stringify(this.inbox)}`));
      }, ms);
      const check = (): void => {
        const found = find();
        if (found === undefined) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(found);
      };
      this.#waiters.add(check);
    });
  }

  /** The next message of this type (and request ID, when given). */
  expect(type: number, request?: number, ms?: number): Promise<Message> {
    return this.take((m) => m[0] === type && (request === undefined || (type === ERROR ? m[2] === request : m[1] === request)), `message type ${type}${request === undefined ? '' : ` for request ${request}`}`, ms);
  }

  /** Waits until the router closed this connection. */
  async closedBy(ms = 5000): Promise<{ code: number | undefined; reason: string | undefined }> {
    if (this.closed !== null) return this.closed;
    await this.take(() => false, 'the close', ms).catch(() => {});
    if (this.closed === null) throw new Error('the router did not close the connection');
    return this.closed;
  }

  /** Messages of a type now in the inbox, removed. */
  drain(type: number): Message[] {
    const out = this.inbox.filter((m) => m[0] === type);
    for (const m of out) this.inbox.splice(this.inbox.indexOf(m), 1);
    return out;
  }

  // ---- Conveniences ----

  async join(realm = 'realm1', details: Record<string, unknown> = {}): Promise<Message> {
    this.write([HELLO, realm, { roles: CLIENT_ROLES, ...details }]);
    const answer = await this.take((m) => m[0] === WELCOME || m[0] === ABORT || m[0] === CHALLENGE, 'WELCOME, CHALLENGE or ABORT');
    if (answer[0] === WELCOME) this.session = answer[1] as number;
    return answer;
  }

  async subscribe(topic: string, options: Record<string, unknown> = {}): Promise<number> {
    const request = this.nextRequest();
    this.write([SUBSCRIBE, request, options, topic]);
    const answer = await this.take((m) => (m[0] === SUBSCRIBED && m[1] === request) || (m[0] === ERROR && m[2] === request), 'SUBSCRIBED');
    if (answer[0] !== SUBSCRIBED) throw new Error(`subscribe failed: ${JSON.stringify(answer)}`);
    return answer[2] as number;
  }

  async register(procedure: string, options: Record<string, unknown> = {}): Promise<number> {
    const request = this.nextRequest();
    this.write([REGISTER, request, options, procedure]);
    const answer = await this.take((m) => (m[0] === REGISTERED && m[1] === request) || (m[0] === ERROR && m[2] === request), 'REGISTERED');
    if (answer[0] !== REGISTERED) throw new Error(`register failed: ${JSON.stringify(answer)}`);
    return answer[2] as number;
  }

  /** Sends a CALL; returns its request ID. */
  call(procedure: string, args?: unknown[], options: Record<string, unknown> = {}, kwargs?: Record<string, unknown>): number {
    return this.#withPayload(CALL, procedure, args, options, kwargs);
  }

  /** The RESULT or ERROR ending a call. */
  outcome(request: number, ms?: number): Promise<Message> {
    return this.take((m) => (m[0] === RESULT && m[1] === request && (m[2] as { progress?: boolean }).progress !== true) || (m[0] === ERROR && m[1] === CALL && m[2] === request), `the outcome of call ${request}`, ms);
  }

  publish(topic: string, args?: unknown[], options: Record<string, unknown> = {}, kwargs?: Record<string, unknown>): number {
    return this.#withPayload(PUBLISH, topic, args, options, kwargs);
  }

  /** CALL or PUBLISH with optional Arguments and ArgumentsKw; returns the request ID. */
  #withPayload(type: number, uri: string, args: unknown[] | undefined, options: Record<string, unknown>, kwargs: Record<string, unknown> | undefined): number {
    const request = this.nextRequest();
    const message: Message = [type, request, options, uri];
    if (args !== undefined || kwargs !== undefined) message.push(args ?? []);
    if (kwargs !== undefined) message.push(kwargs);
    this.write(message);
    return request;
  }
}

/** A client served by `router`. */
export function connect(router: WampRouter, protocol = 'wamp.2.json'): MemoryClient {
  const client = new MemoryClient(protocol);
  router.handle(client);
  return client;
}

/** A client served by `router`, joined to `realm`. */
export async function joined(router: WampRouter, realm = 'realm1', protocol = 'wamp.2.json', details: Record<string, unknown> = {}): Promise<MemoryClient> {
  const client = connect(router, protocol);
  const answer = await client.join(realm, details);
  if (answer[0] !== WELCOME) throw new Error(`join failed: ${JSON.stringify(answer)}`);
  return client;
}

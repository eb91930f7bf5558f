// A WHATWG-compatible WebSocket (https://websockets.spec.whatwg.org/) on top of connect(), so
// browser code runs unchanged on Node.js. The third constructor argument takes Node-only options.

import { WebSocketConnection } from '../connection/websocket-connection.js';
import { CloseCode } from '../protocol/close-codes.js';
import { MAX_CLOSE_REASON, ReadyState } from '../protocol/websocket-protocol.js';
import { connectPlanned } from './connect.js';
import { checkWebSocketOptionNames, planClient, type ClientPlan, type WebSocketOptions } from './options.js';

export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** The 'close' event (WHATWG CloseEvent; Node.js 20 has no global one). */
export class CloseEvent extends Event {
  readonly wasClean: boolean;
  readonly code: number;
  readonly reason: string;
  constructor(type: string, init: { wasClean?: boolean; code?: number; reason?: string } = {}) {
    super(type);
    this.wasClean = init.wasClean ?? false;
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
  }
}

/** The 'error' event; `error` holds the cause (a Node.js addition, as in undici). */
export class ErrorEvent extends Event {
  readonly error: unknown;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error;
    this.message = init.message ?? '';
  }
}

/** The events a WebSocket dispatches, by type (as lib.dom's WebSocketEventMap). */
export interface WebSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: ErrorEvent;
  close: CloseEvent;
}

type Handler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;
type Listener = EventListener | EventListenerObject;
type Payload = string | ArrayBufferLike | ArrayBufferView | Blob;

export class WebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;

  readonly url: string;
  #readyState: number = ReadyState.CONNECTING;
  #binaryType: BinaryType = 'blob';
  #connection: WebSocketConnection | null = null;
  #abort = new AbortController();
  /** Bytes accepted by send() after the connection started closing (WHATWG keeps counting them). */
  #bufferedAfterClose = 0;
  /** Sends waiting behind a Blob being read, so messages keep their order. */
  #sendChain: Promise<void> | null = null;
  #pendingBlobBytes = 0;
  #handlers = new Map<string, EventListener>();

  constructor(url: string | URL, protocols?: string | string[], options: WebSocketOptions = {}) {
    super();
    checkWebSocketOptionNames(options);
    // Like browsers, offer permessage-deflate unless told not to (perMessageDeflate: false).
    let plan: ClientPlan;
    try {
      plan = planClient('new WebSocket()', url, {
        perMessageDeflate: true,
        ...options,
        ...(protocols !== undefined ? { protocols } : {}),
        signal: this.#abort.signal,
      });
    } catch (error) {
      // WHATWG WebSockets: a bad URL or subprotocol list throws a "SyntaxError" DOMException
      // (code 12), which browser code may test with instanceof; connect() keeps the plain SyntaxError.
      if (error instanceof SyntaxError) throw new DOMException(error.message, 'SyntaxError');
      throw error;
    }
    this.url = plan.url.href;
    connectPlanned(plan).then(
      (connection) => this.#opened(connection),
      (error: unknown) => this.#failed(error),
    );
  }

  get readyState(): number {
    return this.#readyState;
  }
  get protocol(): string {
    return this.#connection?.protocol ?? '';
  }
  get extensions(): string {
    return this.#connection?.extensions ?? '';
  }
  get bufferedAmount(): number {
    return (this.#connection?.bufferedAmount ?? 0) + this.#bufferedAfterClose + this.#pendingBlobBytes;
  }
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(type: BinaryType) {
    if (type === 'blob' || type === 'arraybuffer' || type === 'nodebuffer') this.#binaryType = type;
  }

  get onopen(): Handler<Event> {
    return this.#getHandler('open');
  }
  set onopen(handler: Handler<Event>) {
    this.#setHandler('open', handler);
  }
  get onmessage(): Handler<MessageEvent> {
    return this.#getHandler('message');
  }
  set onmessage(handler: Handler<MessageEvent>) {
    this.#setHandler('message', handler);
  }
  get onerror(): Handler<ErrorEvent> {
    return this.#getHandler('error');
  }
  set onerror(handler: Handler<ErrorEvent>) {
    this.#setHandler('error', handler);
  }
  get onclose(): Handler<CloseEvent> {
    return this.#getHandler('close');
  }
  set onclose(handler: Handler<CloseEvent>) {
    this.#setHandler('close', handler);
  }

  // Typed per event, so that addEventListener('message', (e) => e.data) sees a MessageEvent.
  override addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: ((this: WebSocket, event: WebSocketEventMap[K]) => unknown) | { handleEvent(event: WebSocketEventMap[K]): unknown } | null,
    options?: AddEventListenerOptions | boolean,
  ): void;
  override addEventListener(type: string, listener: Listener | null, options?: AddEventListenerOptions | boolean): void;
  override addEventListener(type: string, listener: Listener | null, options?: AddEventListenerOptions | boolean): void {
    super.addEventListener(type, listener as Listener, options);
  }

  override removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: ((this: WebSocket, event: WebSocketEventMap[K]) => unknown) | { handleEvent(event: WebSocketEventMap[K]): unknown } | null,
    options?: EventListenerOptions | boolean,
  ): void;
  override removeEventListener(type: string, listener: Listener | null, options?: EventListenerOptions | boolean): void;
  override removeEventListener(type: string, listener: Listener | null, options?: EventListenerOptions | boolean): void {
    super.removeEventListener(type, listener as Listener, options);
  }

  send(data: Payload): void {
    if (this.#readyState === ReadyState.CONNECTING) {
      throw new DOMException('WebSocket is still connecting', 'InvalidStateError');
    }
    const connection = this.#connection;
    if (this.#readyState !== ReadyState.OPEN || connection === null) {
      this.#bufferedAfterClose += byteLength(data);
      return;
    }
    if (typeof Blob !== 'undefined' && data instanceof Blob) {
      this.#pendingBlobBytes += data.size;
      const previous = this.#sendChain ?? Promise.resolve();
      const chain = previous
        .then(() => data.arrayBuffer())
        .then((bytes) => {
          this.#pendingBlobBytes -= data.size;
          connection.send(Buffer.from(bytes), { binary: true });
        });
      this.#sendChain = chain;
      void chain.finally(() => {
        if (this.#sendChain === chain) this.#sendChain = null;
      });
      return;
    }
    const bytes = typeof data === 'string' ? data : toBytes(data as ArrayBufferLike | ArrayBufferView);
    if (this.#sendChain !== null) {
      this.#sendChain = this.#sendChain.then(() => void connection.send(bytes));
      return;
    }
    connection.send(bytes);
  }

  close(code?: number, reason?: string): void {
    // WHATWG: only 1000 and 3000–4999 may be given; reasons up to 123 bytes.
    if (code !== undefined && code !== CloseCode.Normal && (code < 3000 || code > 4999)) {
      throw new DOMException(`The close code must be 1000 or 3000-4999, got ${code}`, 'InvalidAccessError');
    }
    if (reason !== undefined && Buffer.byteLength(reason) > MAX_CLOSE_REASON) {
      throw new DOMException('The close reason must be at most 123 bytes of UTF-8', 'SyntaxError');
    }
    if (this.#readyState >= ReadyState.CLOSING) return;
    if (this.#readyState === ReadyState.CONNECTING) {
      // Fail the connection (the handshake is aborted); 'error' then 'close' follow.
      this.#readyState = ReadyState.CLOSING;
      this.#abort.abort();
      return;
    }
    this.#readyState = ReadyState.CLOSING;
    const connection = this.#connection!;
    const finish = (): void => connection.close(code ?? (reason ? CloseCode.Normal : undefined), reason || undefined);
    if (this.#sendChain !== null) void this.#sendChain.then(finish);
    else finish();
  }

  #opened(connection: WebSocketConnection): void {
    if (this.#readyState !== ReadyState.CONNECTING) {
      // close() ran after the 101 was accepted but before this callback (too late to abort):
      // fail the connection as WHATWG says, error then close, instead of going silent.
      connection.terminate();
      this.#failed(new Error('The connection was closed before it opened'));
      return;
    }
    this.#connection = connection;
    this.#readyState = ReadyState.OPEN;
    connection.on('message', (data, isBinary) => {
      if (this.#readyState !== ReadyState.OPEN) return;
      this.dispatchEvent(new MessageEvent('message', { data: this.#convert(data, isBinary), origin: originOf(this.url) }));
    });
    connection.on('error', (error) => {
      this.dispatchEvent(new ErrorEvent('error', { error, message: error.message }));
    });
    connection.on('close', (code, reason) => {
      const wasClean = code !== CloseCode.Abnormal;
      this.#readyState = ReadyState.CLOSED;
      this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
    });
    this.dispatchEvent(new Event('open'));
  }

  #failed(error: unknown): void {
    this.#readyState = ReadyState.CLOSED;
    this.dispatchEvent(new ErrorEvent('error', { error, message: (error as Error)?.message ?? String(error) }));
    this.dispatchEvent(new CloseEvent('close', { wasClean: false, code: CloseCode.Abnormal, reason: '' }));
  }

  #convert(data: Buffer, isBinary: boolean): string | Buffer | ArrayBuffer | Blob {
    if (!isBinary) return data.toString('utf8');
    switch (this.#binaryType) {
      case 'nodebuffer':
        return data;
      case 'arraybuffer':
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.length) as ArrayBuffer;
      default:
        return new Blob([data as Uint8Array<ArrayBuffer>]);
    }
  }

  #getHandler<E extends Event>(type: string): Handler<E> {
    const listener = this.#handlers.get(type) as (EventListener & { handler?: Handler<E> }) | undefined;
    return listener?.handler ?? null;
  }

  #setHandler<E extends Event>(type: string, handler: Handler<E>): void {
    const previous = this.#handlers.get(type);
    if (previous !== undefined) {
      this.removeEventListener(type, previous);
      this.#handlers.delete(type);
    }
    if (typeof handler !== 'function') return;
    const listener = Object.assign((event: Event) => handler.call(this, event as E), { handler });
    this.#handlers.set(type, listener);
    this.addEventListener(type, listener);
  }
}

function toBytes(data: ArrayBufferLike | ArrayBufferView): Buffer {
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as ArrayBuffer);
}

function byteLength(data: Payload): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (typeof Blob !== 'undefined' && data instanceof Blob) return data.size;
  return ArrayBuffer.isView(data) ? data.byteLength : (data as ArrayBuffer).byteLength;
}

function originOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

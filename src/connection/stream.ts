// createWebSocketStream: a Duplex over a WebSocketConnection, for code that speaks streams (pipe a
// file in, pipeline() through a transform). Each write is sent as one binary message (a string
// chunk, with decodeStrings: false, as a text message); the readable side yields the bytes of each
// message, or, in readableObjectMode, each message as one chunk (text as a string).
//
// Backpressure both ways: a full readable buffer holds the connection's input (its own reason, so
// the application's pause() and resume() are left alone); a write waits for 'drain' when send()
// returned false. Errors of the connection destroy the stream; the connection's close ends its
// readable side; end() starts the closing handshake; destroy() drops the connection.

import { Duplex, type DuplexOptions } from 'node:stream';
import { CloseCode } from '../protocol/close-codes.js';
import { connectionClosedError } from '../protocol/errors.js';
import { ReadyState } from '../protocol/websocket-protocol.js';
import { holdInputForStream, type WebSocketConnection } from './websocket-connection.js';

export type WebSocketStreamOptions = Omit<
  DuplexOptions,
  'objectMode' | 'writableObjectMode' | 'read' | 'write' | 'writev' | 'final' | 'destroy' | 'construct'
>;

/**
 * A Duplex over `ws`, as ws's createWebSocketStream: each write is sent as one binary message (a
 * string, with decodeStrings: false, as text); the readable side yields the messages' bytes (in
 * readableObjectMode, one chunk per message, text as a string). Backpressure holds both ways;
 * the connection's errors destroy the stream and its close ends the readable side; end() closes
 * the connection with 1000, destroy() drops it.
 */
export function createWebSocketStream(ws: WebSocketConnection<any>, options: WebSocketStreamOptions = {}): Duplex {
  return new WebSocketStream(ws, options);
}

class WebSocketStream extends Duplex {
  readonly #ws: WebSocketConnection<any>;
  /** The callback of a write that waits for 'drain'. */
  #pendingWrite: ((error?: Error | null) => void) | null = null;
  #onMessage = (data: Buffer, isBinary: boolean): void => {
    const chunk = !isBinary && this.readableObjectMode ? data.toString('utf8') : data;
    if (!this.push(chunk)) holdInputForStream(this.#ws, true);
  };
  #onDrain = (): void => {
    const callback = this.#pendingWrite;
    this.#pendingWrite = null;
    callback?.();
  };
  #onClose = (): void => {
    const callback = this.#pendingWrite;
    this.#pendingWrite = null;
    callback?.(connectionClosedError());
    this.push(null);
  };
  #onError = (error: Error): void => {
    this.destroy(error);
  };

  constructor(ws: WebSocketConnection<any>, options: WebSocketStreamOptions) {
    super({ ...options, objectMode: false, writableObjectMode: false });
    this.#ws = ws;
    ws.on('message', this.#onMessage);
    ws.on('drain', this.#onDrain);
    ws.on('close', this.#onClose);
    ws.on('error', this.#onError);
    if (ws.readyState === ReadyState.CLOSED) this.push(null);
  }

  override _read(): void {
    holdInputForStream(this.#ws, false);
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState !== ReadyState.OPEN) return callback(connectionClosedError());
    if (ws.send(chunk)) callback();
    else this.#pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState === ReadyState.CLOSED) return callback();
    ws.once('close', () => callback());
    ws.close(CloseCode.Normal);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const ws = this.#ws;
    ws.off('message', this.#onMessage);
    ws.off('drain', this.#onDrain);
    ws.off('close', this.#onClose);
    ws.off('error', this.#onError);
    holdInputForStream(ws, false);
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    pending?.(error ?? connectionClosedError());
    // A connection that is closing (after end(), or failing on a protocol error, its close frame
    // on the way) finishes by itself, bounded by its close timeout; an open one is dropped.
    if (ws.readyState !== ReadyState.OPEN) return callback(error);
    ws.once('close', () => callback(error));
    ws.terminate();
  }
}

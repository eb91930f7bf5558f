import type { IncomingHttpHeaders } from 'node:http';
import { CloseCode } from '../protocol/close-codes.js';
import { WebSocketError } from '../protocol/errors.js';

/**
 * A failed opening handshake: the server's status and headers when it answered with HTTP, and the
 * underlying error (a socket's or TLS's) as `cause` when it did not.
 */
export class HandshakeError extends WebSocketError {
  declare readonly cause?: unknown;

  constructor(
    message: string,
    readonly statusCode?: number,
    readonly headers?: IncomingHttpHeaders,
    cause?: unknown,
  ) {
    super(message, 'WS_ERR_HANDSHAKE', CloseCode.Abnormal);
    // Like Error's own `cause` option: an own property only when given.
    if (cause !== undefined) Object.defineProperty(this, 'cause', { value: cause, writable: true, configurable: true });
  }
}

/** `error` as a HandshakeError: itself if it is one, else wrapped with `context` before its message. */
export function asHandshakeError(error: unknown, context: string): HandshakeError {
  if (error instanceof HandshakeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new HandshakeError(`${context}: ${message}`, undefined, undefined, error);
}

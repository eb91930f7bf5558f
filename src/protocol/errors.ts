import { CloseCode } from './close-codes.js';

/** Stable error codes; each protocol error names the close code it causes. */
export type WebSocketErrorCode =
  | 'WS_ERR_RESERVED_BITS'
  | 'WS_ERR_INVALID_OPCODE'
  | 'WS_ERR_EXPECTED_MASK'
  | 'WS_ERR_UNEXPECTED_MASK'
  | 'WS_ERR_INVALID_CONTROL_FRAME'
  | 'WS_ERR_INVALID_CONTINUATION'
  | 'WS_ERR_EXPECTED_CONTINUATION'
  | 'WS_ERR_INVALID_LENGTH'
  | 'WS_ERR_MESSAGE_TOO_BIG'
  | 'WS_ERR_TOO_MANY_FRAGMENTS'
  | 'WS_ERR_INVALID_UTF8'
  | 'WS_ERR_INVALID_CLOSE_CODE'
  | 'WS_ERR_INVALID_CLOSE_FRAME'
  /** More pings than maxUnansweredPings while the peer did not read our pongs (1008). */
  | 'WS_ERR_PING_FLOOD'
  /** Received compressed data that does not inflate (1007). */
  | 'WS_ERR_INFLATE_FAILED'
  /** Compressing an outgoing message failed (1011). */
  | 'WS_ERR_DEFLATE_FAILED'
  /** The connection closed before the operation could finish (a send callback's error; 1006). */
  | 'WS_ERR_CLOSED'
  | 'WS_ERR_HANDSHAKE';

export class WebSocketError extends Error {
  override readonly name = 'WebSocketError';
  constructor(
    message: string,
    readonly code: WebSocketErrorCode,
    /** The close code this error causes (RFC 6455 §7.4.1). */
    readonly closeCode: number = CloseCode.ProtocolError,
  ) {
    super(message);
  }
}

/** The error of an operation that the connection's closing cut short (code WS_ERR_CLOSED). */
export function connectionClosedError(): WebSocketError {
  return new WebSocketError('The connection is closed', 'WS_ERR_CLOSED', CloseCode.Abnormal);
}

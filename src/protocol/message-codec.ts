import type { WebSocketError } from './errors.js';
import type { SharedMessage } from './shared-message.js';

/**
 * A negotiated per-message extension that owns RSV1 (RFC 7692 permessage-deflate is the only one
 * registered). The protocol core hands it whole messages; it may answer synchronously or later,
 * and the core keeps message order either way.
 */
export interface MessageCodec {
  /**
   * Decodes one received message whose first frame had RSV1 set. Must stop and fail with a
   * WebSocketError carrying close code 1009 as soon as the output would exceed `maxSize`, before
   * that memory is spent. Calls back exactly once.
   */
  decode(data: Buffer, maxSize: number, callback: (error: WebSocketError | null, data?: Buffer) => void): void;
  /** Encodes one outgoing message. Calls back exactly once. */
  encode(data: Buffer, callback: (error: Error | null, data?: Buffer) => void): void;
  /** Whether a message of this many bytes should be compressed by default. */
  wantsToEncode(length: number): boolean;
  /**
   * Optional: whether a message sent to many connections (a SharedMessage) of this many bytes
   * goes compressed to this peer, through encodeShared (which a codec with this method must have).
   * When absent or false it goes uncompressed.
   */
  sharesEncoding?(length: number): boolean;
  /**
   * Optional: encodes a SharedMessage. The compressed payload is made once per codec kind and kept
   * in `message.encodings`, so it must not refer to anything outside the message; this codec's
   * own state moves on as if it had compressed the message itself. Calls back exactly once, in
   * order with encode().
   */
  encodeShared?(message: SharedMessage, callback: (error: Error | null, data?: Buffer) => void): void;
  /**
   * Optional, with encodeShared: the same at once, when nothing of this connection is waiting to
   * be encoded; null when the message must wait its turn (or failed): use encodeShared then.
   */
  encodeSharedNow?(message: SharedMessage): Buffer | null;
  /** Frees any compression state (called once, when the connection closes). */
  release(): void;
}

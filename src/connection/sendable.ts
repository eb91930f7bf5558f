/** What send(), ping(), pong() and close() accept as payload. */
export type SendableData = string | Buffer | ArrayBuffer | SharedArrayBuffer | ArrayBufferView;

/**
 * A Buffer over the payload's bytes without copying. A typed-array view contributes only its own
 * bytes, never the rest of the ArrayBuffer it sits on.
 */
export function toBuffer(data: SendableData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return Buffer.from(data);
  throw new TypeError('Data must be a string, Buffer, ArrayBuffer or ArrayBufferView');
}

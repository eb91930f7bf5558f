// The binary envelope a message travels in through a broker: the payload bytes as they are, with
// the text/binary flag and what the receiving nodes need to deliver each message once and in order.
//
//   offset  size  field
//   0       1     version (1)
//   1       1     flags: bit 0 = binary (else the payload is UTF-8 text), bit 1 = do not
//                 compress (the publisher's compress: false), other bits 0
//   2       8     origin: the publishing node's random id
//   10      6     sequence number of this message at its origin (unsigned, big-endian)
//   16      2     topic length in bytes (big-endian)
//   18      n     topic, UTF-8
//   18 + n  rest  payload
//
// The topic travels inside because broker channel names are encoded (NATS tokens) or prefixed;
// the origin lets a node drop its own echo, and (origin, sequence) drops the second copy a broker
// sends when two of the node's broker subscriptions match one message.

export const ENVELOPE_VERSION = 1;
export const ORIGIN_BYTES = 8;
const HEADER_BYTES = 18;
const FLAG_BINARY = 0x01;
const FLAG_NO_COMPRESS = 0x02;
const KNOWN_FLAGS = FLAG_BINARY | FLAG_NO_COMPRESS;
const MAX_SEQUENCE = 2 ** 48 - 1;

export interface BrokerMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly isBinary: boolean;
  /** The publisher allows permessage-deflate for this message (RFC 7692 §6.1: per message). */
  readonly compress: boolean;
  /** The publishing node's id: ORIGIN_BYTES bytes as a latin1 string. */
  readonly origin: string;
  /** 1, 2, 3… per origin. */
  readonly sequence: number;
}

export function encodeEnvelope(message: BrokerMessage): Buffer {
  const topicBytes = Buffer.byteLength(message.topic);
  if (topicBytes > 0xffff) throw new RangeError('topic too long for the envelope');
  if (message.origin.length !== ORIGIN_BYTES) throw new RangeError('bad origin id');
  const out = Buffer.allocUnsafe(HEADER_BYTES + topicBytes + message.payload.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = (message.isBinary ? FLAG_BINARY : 0) | (message.compress ? 0 : FLAG_NO_COMPRESS);
  out.write(message.origin, 2, ORIGIN_BYTES, 'latin1');
  out.writeUIntBE(message.sequence % (MAX_SEQUENCE + 1), 10, 6);
  out.writeUInt16BE(topicBytes, 16);
  out.write(message.topic, HEADER_BYTES, topicBytes, 'utf8');
  message.payload.copy(out, HEADER_BYTES + topicBytes);
  return out;
}

/** The message in `data`, or null if it is not an envelope this version understands. */
export function decodeEnvelope(data: Uint8Array): BrokerMessage | null {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buffer.length < HEADER_BYTES || buffer[0] !== ENVELOPE_VERSION || (buffer[1]! & ~KNOWN_FLAGS) !== 0) return null;
  const topicBytes = buffer.readUInt16BE(16);
  if (topicBytes === 0 || HEADER_BYTES + topicBytes > buffer.length) return null;
  return {
    isBinary: (buffer[1]! & FLAG_BINARY) !== 0,
    compress: (buffer[1]! & FLAG_NO_COMPRESS) === 0,
    origin: buffer.toString('latin1', 2, 2 + ORIGIN_BYTES),
    sequence: buffer.readUIntBE(10, 6),
    topic: buffer.toString('utf8', HEADER_BYTES, HEADER_BYTES + topicBytes),
    payload: buffer.subarray(HEADER_BYTES + topicBytes),
  };
}

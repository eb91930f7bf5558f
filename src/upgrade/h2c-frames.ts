// The few HTTP/2 wire pieces the h2c upgrade needs, sans-I/O: the client connection preface
// (RFC 9113 §3.4), frame headers (§4.1), HEADERS/CONTINUATION frames (§6.2, §6.10), the
// HTTP2-Settings header field (RFC 7540 §3.2.1), and an HPACK encoder that only emits literals
// (RFC 7541 §6.2.2: literal header field without indexing, new name, no Huffman coding).

/** RFC 9113 §3.4: the 24 octets every client connection starts with. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_SIZE = 9;
export const FrameType = { DATA: 0x0, HEADERS: 0x1, SETTINGS: 0x4, CONTINUATION: 0x9 } as const;
export const FrameFlag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** RFC 9113 §6.5.2: the initial SETTINGS_MAX_FRAME_SIZE, which every endpoint must accept. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;

export function writeFrameHeader(out: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): void {
  out.writeUIntBE(length, offset, 3);
  out[offset + 3] = type;
  out[offset + 4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, offset + 5);
}

/** A header block as one HEADERS frame plus CONTINUATION frames where it exceeds `maxFrameSize`. */
export function headersFrames(streamId: number, block: Buffer, endStream: boolean, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Buffer {
  const count = Math.max(1, Math.ceil(block.length / maxFrameSize));
  const out = Buffer.allocUnsafe(count * FRAME_HEADER_SIZE + block.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const chunk = block.subarray(i * maxFrameSize, (i + 1) * maxFrameSize);
    const last = i === count - 1;
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    // END_STREAM belongs to the HEADERS frame; END_HEADERS to the last frame of the block.
    const flags = (i === 0 && endStream ? FrameFlag.END_STREAM : 0) | (last ? FrameFlag.END_HEADERS : 0);
    writeFrameHeader(out, at, chunk.length, type, flags, streamId);
    chunk.copy(out, at + FRAME_HEADER_SIZE);
    at += FRAME_HEADER_SIZE + chunk.length;
  }
  return out;
}

/** RFC 7541 §5.1: an integer with an N-bit prefix; `first` holds the bits above the prefix. */
export function encodeInteger(value: number, prefixBits: number, first: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/**
 * RFC 7541 §6.2.2: every field as "literal header field without indexing — new name", with raw
 * (not Huffman-coded) strings. Uses no dynamic table state, so it cannot disturb the decoder's.
 * Names must already be lowercase (RFC 9113 §8.2.1).
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const nameBytes = Buffer.from(name, 'latin1');
    const valueBytes = Buffer.from(value, 'latin1');
    const prefix: number[] = [0x00];
    encodeInteger(nameBytes.length, 7, 0x00, prefix);
    parts.push(Buffer.from(prefix), nameBytes);
    const valuePrefix: number[] = [];
    encodeInteger(valueBytes.length, 7, 0x00, valuePrefix);
    parts.push(Buffer.from(valuePrefix), valueBytes);
  }
  return Buffer.concat(parts);
}

export type PrefaceRead =
  | { state: 'incomplete' }
  | { state: 'invalid'; reason: string }
  /** `length`: the preface plus the client's first SETTINGS frame. */
  | { state: 'complete'; length: number };

/**
 * Reads the client connection preface at the start of `data`: the 24-octet magic, then a SETTINGS
 * frame without ACK on stream 0 (RFC 9113 §3.4). `maxFrameSize` bounds what is buffered.
 */
export function readClientPreface(data: Buffer, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): PrefaceRead {
  const magic = Math.min(data.length, CLIENT_PREFACE.length);
  if (data.compare(CLIENT_PREFACE, 0, magic, 0, magic) !== 0) return { state: 'invalid', reason: 'not an HTTP/2 connection preface' };
  if (data.length < CLIENT_PREFACE.length + FRAME_HEADER_SIZE) return { state: 'incomplete' };
  const at = CLIENT_PREFACE.length;
  const length = data.readUIntBE(at, 3);
  const type = data[at + 3]!;
  const flags = data[at + 4]!;
  const streamId = data.readUInt32BE(at + 5) & 0x7fffffff;
  if (type !== FrameType.SETTINGS || (flags & FrameFlag.ACK) !== 0 || streamId !== 0) {
    return { state: 'invalid', reason: 'the preface must be followed by a SETTINGS frame' };
  }
  // RFC 9113 §6.5: six octets per setting; larger than the default frame size is refused.
  if (length % 6 !== 0 || length > maxFrameSize) return { state: 'invalid', reason: 'malformed SETTINGS frame' };
  const total = at + FRAME_HEADER_SIZE + length;
  return data.length < total ? { state: 'incomplete' } : { state: 'complete', length: total };
}

/**
 * RFC 7540 §3.2.1: HTTP2-Settings is the payload of a SETTINGS frame in base64url (no padding).
 * Returns the decoded payload, or null when the value is not exactly that.
 */
export function decodeHttp2Settings(value: string | string[] | undefined): Buffer | null {
  if (typeof value !== 'string') return null; // absent, or sent more than once
  const text = value.trim();
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const payload = Buffer.from(text, 'base64url');
  return payload.length % 6 === 0 ? payload : null;
}

// A small MessagePack codec for the `wamp.2.msgpack` subprotocol and for the router's own messages
// between nodes. It covers what WAMP needs (WAMP Basic Profile, "Serializers": MessagePack v5 with
// str and bin kept apart): nil, bool, int, float, str, bin, array, map. Extension types (including
// the timestamp extension) are refused: WAMP never sends them, and refusing keeps a malformed or
// hostile message from becoming anything but an error. One exception: fixext 1 of type 0 with the
// byte 0 is how msgpackr (the codec of the wampy client) writes JavaScript's `undefined`; it is
// read as a missing value (a map key is left out, a list element becomes nil).
//
// Why written here and not a dependency: the core keeps zero runtime dependencies, the subset is
// about 300 lines, and the decoder can enforce what a router must (bounded nesting, no prototype
// keys, exact length checks) instead of trusting a general-purpose library's defaults.
//
// Numbers: integers that fit 64 bits are written in the smallest integer format, everything else
// (fractions, NaN, ±Infinity, integers beyond 64 bits) as float64. Decoded 64-bit integers become
// JavaScript numbers, exact up to 2^53 (WAMP IDs stop there), rounded above. A bigint is encoded as
// int64/uint64 when it fits.

/** Thrown by decode() for bytes that are not one well-formed MessagePack value. */
export class MsgpackError extends Error {
  override name = 'MsgpackError';
}

/** How deep arrays and maps may nest in a decoded value. */
export const MAX_DEPTH = 64;

// ---- Encoding ----

class Writer {
  buffer: Buffer;
  view: DataView;
  offset = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  ensure(bytes: number): void {
    const need = this.offset + bytes;
    if (need <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  byte(value: number): void {
    this.ensure(1);
    this.buffer[this.offset++] = value;
  }
}

// One writer reused by every encode() call (the encoder never re-enters itself).
let shared = new Writer(4096);

/** Encodes `value` as one MessagePack value. Throws TypeError for what MessagePack cannot hold. */
export function encode(value: unknown): Buffer {
  const writer = shared;
  writer.offset = 0;
  try {
    write(writer, value, 0);
  } catch (error) {
    if (writer.buffer.length > 1 << 20) shared = new Writer(4096); // do not keep a huge buffer
    throw error;
  }
  const out = Buffer.allocUnsafe(writer.offset);
  writer.buffer.copy(out, 0, 0, writer.offset);
  if (writer.buffer.length > 1 << 20) shared = new Writer(4096);
  return out;
}

function write(w: Writer, value: unknown, depth: number): void {
  switch (typeof value) {
    case 'string':
      return writeString(w, value);
    case 'number':
      return writeNumber(w, value);
    case 'boolean':
      return w.byte(value ? 0xc3 : 0xc2);
    case 'undefined':
      return w.byte(0xc0);
    case 'bigint':
      return writeBigInt(w, value);
    case 'object':
      break;
    default:
      throw new TypeError(`MessagePack cannot encode a ${typeof value}`);
  }
  if (value === null) return w.byte(0xc0);
  if (depth >= MAX_DEPTH) throw new TypeError(`MessagePack: nested deeper than ${MAX_DEPTH}`);
  if (Array.isArray(value)) {
    writeHeader(w, value.length, 0x90, 0xdc);
    for (let i = 0; i < value.length; i++) write(w, value[i], depth + 1);
    return;
  }
  if (ArrayBuffer.isView(value)) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const n = bytes.length;
    w.ensure(5 + n);
    if (n <= 0xff) {
      w.buffer[w.offset++] = 0xc4;
      w.buffer[w.offset++] = n;
    } else if (n <= 0xffff) {
      w.buffer[w.offset++] = 0xc5;
      w.view.setUint16(w.offset, n);
      w.offset += 2;
    } else {
      w.buffer[w.offset++] = 0xc6;
      w.view.setUint32(w.offset, n);
      w.offset += 4;
    }
    bytes.copy(w.buffer, w.offset);
    w.offset += n;
    return;
  }
  if (value instanceof ArrayBuffer) return write(w, new Uint8Array(value), depth);
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let count = 0;
  for (const key of keys) if (record[key] !== undefined) count++;
  writeHeader(w, count, 0x80, 0xde);
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue; // as JSON.stringify does
    writeString(w, key);
    write(w, item, depth + 1);
  }
}

/** Array (0x90/0xdc/0xdd) or map (0x80/0xde/0xdf) header. */
function writeHeader(w: Writer, n: number, fix: number, sixteen: number): void {
  w.ensure(5);
  if (n < 16) {
    w.buffer[w.offset++] = fix | n;
  } else if (n <= 0xffff) {
    w.buffer[w.offset++] = sixteen;
    w.view.setUint16(w.offset, n);
    w.offset += 2;
  } else {
    w.buffer[w.offset++] = sixteen + 1;
    w.view.setUint32(w.offset, n);
    w.offset += 4;
  }
}

function writeString(w: Writer, value: string): void {
  const length = value.length;
  // Short ASCII strings (keys, URIs) are copied byte by byte: cheaper than a UTF-8 encoder call.
  if (length < 32) {
    w.ensure(1 + length * 3);
    const start = w.offset;
    let i = 0;
    for (; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      w.buffer[start + 1 + i] = c;
    }
    if (i === length) {
      w.buffer[start] = 0xa0 | length;
      w.offset = start + 1 + length;
      return;
    }
  }
  const max = length * 3;
  const header = max < 32 ? 1 : max <= 0xff ? 2 : max <= 0xffff ? 3 : 5;
  w.ensure(header + max);
  const start = w.offset;
  const n = w.buffer.write(value, start + header, 'utf8');
  // The header was sized for the worst case; move the bytes back when a shorter one fits.
  const fits = n < 32 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
  if (fits < header) w.buffer.copyWithin(start + fits, start + header, start + header + n);
  if (fits === 1) {
    w.buffer[start] = 0xa0 | n;
  } else if (fits === 2) {
    w.buffer[start] = 0xd9;
    w.buffer[start + 1] = n;
  } else if (fits === 3) {
    w.buffer[start] = 0xda;
    w.view.setUint16(start + 1, n);
  } else {
    w.buffer[start] = 0xdb;
    w.view.setUint32(start + 1, n);
  }
  w.offset = start + fits + n;
}

const TWO_32 = 2 ** 32;
const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

function writeNumber(w: Writer, value: number): void {
  w.ensure(9);
  const b = w.buffer;
  if (Number.isInteger(value)) {
    if (value >= 0) {
      if (value < 0x80) {
        b[w.offset++] = value;
        return;
      }
      if (value <= 0xff) {
        b[w.offset++] = 0xcc;
        b[w.offset++] = value;
        return;
      }
      if (value <= 0xffff) {
        b[w.offset++] = 0xcd;
        w.view.setUint16(w.offset, value);
        w.offset += 2;
        return;
      }
      if (value < TWO_32) {
        b[w.offset++] = 0xce;
        w.view.setUint32(w.offset, value);
        w.offset += 4;
        return;
      }
      if (value < TWO_64) {
        b[w.offset++] = 0xcf;
        w.view.setUint32(w.offset, Math.floor(value / TWO_32));
        w.view.setUint32(w.offset + 4, value % TWO_32);
        w.offset += 8;
        return;
      }
    } else {
      if (value >= -32) {
        b[w.offset++] = value & 0xff;
        return;
      }
      if (value >= -0x80) {
        b[w.offset++] = 0xd0;
        w.view.setInt8(w.offset++, value);
        return;
      }
      if (value >= -0x8000) {
        b[w.offset++] = 0xd1;
        w.view.setInt16(w.offset, value);
        w.offset += 2;
        return;
      }
      if (value >= -0x80000000) {
        b[w.offset++] = 0xd2;
        w.view.setInt32(w.offset, value);
        w.offset += 4;
        return;
      }
      if (value >= -TWO_63) {
        b[w.offset++] = 0xd3;
        w.view.setBigInt64(w.offset, BigInt(value));
        w.offset += 8;
        return;
      }
    }
  }
  b[w.offset++] = 0xcb;
  w.view.setFloat64(w.offset, value);
  w.offset += 8;
}

function writeBigInt(w: Writer, value: bigint): void {
  w.ensure(9);
  if (value >= 0n && value < 1n << 64n) {
    w.buffer[w.offset++] = 0xcf;
    w.view.setBigUint64(w.offset, value);
  } else if (value < 0n && value >= -(1n << 63n)) {
    w.buffer[w.offset++] = 0xd3;
    w.view.setBigInt64(w.offset, value);
  } else {
    throw new TypeError('MessagePack: a bigint outside the 64-bit range');
  }
  w.offset += 8;
}

// ---- Decoding ----

/** What decode() reports besides the value. */
export interface DecodeInfo {
  /** The value holds at least one bin (a Buffer). */
  binary: boolean;
}

class Reader {
  offset = 0;
  binary = false;
  readonly view: DataView;

  constructor(readonly buffer: Buffer) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  need(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) throw new MsgpackError('MessagePack: truncated value');
  }
}

/**
 * Decodes exactly one MessagePack value filling `data`. Throws MsgpackError for truncated or
 * trailing bytes, extension types, the never-used byte 0xc1, or nesting deeper than MAX_DEPTH.
 * Maps become plain objects (keys as strings); bins become Buffers (copies).
 */
export function decode(data: Buffer, info?: DecodeInfo): unknown {
  const reader = new Reader(data);
  const value = read(reader, 0);
  if (reader.offset !== data.length) throw new MsgpackError('MessagePack: bytes after the value');
  if (info !== undefined) info.binary = reader.binary;
  return value;
}

function read(r: Reader, depth: number): unknown {
  r.need(1);
  const b = r.buffer;
  const type = b[r.offset++]!;
  if (type < 0x80) return type;
  if (type >= 0xe0) return type - 0x100;
  if (type >= 0xa0 && type < 0xc0) return readString(r, type & 0x1f);
  if (type >= 0x90 && type < 0xa0) return readArray(r, type & 0x0f, depth);
  if (type >= 0x80 && type < 0x90) return readMap(r, type & 0x0f, depth);
  const v = r.view;
  let n: number;
  switch (type) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      r.need(1);
      return readBinary(r, b[r.offset++]!);
    case 0xc5:
      r.need(2);
      n = v.getUint16(r.offset);
      r.offset += 2;
      return readBinary(r, n);
    case 0xc6:
      r.need(4);
      n = v.getUint32(r.offset);
      r.offset += 4;
      return readBinary(r, n);
    case 0xca:
      r.need(4);
      r.offset += 4;
      return v.getFloat32(r.offset - 4);
    case 0xcb:
      r.need(8);
      r.offset += 8;
      return v.getFloat64(r.offset - 8);
    case 0xcc:
      r.need(1);
      return b[r.offset++]!;
    case 0xcd:
      r.need(2);
      r.offset += 2;
      return v.getUint16(r.offset - 2);
    case 0xce:
      r.need(4);
      r.offset += 4;
      return v.getUint32(r.offset - 4);
    case 0xcf:
      r.need(8);
      r.offset += 8;
      return v.getUint32(r.offset - 8) * TWO_32 + v.getUint32(r.offset - 4);
    case 0xd0:
      r.need(1);
      r.offset += 1;
      return v.getInt8(r.offset - 1);
    case 0xd1:
      r.need(2);
      r.offset += 2;
      return v.getInt16(r.offset - 2);
    case 0xd2:
      r.need(4);
      r.offset += 4;
      return v.getInt32(r.offset - 4);
    case 0xd3:
      r.need(8);
      r.offset += 8;
      return v.getInt32(r.offset - 8) * TWO_32 + v.getUint32(r.offset - 4);
    case 0xd9:
      r.need(1);
      return readString(r, b[r.offset++]!);
    case 0xda:
      r.need(2);
      r.offset += 2;
      return readString(r, v.getUint16(r.offset - 2));
    case 0xdb:
      r.need(4);
      r.offset += 4;
      return readString(r, v.getUint32(r.offset - 4));
    case 0xdc:
      r.need(2);
      r.offset += 2;
      return readArray(r, v.getUint16(r.offset - 2), depth);
    case 0xdd:
      r.need(4);
      r.offset += 4;
      return readArray(r, v.getUint32(r.offset - 4), depth);
    case 0xde:
      r.need(2);
      r.offset += 2;
      return readMap(r, v.getUint16(r.offset - 2), depth);
    case 0xdf:
      r.need(4);
      r.offset += 4;
      return readMap(r, v.getUint32(r.offset - 4), depth);
    case 0xd4:
      r.need(2);
      if (b[r.offset] === 0 && b[r.offset + 1] === 0) {
        r.offset += 2;
        return undefined; // msgpackr's `undefined`
      }
      throw new MsgpackError('MessagePack: unsupported extension type');
    default:
      // 0xc1 (never used), 0xc7-0xc9 and 0xd5-0xd8 (extension types).
      throw new MsgpackError(`MessagePack: unsupported type byte 0x${type.toString(16)}`);
  }
}

function readString(r: Reader, n: number): string {
  r.need(n);
  const b = r.buffer;
  const start = r.offset;
  r.offset += n;
  if (n < 24) {
    // Short ASCII (keys, URIs): building the string here beats a UTF-8 decoder call.
    let out = '';
    for (let i = start; i < start + n; i++) {
      const c = b[i]!;
      if (c >= 0x80) return b.toString('utf8', start, start + n);
      out += String.fromCharCode(c);
    }
    return out;
  }
  return b.toString('utf8', start, start + n);
}

function readBinary(r: Reader, n: number): Buffer {
  r.need(n);
  r.binary = true;
  const start = r.offset;
  r.offset += n;
  // A copy: the input may be a connection's buffer that is reused once this message is handled.
  return Buffer.from(r.buffer.subarray(start, start + n));
}

function readArray(r: Reader, n: number, depth: number): unknown[] {
  if (depth >= MAX_DEPTH) throw new MsgpackError(`MessagePack: nested deeper than ${MAX_DEPTH}`);
  // Each element takes at least one byte: a count beyond the bytes left is a lie, not an allocation.
  r.need(n);
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = read(r, depth + 1) ?? null;
  return out;
}

function readMap(r: Reader, n: number, depth: number): Record<string, unknown> {
  if (depth >= MAX_DEPTH) throw new MsgpackError(`MessagePack: nested deeper than ${MAX_DEPTH}`);
  r.need(n * 2);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = read(r, depth + 1);
    const name = typeof key === 'string' ? key : String(key);
    const value = read(r, depth + 1);
    if (value === undefined) continue;
    // An own property, never the prototype setter.
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}

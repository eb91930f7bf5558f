// Test-side frame builder and parser, written straight from the RFC 6455 §5.2 diagram and
// independent of src/protocol/frame-writer.ts, so the two can check each other.

export const OP = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Masking key (4 bytes); null or absent: unmasked. */
  mask?: Buffer | null;
  /** Force a length encoding; by default the minimal one (§5.2). */
  lengthForm?: 7 | 16 | 64;
  /** Declared payload length, when it must differ from the payload actually appended. */
  declaredLength?: number;
  /** Raw 8 bytes of a 64-bit length, overriding everything else about the length. */
  rawLength64?: Buffer;
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(length: number, random: () => number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Bytes 0, 1, 2, ... 255, 0, 1, ... */
export function pattern(length: number, start = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (start + i) & 0xff;
  return out;
}

const maskRandom = prng(0x6455);

/** A fresh, nonzero, pseudo-random masking key. */
export function newMask(): Buffer {
  for (;;) {
    const key = randomBytes(4, maskRandom);
    if (key.readUInt32BE(0) !== 0) return key;
  }
}

export function toBytes(payload: Buffer | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

/** Serialises one frame; always returns a new buffer (the parser may unmask in place). */
export function frame(spec: FrameSpec): Buffer {
  const payload = toBytes(spec.payload);
  const declared = spec.declaredLength ?? payload.length;
  const form = spec.rawLength64 ? 64 : spec.lengthForm ?? (declared < 126 ? 7 : declared < 0x10000 ? 16 : 64);
  const lengthBytes = form === 7 ? 0 : form === 16 ? 2 : 8;
  const mask = spec.mask ?? null;
  const out = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0) + payload.length);
  out[0] =
    (spec.fin === false ? 0 : 0x80) |
    (spec.rsv1 ? 0x40 : 0) |
    (spec.rsv2 ? 0x20 : 0) |
    (spec.rsv3 ? 0x10 : 0) |
    (spec.opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) {
    if (declared > 125) throw new Error('7-bit form holds at most 125');
    out[1] = maskBit | declared;
  } else if (form === 16) {
    if (declared > 0xffff) throw new Error('16-bit form holds at most 65535');
    out[1] = maskBit | 126;
    out.writeUInt16BE(declared, 2);
  } else {
    out[1] = maskBit | 127;
    if (spec.rawLength64) spec.rawLength64.copy(out, 2, 0, 8);
    else out.writeBigUInt64BE(BigInt(declared), 2);
  }
  let p = 2 + lengthBytes;
  if (mask) {
    mask.copy(out, p, 0, 4);
    p += 4;
    for (let i = 0; i < payload.length; i++) out[p + i] = payload[i]! ^ mask[i & 3]!;
  } else {
    payload.copy(out, p);
  }
  return out;
}

/** A frame as a client sends it: masked with a fresh key (§5.3). */
export function clientFrame(spec: Omit<FrameSpec, 'mask'>): Buffer {
  return frame({ ...spec, mask: newMask() });
}

/** A frame as a server sends it: unmasked. */
export function serverFrame(spec: Omit<FrameSpec, 'mask'>): Buffer {
  return frame({ ...spec, mask: null });
}

/** Close frame payload: 2-byte code then the UTF-8 reason (§5.5.1). */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const r = toBytes(reason);
  const out = Buffer.alloc(2 + r.length);
  out.writeUInt16BE(code, 0);
  r.copy(out, 2);
  return out;
}

export interface ParsedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | null;
  /** The payload, unmasked. */
  payload: Buffer;
  /** Which length encoding the frame used. */
  lengthForm: 7 | 16 | 64;
  headerLength: number;
}

/** Parses a complete byte stream into frames; throws if it ends mid-frame. */
export function parseFrames(stream: Buffer): ParsedFrame[] {
  const frames: ParsedFrame[] = [];
  let p = 0;
  while (p < stream.length) {
    if (stream.length - p < 2) throw new Error(`stream ends inside a header at ${p}`);
    const b0 = stream[p]!;
    const b1 = stream[p + 1]!;
    let length = b1 & 0x7f;
    let q = p + 2;
    let lengthForm: 7 | 16 | 64 = 7;
    if (length === 126) {
      length = stream.readUInt16BE(q);
      q += 2;
      lengthForm = 16;
    } else if (length === 127) {
      const big = stream.readBigUInt64BE(q);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('64-bit length out of range');
      length = Number(big);
      q += 8;
      lengthForm = 64;
    }
    const masked = (b1 & 0x80) !== 0;
    let maskKey: Buffer | null = null;
    if (masked) {
      maskKey = Buffer.from(stream.subarray(q, q + 4));
      q += 4;
    }
    if (stream.length - q < length) throw new Error(`stream ends inside a payload at ${p}`);
    const payload = Buffer.from(stream.subarray(q, q + length));
    if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ maskKey[i & 3]!;
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      maskKey,
      payload,
      lengthForm,
      headerLength: q - p,
    });
    p = q + length;
  }
  return frames;
}

/** Splits `data` at the given cut points (copies nothing). */
export function splitAt(data: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let last = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= last || cut >= data.length) continue;
    out.push(data.subarray(last, cut));
    last = cut;
  }
  out.push(data.subarray(last));
  return out;
}

/** Splits `data` into chunks of random sizes in [1, maxChunk]. */
export function randomChunks(data: Buffer, random: () => number, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p < data.length) {
    const size = 1 + Math.floor(random() * maxChunk);
    out.push(data.subarray(p, p + size));
    p += size;
  }
  return out;
}

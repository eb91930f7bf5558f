// The two WAMP serializers, one per WebSocket subprotocol (WAMP Basic Profile, "WebSocket
// Transport"): `wamp.2.json` sends every message as a text frame of JSON, `wamp.2.msgpack` as a
// binary frame of MessagePack.
//
// Binary values in JSON (WAMP Basic Profile, Appendix "Binary support in JSON"): a byte array
// travels as a JSON string made of a NUL character followed by the bytes in base64, so a Buffer
// published by a MessagePack client reaches a JSON subscriber as that string and comes back as
// bytes. The conversion runs only when a message holds binary: decoding checks the text for an
// escaped NUL (JSON cannot hold a raw one) before asking JSON.parse for a reviver, and encoding is
// told by the caller whether the payload held any bin.

import { decode as msgpackDecode, encode as msgpackEncode, type DecodeInfo } from './msgpack.js';

export type SerializerId = 'json' | 'msgpack';

export interface Serializer {
  readonly id: SerializerId;
  /** The WebSocket subprotocol. */
  readonly protocol: string;
  /** Frames are binary (msgpack) or text (json). */
  readonly binary: boolean;
  /**
   * Encodes one message to the bytes of one WebSocket message. `binary`: the message may hold
   * Buffers (only JSON cares). Throws for what cannot be encoded.
   */
  encode(message: unknown[], binary: boolean): Buffer;
  /** Decodes one WebSocket message; `info.binary` tells whether it held bytes. Throws on bad input. */
  decode(data: Buffer, info: DecodeInfo): unknown;
}

const NUL = '\u0000';

/** JSON.stringify replacer: bytes become NUL + base64. `this` holds the value before toJSON(). */
function binaryReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (raw instanceof Uint8Array) return NUL + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  if (raw instanceof ArrayBuffer) return NUL + Buffer.from(raw).toString('base64');
  return value;
}

export const JSON_SERIALIZER: Serializer = Object.freeze({
  id: 'json',
  protocol: 'wamp.2.json',
  binary: false,
  encode(message: unknown[], binary: boolean): Buffer {
    return Buffer.from(binary ? JSON.stringify(message, binaryReplacer) : JSON.stringify(message), 'utf8');
  },
  decode(data: Buffer, info: DecodeInfo): unknown {
    const text = data.toString('utf8');
    info.binary = false;
    // A NUL inside a JSON string must be escaped (RFC 8259 §7), so without "\u0000" there is none.
    if (!text.includes('\\u0000')) return JSON.parse(text);
    return JSON.parse(text, function (this: unknown, _key: string, value: unknown) {
      if (typeof value === 'string' && value.charCodeAt(0) === 0) {
        info.binary = true;
        return Buffer.from(value.slice(1), 'base64');
      }
      return value;
    });
  },
});

export const MSGPACK_SERIALIZER: Serializer = Object.freeze({
  id: 'msgpack',
  protocol: 'wamp.2.msgpack',
  binary: true,
  encode(message: unknown[]): Buffer {
    return msgpackEncode(message);
  },
  decode(data: Buffer, info: DecodeInfo): unknown {
    return msgpackDecode(data, info);
  },
});

/** The WAMP v2 subprotocols this router speaks, and their serializers. */
export const SERIALIZERS: ReadonlyMap<string, Serializer> = new Map([
  [JSON_SERIALIZER.protocol, JSON_SERIALIZER],
  [MSGPACK_SERIALIZER.protocol, MSGPACK_SERIALIZER],
]);

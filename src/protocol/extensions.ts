// Extension negotiation as a general mechanism (RFC 6455 §9). An extension plugs in by
// implementing ServerExtension / ClientExtension; permessage-deflate (RFC 7692) is one of them.
// Extensions nobody registered are declined by leaving them out of the response (§9.1), never
// echoed.

import { parseExtensionHeader, type ExtensionOffer } from './extension-header.js';
import type { MessageCodec } from './message-codec.js';

export interface ServerExtension {
  /** Registered token, lowercase (e.g. 'permessage-deflate'). */
  readonly name: string;
  /**
   * Chooses among the client's offers of this extension, in the client's order of preference.
   * Returns the response element (name and parameters, as it goes in the header) and the codec,
   * or null to decline every offer.
   */
  accept(offers: ExtensionOffer[]): { response: string; codec: MessageCodec } | null;
}

export interface ClientExtension {
  readonly name: string;
  /** The offer, as it goes in Sec-WebSocket-Extensions (one or more comma-separated elements). */
  offer(): string;
  /** Validates the server's response for this extension; throws an Error with a clear message if invalid. */
  accept(response: ExtensionOffer): MessageCodec;
}

export interface NegotiatedExtensions {
  /** The Sec-WebSocket-Extensions response value, or '' when nothing was accepted. */
  header: string;
  /** The codec that owns RSV1, if one was accepted. */
  codec: MessageCodec | null;
}

/** Nothing negotiated: one shared (frozen) result. */
export const NO_EXTENSIONS: NegotiatedExtensions = Object.freeze({ header: '', codec: null });

/** Server side: picks the supported extensions from the client's offers. */
export function negotiateExtensions(offers: ExtensionOffer[], supported: readonly ServerExtension[]): NegotiatedExtensions {
  if (offers.length === 0 || supported.length === 0) return NO_EXTENSIONS;
  let header = '';
  let codec: MessageCodec | null = null;
  for (const extension of supported) {
    const mine = offers.filter((offer) => offer.name === extension.name);
    if (mine.length === 0) continue;
    // Every extension registered today uses RSV1, so at most one can be active (RFC 7692 §6).
    if (codec !== null) break;
    const accepted = extension.accept(mine);
    if (accepted === null) continue;
    header = header === '' ? accepted.response : `${header}, ${accepted.response}`;
    codec = accepted.codec;
  }
  return { header, codec };
}

/** Client side: checks the server's Sec-WebSocket-Extensions against what was offered. */
export function acceptExtensions(
  value: string | string[] | undefined,
  offered: readonly ClientExtension[],
): NegotiatedExtensions {
  const responses = parseExtensionHeader(value);
  if (responses === null) throw new Error('Invalid Sec-WebSocket-Extensions header in the response');
  if (responses.length === 0) return NO_EXTENSIONS;
  let codec: MessageCodec | null = null;
  const seen = new Set<string>();
  for (const response of responses) {
    const extension = offered.find((candidate) => candidate.name === response.name);
    // RFC 6455 §9.1: the server may only accept extensions the client offered, each once.
    if (extension === undefined) {
      throw new Error(`Server accepted the extension "${response.name}", which was not offered`);
    }
    if (seen.has(response.name)) throw new Error(`Server accepted the extension "${response.name}" twice`);
    seen.add(response.name);
    codec = extension.accept(response);
  }
  return { header: Array.isArray(value) ? value.join(', ') : (value ?? ''), codec };
}

// permessage-deflate negotiation (RFC 7692 §5, §7.1), both sides. Pure: offers and responses in
// (as parsed by parseExtensionHeader), parameters and header values out.

import { formatExtension, type ExtensionOffer } from '../../protocol/extension-header.js';

export const EXTENSION_NAME = 'permessage-deflate';

/** The largest LZ77 window, and the one used when nothing limits it (RFC 7692 §7.1.2). */
export const MAX_WINDOW_BITS = 15;
export const MIN_WINDOW_BITS = 8;

/** The parameters of one offer or one response, as RFC 7692 §7.1 names them. */
export interface DeflateParameters {
  /** §7.1.1.1: the server will not (response) / shall not (offer) use context takeover. */
  serverNoContextTakeover: boolean;
  /** §7.1.1.2: the client will not use context takeover. */
  clientNoContextTakeover: boolean;
  /** §7.1.2.1: the server's LZ77 window, 8–15; undefined when absent. */
  serverMaxWindowBits: number | undefined;
  /**
   * §7.1.2.2: the client's LZ77 window, 8–15; `true` when offered without a value (the client
   * supports being limited); undefined when absent.
   */
  clientMaxWindowBits: number | true | undefined;
}

/** What one endpoint does, once negotiated: its own compressor and the peer's. */
export interface AgreedParameters {
  /** Our compressor starts every message afresh. */
  sendNoContextTakeover: boolean;
  /** Our compressor's window bits. */
  sendWindowBits: number;
  /** The peer's compressor starts every message afresh, so our decompressor keeps nothing. */
  receiveNoContextTakeover: boolean;
  /** The peer's largest window bits: what our decompressor needs. */
  receiveWindowBits: number;
}

// §7.1.2.1: "a decimal integer value without leading zeroes between 8 to 15, inclusive".
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;

/**
 * Reads and checks the parameters of one offer (`as: 'offer'`) or response (`as: 'response'`).
 * Returns the parameters, or a sentence saying why they are invalid (§5: unknown parameter,
 * invalid value, or a parameter given twice).
 */
export function readParameters(element: ExtensionOffer, as: 'offer' | 'response'): DeflateParameters | string {
  if (element.duplicateParams) return 'a parameter is given more than once';
  const params: DeflateParameters = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  for (const [name, value] of element.params) {
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // §7.1.1.1, §7.1.1.2: these parameters have no value.
        if (value !== true) return `${name} must not have a value`;
        if (name === 'server_no_context_takeover') params.serverNoContextTakeover = true;
        else params.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        // §7.1.2.1: a value is required, in offers and responses alike.
        if (value === true || !WINDOW_BITS.test(value)) return `${name} must be an integer from 8 to 15`;
        params.serverMaxWindowBits = Number(value);
        break;
      case 'client_max_window_bits':
        // §7.1.2.2: the value is optional in an offer, required in a response.
        if (value === true) {
          if (as === 'response') return `${name} must have a value in a response`;
          params.clientMaxWindowBits = true;
        } else if (WINDOW_BITS.test(value)) {
          params.clientMaxWindowBits = Number(value);
        } else {
          return `${name} must be an integer from 8 to 15`;
        }
        break;
      default:
        return `unknown parameter ${name}`;
    }
  }
  return params;
}

/** The server's policy (see PerMessageDeflateServerOptions for the meaning of each). */
export interface ServerPolicy {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
  acceptOffer: ((offer: DeflateParameters) => boolean) | undefined;
}

/**
 * Server side: picks the first acceptable offer, in the client's order (§5). Invalid offers and
 * those the policy refuses are declined. Returns the response element and what was agreed, or
 * null when every offer is declined.
 */
export function selectOffer(
  offers: readonly ExtensionOffer[],
  policy: ServerPolicy,
): { response: string; agreed: AgreedParameters } | null {
  for (const offer of offers) {
    const params = readParameters(offer, 'offer');
    if (typeof params === 'string') continue;
    if (policy.acceptOffer !== undefined && !policy.acceptOffer(params)) continue;
    return answerOffer(params, policy);
  }
  return null;
}

function answerOffer(offer: DeflateParameters, policy: ServerPolicy): { response: string; agreed: AgreedParameters } {
  const response: [string, string | true][] = [];
  // §7.1.1.1: accepting an offer with server_no_context_takeover means echoing it; the server may
  // also add it on its own.
  const serverNoContextTakeover = offer.serverNoContextTakeover || policy.serverNoContextTakeover;
  if (serverNoContextTakeover) response.push(['server_no_context_takeover', true]);
  // §7.1.1.2: the server may always demand it. When the client offered it as a hint, echoing it
  // makes it binding, which lets this server decompress without keeping anything between messages.
  const clientNoContextTakeover = offer.clientNoContextTakeover || policy.clientNoContextTakeover;
  if (clientNoContextTakeover) response.push(['client_no_context_takeover', true]);
  // §7.1.2.1: answer an offered limit with the same or a smaller value; without one, the server
  // may still announce a smaller window of its own.
  let sendWindowBits = policy.serverMaxWindowBits;
  if (offer.serverMaxWindowBits !== undefined) sendWindowBits = Math.min(sendWindowBits, offer.serverMaxWindowBits);
  if (offer.serverMaxWindowBits !== undefined || sendWindowBits < MAX_WINDOW_BITS) {
    response.push(['server_max_window_bits', String(sendWindowBits)]);
  }
  // §7.1.2.2: only a client that offered client_max_window_bits may be limited, to at most the
  // value it offered; without it the client may use the whole 15 bits.
  let receiveWindowBits = MAX_WINDOW_BITS;
  if (offer.clientMaxWindowBits !== undefined) {
    receiveWindowBits = policy.clientMaxWindowBits;
    if (offer.clientMaxWindowBits !== true) receiveWindowBits = Math.min(receiveWindowBits, offer.clientMaxWindowBits);
    if (receiveWindowBits < MAX_WINDOW_BITS || offer.clientMaxWindowBits !== true) {
      response.push(['client_max_window_bits', String(receiveWindowBits)]);
    }
  }
  return {
    response: formatExtension(EXTENSION_NAME, response),
    agreed: {
      sendNoContextTakeover: serverNoContextTakeover,
      sendWindowBits,
      receiveNoContextTakeover: clientNoContextTakeover,
      receiveWindowBits,
    },
  };
}

/** What the client asks for (see PerMessageDeflateClientOptions). */
export interface ClientRequest {
  clientNoContextTakeover: boolean;
  serverNoContextTakeover: boolean;
  /** true: offer client_max_window_bits without a value (the server may pick); a number: at most that. */
  clientMaxWindowBits: number | true | undefined;
  serverMaxWindowBits: number | undefined;
}

/** Client side: the offer element for Sec-WebSocket-Extensions. */
export function buildOffer(request: ClientRequest): string {
  const params: [string, string | true][] = [];
  if (request.clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
  if (request.serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
  if (request.serverMaxWindowBits !== undefined) params.push(['server_max_window_bits', String(request.serverMaxWindowBits)]);
  if (request.clientMaxWindowBits !== undefined) {
    params.push(['client_max_window_bits', request.clientMaxWindowBits === true ? true : String(request.clientMaxWindowBits)]);
  }
  return formatExtension(EXTENSION_NAME, params);
}

/**
 * Client side: checks the server's response against the offer (§5, §7.1) and returns what was
 * agreed. Throws an Error naming the problem; the client then fails the connection.
 */
export function acceptResponse(response: ExtensionOffer, request: ClientRequest): AgreedParameters {
  const params = readParameters(response, 'response');
  if (typeof params === 'string') throw new Error(`Invalid permessage-deflate response: ${params}`);
  // §7.1.1.1: a server accepts server_no_context_takeover by including it.
  if (request.serverNoContextTakeover && !params.serverNoContextTakeover) {
    throw new Error('Invalid permessage-deflate response: server_no_context_takeover was offered but not accepted');
  }
  // §7.1.2.1: a requested server window limit must be answered with the same or a smaller value.
  if (request.serverMaxWindowBits !== undefined) {
    if (params.serverMaxWindowBits === undefined) {
      throw new Error('Invalid permessage-deflate response: server_max_window_bits was offered but not accepted');
    }
    if (params.serverMaxWindowBits > request.serverMaxWindowBits) {
      throw new Error(
        `Invalid permessage-deflate response: server_max_window_bits=${params.serverMaxWindowBits} exceeds the offered ${request.serverMaxWindowBits}`,
      );
    }
  }
  // §7.1.2.2: the server may only limit a client that offered client_max_window_bits, and not
  // beyond the value it offered.
  let sendWindowBits = typeof request.clientMaxWindowBits === 'number' ? request.clientMaxWindowBits : MAX_WINDOW_BITS;
  if (params.clientMaxWindowBits !== undefined) {
    if (request.clientMaxWindowBits === undefined) {
      throw new Error('Invalid permessage-deflate response: client_max_window_bits was not offered');
    }
    const value = params.clientMaxWindowBits as number;
    if (value > sendWindowBits) {
      throw new Error(`Invalid permessage-deflate response: client_max_window_bits=${value} exceeds the offered ${sendWindowBits}`);
    }
    sendWindowBits = value;
  }
  return {
    // §7.1.1.2: offering client_no_context_takeover is a promise the client keeps either way.
    sendNoContextTakeover: params.clientNoContextTakeover || request.clientNoContextTakeover,
    sendWindowBits,
    receiveNoContextTakeover: params.serverNoContextTakeover,
    receiveWindowBits: params.serverMaxWindowBits ?? MAX_WINDOW_BITS,
  };
}

/** Checks a window-bits option: an integer from 8 to 15. */
export function checkWindowBits(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_WINDOW_BITS || value > MAX_WINDOW_BITS) {
    throw new RangeError(`${name} must be an integer from 8 to 15, got ${String(value)}`);
  }
  return value;
}

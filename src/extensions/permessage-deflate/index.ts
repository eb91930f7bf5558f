// permessage-deflate (RFC 7692) as a ServerExtension and a ClientExtension.
//
//   new WebSocketServer({ port, extensions: [perMessageDeflate()] })
//   await connect(url, { extensions: [perMessageDeflateClient()] })

import type { ExtensionOffer } from '../../protocol/extension-header.js';
import type { ClientExtension, ServerExtension } from '../../protocol/extensions.js';
import type { MessageCodec } from '../../protocol/message-codec.js';
import { PerMessageDeflateCodec, type CodecSettings } from './codec.js';
import {
  acceptResponse,
  buildOffer,
  checkWindowBits,
  EXTENSION_NAME,
  selectOffer,
  type ClientRequest,
  type DeflateParameters,
  type ServerPolicy,
} from './negotiation.js';
import { SYNC_ZLIB_AVAILABLE } from './zlib-pool.js';
import { checkOptionNames } from '../../util/options.js';

export type { DeflateParameters } from './negotiation.js';
export { PerMessageDeflateCodec } from './codec.js';

/** Settings of the compression itself, the same on both sides. */
export interface PerMessageDeflateOptions {
  /**
   * zlib compression level, 0 (store) to 9 (smallest). Default 1: on text it is 2–5 times as fast
   * as level 6 for output about 10% larger.
   */
  level?: number;
  /**
   * zlib memLevel, 1–9: memory of each compressor (the shared ones, or a connection's own with a
   * contextIdleTimeout). Default 8.
   */
  memLevel?: number;
  /** Messages shorter than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /**
   * 0 (the default): a connection holds no zlib context of its own; with context takeover it keeps
   * the last 2^window bytes each way and every message borrows a shared context seeded with them
   * (same compression, more CPU per message). Otherwise: milliseconds without a compressed message
   * after which the connection's own zlib contexts (~100–300 KiB) are freed, only the history
   * being kept; Infinity never frees them (the behaviour of ws).
   */
  contextIdleTimeout?: number;
}

/**
 * The server's policy. The defaults accept any valid offer, with context takeover, and limit both
 * windows to 13 bits (the client's only when it offers client_max_window_bits, as browsers do).
 */
export interface PerMessageDeflateServerOptions extends PerMessageDeflateOptions {
  /**
   * Always answer server_no_context_takeover: the server compresses every message afresh and
   * keeps no compressor per connection. Default false.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Always answer client_no_context_takeover: clients compress every message afresh and the
   * server keeps no decompressor per connection. Default false.
   */
  clientNoContextTakeover?: boolean;
  /** Largest window for the server's compressor (announced as server_max_window_bits), 8–15. Default 13. */
  serverMaxWindowBits?: number;
  /**
   * Largest window asked of clients that offer client_max_window_bits, 8–15 (others may use 15).
   * Default 13.
   */
  clientMaxWindowBits?: number;
  /** Declines offers this returns false for (they are considered in the client's order). */
  acceptOffer?: (offer: DeflateParameters) => boolean;
}

/** What the client offers. By default: `permessage-deflate; client_max_window_bits`, as browsers do. */
export interface PerMessageDeflateClientOptions extends PerMessageDeflateOptions {
  /** Offer client_no_context_takeover (and compress every message afresh). Default false. */
  clientNoContextTakeover?: boolean;
  /** Ask the server not to use context takeover. Default false. */
  serverNoContextTakeover?: boolean;
  /**
   * client_max_window_bits: true offers it without a value (the server may then limit the
   * client's window), a number 8–15 also limits it, false leaves it out. Default true.
   */
  clientMaxWindowBits?: boolean | number;
  /** Ask the server to use at most this window, 8–15. Default: not asked. */
  serverMaxWindowBits?: number;
}

const DEFAULT_LEVEL = 1;
const DEFAULT_MEM_LEVEL = 8;
const DEFAULT_THRESHOLD = 1024;
const DEFAULT_CONTEXT_IDLE_TIMEOUT = 0;
/**
 * The server's windows by default: on the JSON corpus (bench/deflate-settings.ts) 13 bits give
 * output ~7% larger than 15, keep 8 KiB of history each way instead of 32 KiB, and seed a shared
 * context for half the CPU (README, Compression).
 */
const DEFAULT_SERVER_WINDOW_BITS = 13;
const DEFAULT_CLIENT_WINDOW_BITS = 13;

const CODEC_OPTIONS = ['level', 'memLevel', 'threshold', 'contextIdleTimeout'];
const SERVER_OPTIONS = new Set([...CODEC_OPTIONS, 'serverNoContextTakeover', 'clientNoContextTakeover', 'serverMaxWindowBits', 'clientMaxWindowBits', 'acceptOffer']);
const CLIENT_OPTIONS = new Set([...CODEC_OPTIONS, 'serverNoContextTakeover', 'clientNoContextTakeover', 'serverMaxWindowBits', 'clientMaxWindowBits']);
/** The options of ws's perMessageDeflate, and what to use instead. */
const WS_HINTS: Record<string, string> = {
  zlibDeflateOptions: 'Use level and memLevel.',
  zlibInflateOptions: 'The decompressor needs no options.',
  concurrencyLimit: 'zlib runs in bounded synchronous slices: there is no thread pool to limit.',
};

function codecSettings(options: PerMessageDeflateOptions): CodecSettings {
  const level = options.level ?? DEFAULT_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`level must be an integer from 0 to 9, got ${String(level)}`);
  const memLevel = options.memLevel ?? DEFAULT_MEM_LEVEL;
  if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) {
    throw new RangeError(`memLevel must be an integer from 1 to 9, got ${String(memLevel)}`);
  }
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  if (typeof threshold !== 'number' || Number.isNaN(threshold) || threshold < 0) {
    throw new RangeError(`threshold must be a non-negative number, got ${String(threshold)}`);
  }
  const contextIdleTimeout = options.contextIdleTimeout ?? DEFAULT_CONTEXT_IDLE_TIMEOUT;
  if (typeof contextIdleTimeout !== 'number' || Number.isNaN(contextIdleTimeout) || contextIdleTimeout < 0) {
    throw new RangeError(`contextIdleTimeout must be a non-negative number, got ${String(contextIdleTimeout)}`);
  }
  return { level, memLevel, threshold, contextIdleTimeout };
}

let warned = false;
function unsupported(): boolean {
  if (SYNC_ZLIB_AVAILABLE) return false;
  if (!warned) {
    warned = true;
    process.emitWarning('permessage-deflate is disabled: this runtime does not expose synchronous zlib handles', {
      code: 'UPSHIFT_DEFLATE_UNSUPPORTED',
    });
  }
  return true;
}

/** permessage-deflate for WebSocketServer's `extensions`. */
export function perMessageDeflate(options: PerMessageDeflateServerOptions = {}): ServerExtension {
  checkOptionNames('perMessageDeflate()', options, SERVER_OPTIONS, WS_HINTS);
  const settings = codecSettings(options);
  const policy: ServerPolicy = {
    serverNoContextTakeover: options.serverNoContextTakeover === true,
    clientNoContextTakeover: options.clientNoContextTakeover === true,
    serverMaxWindowBits:
      options.serverMaxWindowBits === undefined
        ? DEFAULT_SERVER_WINDOW_BITS
        : checkWindowBits('serverMaxWindowBits', options.serverMaxWindowBits),
    clientMaxWindowBits:
      options.clientMaxWindowBits === undefined
        ? DEFAULT_CLIENT_WINDOW_BITS
        : checkWindowBits('clientMaxWindowBits', options.clientMaxWindowBits),
    acceptOffer: options.acceptOffer,
  };
  return {
    name: EXTENSION_NAME,
    accept(offers: ExtensionOffer[]): { response: string; codec: MessageCodec } | null {
      if (unsupported()) return null;
      const selected = selectOffer(offers, policy);
      if (selected === null) return null;
      return { response: selected.response, codec: new PerMessageDeflateCodec(selected.agreed, settings) };
    },
  };
}

/** permessage-deflate for connect()'s `extensions`. */
export function perMessageDeflateClient(options: PerMessageDeflateClientOptions = {}): ClientExtension {
  checkOptionNames('perMessageDeflateClient()', options, CLIENT_OPTIONS, WS_HINTS);
  const settings = codecSettings(options);
  const bits = options.clientMaxWindowBits ?? true;
  const request: ClientRequest = {
    clientNoContextTakeover: options.clientNoContextTakeover === true,
    serverNoContextTakeover: options.serverNoContextTakeover === true,
    clientMaxWindowBits: bits === false ? undefined : bits === true ? true : checkWindowBits('clientMaxWindowBits', bits),
    serverMaxWindowBits:
      options.serverMaxWindowBits === undefined ? undefined : checkWindowBits('serverMaxWindowBits', options.serverMaxWindowBits),
  };
  const offer = buildOffer(request);
  return {
    name: EXTENSION_NAME,
    offer(): string {
      return unsupported() ? '' : offer;
    },
    accept(response: ExtensionOffer): MessageCodec {
      return new PerMessageDeflateCodec(acceptResponse(response, request), settings);
    },
  };
}

/**
 * The extension list for a `perMessageDeflate` shortcut option: adds permessage-deflate unless
 * the list already has it. @internal
 */
export function withPerMessageDeflate<E extends { name: string }>(
  extensions: readonly E[] | undefined,
  option: boolean | object | undefined,
  create: (options: object) => E,
): readonly E[] {
  const list = extensions ?? [];
  if (option === undefined || option === false) return list;
  if (list.some((extension) => extension.name === EXTENSION_NAME)) return list;
  return [...list, create(option === true ? {} : option)];
}

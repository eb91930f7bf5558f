// node:http2, loaded on first use rather than imported. Loading it loads node:assert, which opens
// process.stderr; when stderr is a pipe (a service manager, a container, a benchmark harness) that
// makes a net.Socket with a few properties of its own while V8 is still sizing net.Socket objects
// (in-object slack tracking, over the first constructions), and every later socket of the
// process, each server connection's included, is then made 40 bytes larger (issue 13).

import type * as Http2 from 'node:http2';

let module: typeof Http2 | null = null;

/** The node:http2 module, loaded on the first call. */
export function http2(): typeof Http2 {
  return (module ??= process.getBuiltinModule('node:http2'));
}

// The few constants needed before node:http2 is (otherwise) loaded.

/** RFC 9113 §7: CANCEL, the stream is no longer needed. */
export const NGHTTP2_CANCEL = 0x8;
/** RFC 9113 §7: INTERNAL_ERROR. */
export const NGHTTP2_INTERNAL_ERROR = 0x2;
/** RFC 9113 §8.3.2: the response status pseudo-header. */
export const HTTP2_HEADER_STATUS = ':status';
/** RFC 9113 §8.2: field names are lowercase. */
export const HTTP2_HEADER_CONTENT_TYPE = 'content-type';
export const HTTP2_HEADER_CONTENT_LENGTH = 'content-length';

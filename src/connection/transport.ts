// What a connection needs to know about the transport under it, beyond the Duplex interface.

import type { ClientHttp2Stream, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { NGHTTP2_CANCEL } from '../util/http2.js';

/**
 * RFC 8441 §5: an abnormal closure of a WebSocket on an HTTP/2 stream resets the stream with
 * CANCEL; the session and its other streams live on.
 */
export function cancelStream(transport: Duplex): void {
  const stream = transport as ServerHttp2Stream | ClientHttp2Stream;
  if (stream.destroyed) return;
  if (typeof stream.close === 'function' && !stream.closed) stream.close(NGHTTP2_CANCEL);
  else stream.destroy();
}

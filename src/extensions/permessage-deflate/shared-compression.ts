// Compressing a SharedMessage once for every peer of one compressor kind (RFC 7692 §7.2.1), with
// a fresh context from the shared pool, so that it refers to nothing before it and any peer whose
// window is at least as large decodes it, with or without context takeover. Up to
// SHARED_SYNC_LIMIT it is done at once (the first peer's send gets it); a larger one in slices on
// the zlib scheduler, like any large message, while the peers that need it wait for its
// SharedEncoding to settle.

import type { SharedEncoding } from '../../protocol/shared-message.js';
import { acquireShared, deflateSlice, OutputCollector, releaseShared, runJob, withoutTail, type ZlibContext, type ZlibJob } from './zlib-pool.js';

/** Messages up to this size are compressed at once (256 KiB of JSON: 0.8 ms at level 1, 1.4 ms at level 6). */
export const SHARED_SYNC_LIMIT = 256 * 1024;

/** Starts making `encoding` from `data` with a pooled context of `key`: at once, or in slices. */
export function compressShared(key: string, create: () => ZlibContext, data: Buffer, encoding: SharedEncoding): void {
  const job = new SharedCompressJob(key, create, data, encoding);
  if (data.length > SHARED_SYNC_LIMIT) {
    runJob(job);
    return;
  }
  while (!job.step());
  job.finish();
}

class SharedCompressJob implements ZlibJob {
  private readonly key: string;
  private readonly create: () => ZlibContext;
  private readonly data: Buffer;
  private readonly encoding: SharedEncoding;
  private readonly output = new OutputCollector(Infinity);
  private context: ZlibContext | null = null;
  private offset = 0;
  private result: Buffer | null = null;
  private error: Error | null = null;

  constructor(key: string, create: () => ZlibContext, data: Buffer, encoding: SharedEncoding) {
    this.key = key;
    this.create = create;
    this.data = data;
    this.encoding = encoding;
  }

  step(): boolean {
    const context = (this.context ??= acquireShared(this.key, this.create));
    try {
      this.offset = deflateSlice(this.output, context, this.data, this.offset);
    } catch (error) {
      this.error = error as Error;
      context.close();
      this.context = null;
      return true;
    }
    if (this.offset < this.data.length) return false;
    this.result = withoutTail(this.output.take());
    releaseShared(context);
    this.context = null;
    return true;
  }

  finish(): void {
    this.encoding.settle(this.result, this.error);
  }
}

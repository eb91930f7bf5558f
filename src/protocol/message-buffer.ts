// Collects the pieces of a message that did not arrive in one socket chunk.
//
// Large pieces are kept as zero-copy slices of the chunks they came in; small ones are copied
// into a shared tail buffer, so a flood of tiny fragments or tiny TCP segments costs about one
// byte of memory per payload byte instead of one Buffer object per piece.

const SMALL_PIECE = 1024;
const TAIL_MIN = 4096;

export class MessageBuffer {
  private parts: Buffer[] = [];
  private tail: Buffer | null = null;
  private tailLength = 0;
  length = 0;

  append(source: Buffer, start: number, end: number): void {
    const size = end - start;
    if (size === 0) return;
    this.length += size;
    if (size >= SMALL_PIECE) {
      this.sealTail();
      this.parts.push(source.subarray(start, end));
      return;
    }
    let tail = this.tail;
    if (tail === null || this.tailLength + size > tail.length) {
      this.sealTail();
      tail = this.tail = Buffer.allocUnsafe(Math.max(TAIL_MIN, size));
    }
    source.copy(tail, this.tailLength, start, end);
    this.tailLength += size;
  }

  /** The whole message as one buffer; the collector is empty afterwards. */
  take(): Buffer {
    this.sealTail();
    const parts = this.parts;
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.length);
    this.parts = [];
    this.length = 0;
    return out;
  }

  clear(): void {
    this.parts = [];
    this.tail = null;
    this.tailLength = 0;
    this.length = 0;
  }

  private sealTail(): void {
    if (this.tail !== null && this.tailLength > 0) {
      this.parts.push(this.tail.subarray(0, this.tailLength));
    }
    this.tail = null;
    this.tailLength = 0;
  }
}

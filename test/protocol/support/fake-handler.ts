// A ProtocolHandler that records everything the protocol core does, in order, and a harness that
// feeds the core the way an adapter does: bytes the core leaves (while a message decodes, or while
// the handler holds input) wait and go first next time.
import {
  WebSocketProtocol,
  type ProtocolHandler,
  type ProtocolOptions,
  type WriteTag,
} from '../../../src/protocol/websocket-protocol.js';
import type { WebSocketError } from '../../../src/protocol/errors.js';
import { parseFrames, type ParsedFrame } from './frames.js';

export type ProtocolEvent =
  | { type: 'message'; data: Buffer; isBinary: boolean }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; error: WebSocketError }
  /** Marks where in the event stream output was written, and how many bytes. */
  | { type: 'write'; length: number };

export class RecordingHandler implements ProtocolHandler {
  readonly events: ProtocolEvent[] = [];
  /** Snapshots of every write, in order. */
  readonly writes: Buffer[] = [];
  /** The buffers exactly as passed to write(). */
  readonly writeRefs: Buffer[] = [];
  /** The tag of each write (undefined for most), aligned with `writes`. */
  readonly writeTags: (WriteTag | undefined)[] = [];
  backedUp = false;
  /** Set to keep message buffers as delivered instead of snapshotting them. */
  keepReferences = false;
  /** While true, onMessage, onPing and onPong answer false: the core stops after each. */
  holdInput = false;
  /** Sets holdInput when it returns true for an event (a handler that pauses on something). */
  holdWhen: ((event: ProtocolEvent) => boolean) | null = null;
  /** How many times the core asked to end the transport. */
  endCalls = 0;
  /** How many writes came before the first endTransport() (-1: none yet). */
  writesBeforeEnd = -1;
  /** Called from onDecoded(); the harness feeds what the core left. */
  inputReady: (() => void) | null = null;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  onMessage(data: Buffer, isBinary: boolean): boolean {
    this.record({ type: 'message', data: this.keepReferences ? data : Buffer.from(data), isBinary });
    return !this.holdInput;
  }
  onPing(data: Buffer): boolean {
    this.record({ type: 'ping', data: Buffer.from(data) });
    return !this.holdInput;
  }
  onPong(data: Buffer): boolean {
    this.record({ type: 'pong', data: Buffer.from(data) });
    return !this.holdInput;
  }
  onCloseFrame(code: number, reason: string): void {
    this.record({ type: 'close', code, reason });
  }
  onProtocolError(error: WebSocketError): void {
    this.record({ type: 'error', error });
  }
  write(data: Buffer, tag?: WriteTag): void {
    this.writeRefs.push(data);
    this.writes.push(Buffer.from(data));
    this.writeTags.push(tag);
    this.record({ type: 'write', length: data.length });
  }
  writeSlab(slab: Buffer, start: number, end: number, tag?: WriteTag): void {
    this.write(slab.subarray(start, end), tag);
  }
  isWriteBackedUp(): boolean {
    return this.backedUp;
  }
  endTransport(): void {
    if (this.endCalls++ === 0) this.writesBeforeEnd = this.writes.length;
  }
  onDecoded(): void {
    this.inputReady?.();
  }

  private record(event: ProtocolEvent): void {
    this.events.push(event);
    if (this.holdWhen?.(event) === true) this.holdInput = true;
    this.waiters = this.waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `check` holds (checked now and after every event); rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs = 5000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.check !== check);
        reject(new Error(`condition not met within ${timeoutMs} ms; events: ${this.describe()}`));
      }, timeoutMs);
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Everything written so far, as one buffer. */
  output(): Buffer {
    return Buffer.concat(this.writes);
  }

  /** Everything written so far, parsed into frames. */
  frames(): ParsedFrame[] {
    return parseFrames(this.output());
  }

  /** Forgets recorded writes (events stay). */
  clearOutput(): void {
    this.writes.length = 0;
    this.writeRefs.length = 0;
    this.writeTags.length = 0;
  }

  messages(): { data: Buffer; isBinary: boolean }[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [{ data: e.data, isBinary: e.isBinary }] : []));
  }

  /** Message payloads decoded as UTF-8 (for text-heavy assertions). */
  texts(): string[] {
    return this.messages().map((m) => m.data.toString('utf8'));
  }

  errors(): WebSocketError[] {
    return this.events.flatMap((e) => (e.type === 'error' ? [e.error] : []));
  }

  /** Event types in order, without the write markers. */
  kinds(): string[] {
    return this.events.filter((e) => e.type !== 'write').map((e) => e.type);
  }

  describe(): string {
    return JSON.stringify(
      this.events.map((e) =>
        e.type === 'message'
          ? `message(${e.isBinary ? 'binary' : 'text'}, ${e.data.length})`
          : e.type === 'error'
            ? `error(${e.error.code}, ${e.error.closeCode})`
            : e.type === 'close'
              ? `close(${e.code})`
              : e.type === 'write'
                ? `write(${e.length})`
                : e.type,
      ),
    );
  }
}

export interface Harness {
  protocol: WebSocketProtocol;
  handler: RecordingHandler;
  /**
   * Feeds each chunk through receive(), in order. What the core leaves waits, and is fed first,
   * when the decode under way ends or release() is called.
   */
  feed(...chunks: Buffer[]): void;
  /** Bytes fed but not consumed by the core yet. */
  waiting(): number;
  /** Clears handler.holdInput and feeds what waits. */
  release(): void;
}

export const DEFAULT_LIMITS = { maxPayload: 64 * 1024 * 1024, maxFragments: 1_000_000 };

export function makeProtocol(role: 'server' | 'client', options: Partial<Omit<ProtocolOptions, 'role'>> = {}): Harness {
  const handler = new RecordingHandler();
  const protocol = new WebSocketProtocol(handler, { ...DEFAULT_LIMITS, ...options, role });
  const queue: Buffer[] = [];
  const pump = (): void => {
    while (queue.length > 0 && !protocol.decodePending && !handler.holdInput) {
      const chunk = queue.shift()!;
      const used = protocol.receive(chunk);
      if (used < chunk.length) queue.unshift(chunk.subarray(used));
    }
  };
  handler.inputReady = pump;
  return {
    protocol,
    handler,
    feed(...chunks: Buffer[]): void {
      queue.push(...chunks);
      pump();
    },
    waiting: () => queue.reduce((sum, chunk) => sum + chunk.length, 0),
    release(): void {
      handler.holdInput = false;
      pump();
    },
  };
}

export const makeServer = (options?: Partial<Omit<ProtocolOptions, 'role'>>): Harness => makeProtocol('server', options);
export const makeClient = (options?: Partial<Omit<ProtocolOptions, 'role'>>): Harness => makeProtocol('client', options);

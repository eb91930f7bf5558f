// Micro-benchmark of what Upshift adds per echoed small message, without sockets (not a test): a
// server connection on a Duplex whose writes complete at once, fed one masked 32-byte frame per
// 'data' event, its message handler sending the payload back — against the same Duplex echoing
// each chunk with write(chunk), as bench/servers/raw-echo.mjs does. Both pay Node's stream layer
// for the write; the difference is the parse, the event, the framing and the flush.
// Usage: npx tsc -p . && node dist/bench/micro/echo.js [--messages N]
// Prints ns of this process's CPU time (user + system) per message, the median of 7 rounds each.
import { Duplex } from 'node:stream';
import { createConnection } from '../../src/connection/websocket-connection.js';

const arg = process.argv.indexOf('--messages');
const N = arg === -1 ? 200_000 : Number(process.argv[arg + 1]);
if (!Number.isInteger(N) || N <= 0) throw new Error('--messages wants a positive integer');
const ROUNDS = 7;
const PAYLOAD = 32;

/** One masked binary frame (RFC 6455 §5.2) of PAYLOAD 'a's. */
function maskedFrame(): Buffer {
  const mask = [0x01, 0x02, 0x03, 0x04];
  const frame = Buffer.alloc(2 + 4 + PAYLOAD);
  frame[0] = 0x82;
  frame[1] = 0x80 | PAYLOAD;
  frame.set(mask, 2);
  for (let i = 0; i < PAYLOAD; i++) frame[6 + i] = 0x61 ^ mask[i & 3]!;
  return frame;
}

const FRAME = maskedFrame();

class Sink extends Duplex {
  written = 0;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written += chunk.length;
    callback();
  }
}

/** CPU ns per message while `feed` pushes N frames. */
function timed(feed: () => void): number {
  const start = process.cpuUsage();
  feed();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / N;
}

function upshiftRound(): number {
  const sink = new Sink();
  const ws = createConnection(sink, {
    role: 'server',
    maxPayload: 1 << 20,
    maxFragments: 1000,
    closeTimeout: 1000,
    highWaterMark: 1 << 20,
    maxUnansweredPings: Infinity,
    protocol: '',
    extensions: '',
    codec: null,
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  const ns = timed(() => {
    for (let i = 0; i < N; i++) sink.emit('data', Buffer.from(FRAME));
  });
  // An unmasked server frame: 2 bytes of header and the payload.
  if (sink.written !== N * (2 + PAYLOAD)) throw new Error(`upshift wrote ${sink.written} bytes, not ${N * (2 + PAYLOAD)}`);
  return ns;
}

function rawRound(): number {
  const sink = new Sink();
  sink.on('data', (chunk: Buffer) => sink.write(chunk));
  const ns = timed(() => {
    for (let i = 0; i < N; i++) sink.emit('data', Buffer.from(FRAME));
  });
  if (sink.written !== N * FRAME.length) throw new Error(`raw wrote ${sink.written} bytes`);
  return ns;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const upshift: number[] = [];
const raw: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  upshift.push(upshiftRound());
  raw.push(rawRound());
}
console.log(`${N} messages of ${PAYLOAD} B, median of ${ROUNDS} rounds, CPU ns per message:`);
console.log(`  upshift (parse, 'message', send, flush, write)  ${median(upshift).toFixed(0)}`);
console.log(`  raw (write(chunk))                               ${median(raw).toFixed(0)}`);

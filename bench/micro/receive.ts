// Micro-benchmark for the receive path of src/protocol/websocket-protocol.ts (not a test): masked
// client frames fed to a server-role WebSocketProtocol in socket-sized chunks, no I/O.
// Usage: npx tsc -p . && node dist/bench/micro/receive.js [filter]
// Prints MB of payload (1 MB = 1e6 bytes) per second of this process's CPU time (not wall time:
// the machine may be shared), best of a few rounds, and the minor page faults per pass (fresh
// memory the kernel maps in: with glibc, message buffers of 128 KiB or more come from mmap and
// each page costs a fault on first touch — load-independent, and most of a large message's cost). The input is copied from a
// template before each pass (the parser may unmask it in place); that copy is in every figure.

import { WebSocketProtocol, type ProtocolHandler } from '../../src/protocol/websocket-protocol.js';

const MIN_US = 300_000;
const ROUNDS = 5;

function frame(opcode: number, fin: boolean, payload: Buffer, mask: Buffer): Buffer {
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = 0x80 | (ext === 0 ? n : ext === 2 ? 126 : 127);
  if (ext === 2) out.writeUInt16BE(n, 2);
  if (ext === 8) out.writeBigUInt64BE(BigInt(n), 2);
  mask.copy(out, 2 + ext);
  for (let i = 0; i < n; i++) out[2 + ext + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/** Cuts the stream into chunks of `size` bytes (the last may be shorter). */
function chunks(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(stream.subarray(i, Math.min(i + size, stream.length)));
  return out;
}

let received = 0;
const handler: ProtocolHandler = {
  onMessage: (data) => {
    received += data.length;
  },
  onPing: () => {},
  onPong: () => {},
  onCloseFrame: () => {},
  onProtocolError: (error) => {
    throw error;
  },
  write: () => {},
  writeSlab: () => {},
  isWriteBackedUp: () => false,
  endTransport: () => {},
  onDecoded: () => {},
};

function run(name: string, stream: Buffer, chunkSize: number, payloadBytes: number): void {
  const template = chunks(stream, chunkSize);
  const work = template.map((c) => Buffer.allocUnsafe(c.length));
  const core = new WebSocketProtocol(handler, { role: 'server', maxPayload: 64 * 1024 * 1024, maxFragments: 1 << 20 });
  const pass = (): void => {
    for (let i = 0; i < template.length; i++) {
      template[i]!.copy(work[i]!);
      core.receive(work[i]!);
    }
  };
  pass();
  let best = 0;
  let passesTotal = 0;
  const faults0 = process.resourceUsage().minorPageFault;
  for (let round = 0; round < ROUNDS; round++) {
    let passes = 0;
    const t0 = process.cpuUsage();
    let dt = 0;
    do {
      pass();
      passes++;
      const t = process.cpuUsage(t0);
      dt = t.user + t.system;
    } while (dt < MIN_US);
    best = Math.max(best, (passes * payloadBytes) / dt);
    passesTotal += passes;
  }
  const faults = (process.resourceUsage().minorPageFault - faults0) / passesTotal;
  console.log(`${name.padEnd(52)} ${best.toFixed(0).padStart(7)} MB/cpu-s ${faults.toFixed(1).padStart(7)} faults/pass`);
}

const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);
const filter = process.argv[2] ?? '';
const ascii = (n: number): Buffer => Buffer.from('abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(n / 26)).slice(0, n));
const MIB = 1024 * 1024;
const cases: [string, () => void][] = [
  ['binary 1 MiB, 64 KiB chunks', () => run('binary 1 MiB, 64 KiB chunks', frame(2, true, ascii(MIB), MASK), 65536, MIB)],
  ['text 1 MiB, 64 KiB chunks', () => run('text 1 MiB, 64 KiB chunks', frame(1, true, ascii(MIB), MASK), 65536, MIB)],
  ['binary 1 MiB, 16 x 64 KiB fragments, 64 KiB chunks', () => {
    const parts = Array.from({ length: 16 }, (_, i) => frame(i === 0 ? 2 : 0, i === 15, ascii(65536), MASK));
    run('binary 1 MiB, 16 x 64 KiB fragments, 64 KiB chunks', Buffer.concat(parts), 65536, MIB);
  }],
  ['binary 32 B x 1000, one chunk', () => {
    const one = frame(2, true, ascii(32), MASK);
    run('binary 32 B x 1000, one chunk', Buffer.concat(Array.from({ length: 1000 }, () => one)), 1 << 20, 32_000);
  }],
  ['binary 32 B x 1000, 1000-byte chunks (splits)', () => {
    const one = frame(2, true, ascii(32), MASK);
    run('binary 32 B x 1000, 1000-byte chunks (splits)', Buffer.concat(Array.from({ length: 1000 }, () => one)), 1000, 32_000);
  }],
  ['binary 16 KiB, 1000-byte chunks', () => run('binary 16 KiB, 1000-byte chunks', frame(2, true, ascii(16384), MASK), 1000, 16384)],
];
for (const [name, fn] of cases) if (name.includes(filter)) fn();
if (received === 0) console.log('(nothing received)');

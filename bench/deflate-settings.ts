// permessage-deflate settings compared on the JSON corpus (bench/corpus/json-messages.jsonl): server
// memory per connection, compression ratio and CPU per message, one row per setting a user would
// choose among.
//
//   npx tsc -p . && node dist/bench/deflate-settings.js [--conns 200] [--rounds 12] [--only 13/13]
//
// Each row runs in a fresh process (node --expose-gc). It holds `conns` server-side codecs, as a
// WebSocketServer would, each with context takeover both ways, and echoes `rounds` messages per
// connection: the client's message (compressed beforehand by a client codec with the window the
// server asked for) is decompressed, then the message is compressed back. Figures:
//   KiB/conn   (RSS after − RSS before) / conns, after a full GC, every connection having just
//              exchanged `rounds` messages (contexts that are freed when quiet are still held)
//   history    bytes kept per connection to seed shared contexts (part of KiB/conn)
//   ratio      compressed bytes / message bytes, for what the server sent (all messages are
//              compressed: threshold 0)
//   µs/msg     process CPU (user + system) per message echoed (one inflate and one deflate), over
//              `rounds` further messages per connection
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PerMessageDeflateCodec, type CodecSettings } from '../src/extensions/permessage-deflate/codec.js';
import type { AgreedParameters } from '../src/extensions/permessage-deflate/negotiation.js';
import { CORPUS_PATH } from './corpus/make-json-corpus.js';

interface Setting {
  /** Server window (its compressor, announced as server_max_window_bits). */
  server: number;
  /** Client window asked with client_max_window_bits. */
  client: number;
  memLevel: number;
  level: number;
  /** 0: shared contexts seeded per message; > 0: contexts of the connection's own while active. */
  contextIdleTimeout: number;
  noContext?: boolean;
  label: string;
}

const SETTINGS: Setting[] = [
  { label: 'own contexts 15/15 mem 8 (ws, Upshift before)', server: 15, client: 15, memLevel: 8, level: 1, contextIdleTimeout: 10_000 },
  { label: 'own contexts 13/13 mem 6', server: 13, client: 13, memLevel: 6, level: 1, contextIdleTimeout: 10_000 },
  { label: 'own contexts 10/10 mem 1', server: 10, client: 10, memLevel: 1, level: 1, contextIdleTimeout: 10_000 },
  { label: 'seeded 15/15 mem 8', server: 15, client: 15, memLevel: 8, level: 1, contextIdleTimeout: 0 },
  { label: 'seeded 14/14 mem 8', server: 14, client: 14, memLevel: 8, level: 1, contextIdleTimeout: 0 },
  { label: 'seeded 13/13 mem 8 (default)', server: 13, client: 13, memLevel: 8, level: 1, contextIdleTimeout: 0 },
  { label: 'seeded 13/13 mem 8 level 6', server: 13, client: 13, memLevel: 8, level: 6, contextIdleTimeout: 0 },
  { label: 'seeded 13/13 mem 4', server: 13, client: 13, memLevel: 4, level: 1, contextIdleTimeout: 0 },
  { label: 'seeded 12/12 mem 8', server: 12, client: 12, memLevel: 8, level: 1, contextIdleTimeout: 0 },
  { label: 'seeded 11/11 mem 8', server: 11, client: 11, memLevel: 8, level: 1, contextIdleTimeout: 0 },
  { label: 'seeded 10/10 mem 8', server: 10, client: 10, memLevel: 8, level: 1, contextIdleTimeout: 0 },
  { label: 'seeded 9/9 mem 8', server: 9, client: 9, memLevel: 8, level: 1, contextIdleTimeout: 0 },
  { label: 'no context takeover', server: 15, client: 15, memLevel: 8, level: 1, contextIdleTimeout: 0, noContext: true },
];

interface Result {
  kibPerConn: number;
  ratio: number;
  cpuUs: number;
  retained: number;
}

function call<T>(run: (callback: (error: Error | null, data?: Buffer) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, data) => (error ? reject(error) : resolve(data as T))));
}

async function measure(setting: Setting, conns: number, rounds: number): Promise<Result> {
  const corpus = readFileSync(CORPUS_PATH, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => Buffer.from(line));
  const settings: CodecSettings = { level: setting.level, memLevel: setting.memLevel, threshold: 0, contextIdleTimeout: setting.contextIdleTimeout };
  const takeover = setting.noContext !== true;
  const serverAgreed: AgreedParameters = {
    sendNoContextTakeover: !takeover,
    sendWindowBits: setting.server,
    receiveNoContextTakeover: !takeover,
    receiveWindowBits: setting.client,
  };
  const clientAgreed: AgreedParameters = {
    sendNoContextTakeover: !takeover,
    sendWindowBits: setting.client,
    receiveNoContextTakeover: !takeover,
    receiveWindowBits: setting.server,
  };
  // Connection i sends corpus messages i*7, i*7+1, ... (wrapping): a stream of related messages.
  const message = (conn: number, round: number): Buffer => corpus[(conn * 7 + round) % corpus.length]!;
  const frames: Buffer[][] = [];
  for (let i = 0; i < conns; i++) {
    const client = new PerMessageDeflateCodec(clientAgreed, { ...settings, contextIdleTimeout: 0 });
    const list: Buffer[] = [];
    for (let r = 0; r < 2 * rounds; r++) list.push(await call<Buffer>((cb) => client.encode(message(i, r), cb)));
    client.release();
    frames.push(list);
  }
  const gc = (globalThis as { gc?: () => void }).gc!;
  const settle = (): void => {
    for (let i = 0; i < 4; i++) gc();
  };
  // Warm-up: the same messages through codecs that keep nothing, so that the heap and malloc grow
  // to what the transient buffers of a pass need before the baseline; RSS then grows by what the
  // connections hold, not by the garbage of the pass.
  const noContext: AgreedParameters = { ...serverAgreed, sendNoContextTakeover: true, receiveNoContextTakeover: true };
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < conns; i++) {
      const warm = new PerMessageDeflateCodec(noContext, { ...settings, contextIdleTimeout: 0 });
      const out = await call<Buffer>((cb) => warm.encode(message(i, r), cb));
      await call<Buffer>((cb) => warm.decode(out, 64 * 1024 * 1024, cb));
      warm.release();
    }
  }
  settle();
  const before = process.memoryUsage().rss;
  const servers = Array.from({ length: conns }, () => new PerMessageDeflateCodec(serverAgreed, settings));
  let raw = 0;
  let compressed = 0;
  const echo = async (from: number, to: number): Promise<void> => {
    for (let r = from; r < to; r++) {
      for (let i = 0; i < conns; i++) {
        const data = await call<Buffer>((cb) => servers[i]!.decode(frames[i]![r]!, 64 * 1024 * 1024, cb));
        const out = await call<Buffer>((cb) => servers[i]!.encode(data, cb));
        raw += data.length;
        compressed += out.length;
      }
    }
  };
  // The first rounds make every connection's state; memory is measured then. CPU is measured on
  // the next rounds, once the memory is there (faulting it in is a one-time cost per connection).
  await echo(0, rounds);
  settle();
  const after = process.memoryUsage().rss;
  const retained = servers.reduce((sum, s) => sum + s.retainedBytes + s.retainedSendBytes, 0) / conns;
  const cpu = process.cpuUsage();
  await echo(rounds, 2 * rounds);
  const used = process.cpuUsage(cpu);
  for (const s of servers) s.release();
  return {
    kibPerConn: (after - before) / conns / 1024,
    ratio: compressed / raw,
    cpuUs: (used.user + used.system) / (conns * rounds),
    retained,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const conns = option('--conns', 200);
  const rounds = option('--rounds', 12);
  if (args[0] === '--child') {
    const result = await measure(SETTINGS[Number(args[1])]!, conns, rounds);
    process.send!(result);
    return;
  }
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1]! : null;
  console.log(`server side, ${conns} connections x ${rounds} corpus messages echoed, threshold 0`);
  console.log(`${'setting'.padEnd(48)}${'KiB/conn'.padStart(10)}${'history'.padStart(10)}${'ratio'.padStart(8)}${'µs/msg'.padStart(8)}`);
  for (let index = 0; index < SETTINGS.length; index++) {
    const setting = SETTINGS[index]!;
    if (only !== null && !setting.label.includes(only)) continue;
    const child = fork(fileURLToPath(import.meta.url), ['--child', String(index), ...args], { execArgv: ['--expose-gc'] });
    const result = await new Promise<Result>((resolve, reject) => {
      child.once('message', (message) => resolve(message as Result));
      child.once('exit', (code) => reject(new Error(`the measuring process exited with ${code}`)));
    });
    child.kill();
    console.log(
      `${setting.label.padEnd(48)}${result.kibPerConn.toFixed(1).padStart(10)}${(result.retained / 1024).toFixed(1).padStart(10)}${result.ratio
        .toFixed(3)
        .padStart(8)}${result.cpuUs.toFixed(1).padStart(8)}`,
    );
  }
}

await main();

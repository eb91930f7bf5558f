// Generates bench/corpus/json-messages.jsonl: a deterministic stream of realistic WebSocket JSON
// messages (one per line) for the compression benchmarks. Mixed as an application would see them:
// chat messages and presence events (100–600 B), market-data ticks and order-book snapshots
// (200 B–4 KiB), API responses with lists of records (1–16 KiB). Consecutive messages share keys
// and values the way a real stream does, which is what context takeover exploits.
//
//   npx tsc -p . && node dist/bench/corpus/make-json-corpus.js [--count 700] [--seed 7]
//
// The output is committed; regenerate it only when changing this script.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** mulberry32: a tiny seeded PRNG, enough to make the corpus the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Frances', 'Alan', 'Radia', 'Guido', 'Sophie', 'Yukihiro', 'Anita'];
const LAST = ['Lovelace', 'Hopper', 'Torvalds', 'Hamilton', 'Thompson', 'Liskov', 'Ritchie', 'Allen', 'Turing', 'Perlman', 'van Rossum', 'Wilson'];
const WORDS =
  'the a to and of in is it you that for on with this be are have not at just so can will what about we do was but my like all if get your out they one up there how time when really good think know people new see would more now make going want some been then need from today work back look thanks sure yes no maybe later meeting release deploy build test review merge fix bug issue ticket customer order price market update'.split(
    ' ',
  );
const SYMBOLS = ['BTC-USD', 'ETH-USD', 'SOL-USD', 'AAPL', 'MSFT', 'NVDA', 'EUR-USD', 'GBP-USD', 'TSLA', 'AMZN'];
const ROOMS = ['general', 'random', 'dev', 'support', 'ops', 'design', 'sales'];
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'];
const COUNTRIES = ['FR', 'DE', 'US', 'GB', 'JP', 'BR', 'IN', 'ES', 'IT', 'CA'];

function make(count: number, seed: number): string[] {
  const random = prng(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  const name = (): string => `${pick(FIRST)} ${pick(LAST)}`;
  const sentence = (words: number): string => Array.from({ length: words }, () => pick(WORDS)).join(' ');
  const uuid = (): string =>
    Array.from({ length: 32 }, () => '0123456789abcdef'[int(16)])
      .join('')
      .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
  let time = Date.UTC(2026, 10, 30, 9, 0, 0);
  const prices = new Map(SYMBOLS.map((symbol, i) => [symbol, 20 + i * 137.31]));
  let sequence = 1_000_000;

  const chat = (): object => ({
    type: 'chat.message',
    id: uuid(),
    room: pick(ROOMS),
    from: { id: `u_${int(500)}`, name: name() },
    text: sentence(3 + int(40)),
    ts: new Date(time).toISOString(),
    ...(random() < 0.2 ? { replyTo: uuid() } : {}),
    ...(random() < 0.1 ? { reactions: { '👍': int(9), '🎉': int(4) } } : {}),
  });
  const presence = (): object => ({ type: 'presence', user: `u_${int(500)}`, status: pick(['online', 'away', 'offline']), ts: time });
  const tick = (): object => {
    const symbol = pick(SYMBOLS);
    const price = prices.get(symbol)! * (1 + (random() - 0.5) / 500);
    prices.set(symbol, price);
    return { type: 'ticker', seq: sequence++, symbol, price: price.toFixed(2), size: (random() * 10).toFixed(4), side: pick(['buy', 'sell']), ts: time };
  };
  const book = (): object => {
    const symbol = pick(SYMBOLS);
    const mid = prices.get(symbol)!;
    const levels = 5 + int(45);
    const side = (sign: number): string[][] =>
      Array.from({ length: levels }, (_, i) => [(mid + sign * (i + 1) * mid * 0.0001).toFixed(2), (random() * 5).toFixed(4)]);
    return { type: 'book.snapshot', seq: sequence++, symbol, bids: side(-1), asks: side(1), ts: time };
  };
  const orders = (): object => {
    const n = 3 + int(40);
    return {
      type: 'api.response',
      requestId: uuid(),
      status: 200,
      data: Array.from({ length: n }, () => ({
        id: `ord_${int(1e8)}`,
        customer: { id: `c_${int(5000)}`, name: name(), country: pick(COUNTRIES) },
        status: pick(STATUSES),
        total: { amount: (random() * 500).toFixed(2), currency: 'EUR' },
        items: Array.from({ length: 1 + int(4) }, () => ({ sku: `SKU-${int(9000) + 1000}`, qty: 1 + int(3) })),
        createdAt: new Date(time - int(86_400_000 * 30)).toISOString(),
      })),
      page: { next: random() < 0.5 ? uuid() : null, size: n },
    };
  };

  const out: string[] = [];
  while (out.length < count) {
    time += int(2000);
    const r = random();
    let message: object;
    if (r < 0.35) message = chat();
    else if (r < 0.45) message = presence();
    else if (r < 0.75) message = tick();
    else if (r < 0.87) message = book();
    else message = orders();
    const text = JSON.stringify(message);
    // 100 B – 16 KiB: drop what falls outside (rare) rather than cut JSON.
    if (text.length >= 100 && text.length <= 16 * 1024) out.push(text);
  }
  return out;
}

/** The committed corpus, relative to this script once compiled (dist/bench/corpus/). */
export const CORPUS_PATH = fileURLToPath(new URL('../../../bench/corpus/json-messages.jsonl', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const messages = make(option('--count', 700), option('--seed', 7));
  writeFileSync(CORPUS_PATH, messages.join('\n') + '\n');
  const sizes = messages.map((m) => Buffer.byteLength(m)).sort((a, b) => a - b);
  const total = sizes.reduce((a, b) => a + b, 0);
  console.log(`${messages.length} messages, ${total} bytes, median ${sizes[sizes.length >> 1]} B, max ${sizes[sizes.length - 1]} B -> ${CORPUS_PATH}`);
}

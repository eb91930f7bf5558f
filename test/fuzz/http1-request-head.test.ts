// Property-based fuzzing of the upgrade fast path's request-head parser
// (src/protocol/http1-request-head.ts): it never throws, agrees with a plain reference written
// from RFC 9112 §2–§5 on every input (well-formed heads generated from a model, the same heads
// damaged, and arbitrary bytes), gives the same answer whatever the chunking when fed the way the
// upgrade listener feeds it (the whole prefix again after each chunk), and runs in linear time.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { INCOMPLETE, NOT_MINE, parseUpgradeRequestHead, rawHeadersOf, TOO_LARGE } from '../../src/protocol/http1-request-head.js';
import { check, checkAsync, chunksAt, cutPoints, fc, ows, token, TCHARS } from './support/fuzz.js';
import { within } from '../helpers/events.js';
import { assertLinear, LINEAR_N } from '../protocol/support/linearity.js';

type Parsed = ReturnType<typeof parseUpgradeRequestHead>;
/** The model's answer: rawHeaders listed, where the parser keeps the text. */
type ModelResult = Exclude<Parsed, object> | { method: string; url: string; headers: Record<string, string>; rawHeaders: string[]; length: number };
type Result = Parsed | ModelResult;

const MAX_HEAD = 16 * 1024;

// ------------------------------------------------------------------------------------ reference

// The list-valued fields the parser joins: its contract, written out again on purpose so that
// the reference does not share the parser's data.
const LIST_FIELDS = new Set('connection upgrade sec-websocket-protocol sec-websocket-extensions cache-control pragma accept-encoding accept-language cookie'.split(' '));
const TOKEN = new RegExp(`^[${TCHARS.replace(/[\\\]^-]/g, '\\$&')}]+$`);

/** RFC 9110 §5.6.1: does the comma-separated list hold `wanted` (ASCII case-insensitive)? */
function listHas(value: string | undefined, wanted: string): boolean {
  return value !== undefined && value.split(',').some((e) => e.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase() === wanted);
}

/**
 * The parser's contract, written the plain way (split into lines, regular expressions): the head
 * ends at the first CRLFCRLF (RFC 9112 §2.1); "GET origin-form HTTP/1.1" (§3); fields are
 * `token ":" OWS value OWS` with no CTLs (§5, RFC 9110 §5.5); list fields join with ", ", any
 * other repeat goes to the full parser; no body; Upgrade has websocket, Connection has upgrade,
 * Host is present (RFC 6455 §4.1).
 */
function reference(data: Buffer, maxSize: number): ModelResult {
  const end = data.indexOf('\r\n\r\n');
  // Over the limit: the listener answers 431 (RFC 6585 §5).
  if (end === -1) return data.length >= maxSize ? TOO_LARGE : INCOMPLETE;
  if (end + 4 > maxSize) return TOO_LARGE;
  const [requestLine, ...fieldLines] = data.toString('latin1', 0, end).split('\r\n');
  const request = /^GET (\/[\x21-\x7e]*) HTTP\/1\.1$/.exec(requestLine!);
  if (request === null || fieldLines.length > 100) return NOT_MINE;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const rawHeaders: string[] = [];
  for (const line of fieldLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, Math.max(colon, 0));
    if (colon === -1 || !TOKEN.test(name)) return NOT_MINE;
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return NOT_MINE;
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    // Names an ordinary object inherits (__proto__, constructor, …) go to node:http.
    if (key in Object.prototype) return NOT_MINE;
    if (!Object.hasOwn(headers, key)) headers[key] = value;
    else if (key === 'cookie') headers[key] += `; ${value}`;
    else if (LIST_FIELDS.has(key)) headers[key] += `, ${value}`;
    else return NOT_MINE;
  }
  if (Object.hasOwn(headers, 'content-length') || Object.hasOwn(headers, 'transfer-encoding')) return NOT_MINE;
  if (!listHas(headers['upgrade'], 'websocket') || !listHas(headers['connection'], 'upgrade')) return NOT_MINE;
  if (!Object.hasOwn(headers, 'host')) return NOT_MINE;
  return { method: 'GET', url: request[1]!, headers, rawHeaders, length: end + 4 };
}

/** Results as plain data: headers as [name, value] pairs, whatever their object's prototype. */
function plain(result: Result): unknown {
  if (typeof result !== 'object') return result;
  // The parser keeps the head's text and reads rawHeaders from it on demand; the model lists them.
  const rawHeaders = 'text' in result ? rawHeadersOf(result.text) : result.rawHeaders;
  return { method: result.method, url: result.url, headers: Object.entries(result.headers), rawHeaders, length: result.length };
}

// ---------------------------------------------------------------------------------- arbitraries

/** A field value: visible ASCII, obs-text, inner SP/HTAB (RFC 9110 §5.5). */
const fieldValue = fc.string({
  unit: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) },
    { weight: 2, arbitrary: fc.constantFrom(' ', '\t', ',') },
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
  ),
  maxLength: 20,
});

/** Names drawn from a small pool (so repeats happen) or any token. */
const fieldName = fc.oneof(
  fc.constantFrom('Host', 'host', 'Upgrade', 'Connection', 'Cookie', 'cookie', 'X-A', 'x-a', 'Sec-WebSocket-Protocol', 'Accept-Language', 'Sec-WebSocket-Key', 'Content-Length', 'Transfer-Encoding'),
  token,
);

const field = fc.tuple(fieldName, ows, fieldValue, ows).map(([name, before, value, after]) => `${name}:${before}${value}${after}\r\n`);

const requiredFields = fc.record({
  host: fc.option(fc.constantFrom('Host: example.test\r\n', 'HOST:127.0.0.1:8080\r\n'), { freq: 8, nil: '' }),
  upgrade: fc.option(fc.constantFrom('Upgrade: websocket\r\n', 'upgrade: WebSocket\r\n', 'Upgrade: h2c, websocket\r\n', 'Upgrade: h2c\r\n'), { freq: 8, nil: '' }),
  connection: fc.option(fc.constantFrom('Connection: Upgrade\r\n', 'connection: keep-alive,  upgrade \r\n', 'Connection: close\r\n'), { freq: 8, nil: '' }),
});

const target = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 30 }).map((s) => `/${s}`) },
  { weight: 1, arbitrary: fc.constantFrom('http://example.test/', '*', '/a b', '') },
);

/** A request head (latin1 text) from the model: request line, fields in any order, blank line. */
const wellFormedHead = fc
  .tuple(
    fc.oneof({ weight: 8, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'get', 'OPTIONS') }),
    target,
    fc.oneof({ weight: 8, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'http/1.1') }),
    requiredFields,
    fc.array(field, { maxLength: 8 }),
    fc.nat(),
  )
  .map(([method, url, version, required, extra, seed]) => {
    const fields = [required.host, required.upgrade, required.connection, ...extra].filter((f) => f !== '');
    // A cheap deterministic shuffle, so required fields are not always first.
    for (let i = fields.length - 1; i > 0; i--) {
      const j = (seed + i * 7919) % (i + 1);
      [fields[i], fields[j]] = [fields[j]!, fields[i]!];
    }
    return `${method} ${url} ${version}\r\n${fields.join('')}\r\n`;
  });

/** Damage that targets HTTP syntax: special characters inserted, bytes replaced, truncation. */
const damage = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(), fc.constantFrom('\r', '\n', '\r\n', ' ', '\t', ':', '\0', '\x7f', '\xff', ',', 'Host: x\r\n', '\r\n\r\n', ' \r\n'))
      .map(([at, text]) => (s: string): string => {
        const i = at % (s.length + 1);
        return s.slice(0, i) + text + s.slice(i);
      }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, code]) => (s: string): string => {
      if (s.length === 0) return s;
      const i = at % s.length;
      return s.slice(0, i) + String.fromCharCode(code) + s.slice(i + 1);
    }),
  },
  { weight: 1, arbitrary: fc.nat().map((n) => (s: string): string => s.slice(0, n % (s.length + 1))) },
);

/** A WebSocket upgrade head with about 100 fields, around the parser's field-count limit. */
const manyFieldsHead = fc.integer({ min: 95, max: 102 }).map(
  (extra) => `GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n${Array.from({ length: extra }, (_, i) => `X-${i}: ${i}\r\n`).join('')}\r\n`,
);

/** Bytes to parse: heads from the model, damaged heads (with whatever follows), any bytes. */
const headBytes = fc.oneof(
  { weight: 1, arbitrary: manyFieldsHead.map((s) => Buffer.from(s, 'latin1')) },
  { weight: 4, arbitrary: wellFormedHead.map((s) => Buffer.from(s, 'latin1')) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(wellFormedHead, fc.array(damage, { minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 8 }))
      .map(([s, hits, tail]) => Buffer.concat([Buffer.from(hits.reduce((text, hit) => hit(text), s), 'latin1'), tail])),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
);

const maxSize = fc.oneof({ weight: 3, arbitrary: fc.constant(MAX_HEAD) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) });

// ------------------------------------------------------------------------------- properties

/** The upgrade listener's way: after each chunk, parse everything received so far. */
function feedLikeTheListener(chunks: Buffer[], limit: number): { result: Result; chunksUsed: number } {
  let received = Buffer.alloc(0);
  for (let i = 0; i < chunks.length; i++) {
    received = Buffer.concat([received, chunks[i]!]);
    const result = parseUpgradeRequestHead(received, limit);
    if (result !== INCOMPLETE) return { result, chunksUsed: i + 1 };
  }
  return { result: INCOMPLETE, chunksUsed: chunks.length };
}

describe('request-head parser fuzz', () => {
  it('never throws and agrees with the reference on every input', () => {
    check(
      fc.property(headBytes, maxSize, (data, limit) => {
        assert.deepEqual(plain(parseUpgradeRequestHead(data, limit)), plain(reference(data, limit)));
      }),
      2000,
    );
  });

  it('accepts most heads from the model, with the fields as sent (the generator reaches the accepting path)', () => {
    let accepted = 0;
    check(
      fc.property(wellFormedHead, (text) => {
        const result = parseUpgradeRequestHead(Buffer.from(text, 'latin1'), MAX_HEAD);
        if (typeof result !== 'object') return;
        accepted++;
        assert.equal(result.length, Buffer.byteLength(text, 'latin1'));
        // rawHeaders reproduce the field lines, OWS aside.
        const lines = text.slice(text.indexOf('\r\n') + 2, -4).split('\r\n');
        assert.equal(rawHeadersOf(result.text).length, lines.length * 2);
      }),
      500,
    );
    assert.ok(accepted > 50, `only ${accepted} of 500 heads accepted`);
  });

  it('gives the same answer whatever the chunking, fed as the upgrade listener feeds it', () => {
    check(
      fc.property(headBytes, maxSize, cutPoints, (data, limit, cuts) => {
        // Sockets never deliver empty chunks.
        const chunks = chunksAt(data, cuts).filter((c) => c.length > 0);
        const { result, chunksUsed } = feedLikeTheListener(chunks, limit);
        const whole = parseUpgradeRequestHead(data, limit);
        if (result === INCOMPLETE) {
          assert.equal(whole, data.length === 0 ? whole : INCOMPLETE);
          return;
        }
        assert.deepEqual(plain(result), plain(whole));
        // It answered as soon as it could: one chunk fewer was not enough.
        if (chunksUsed > 1) assert.equal(parseUpgradeRequestHead(Buffer.concat(chunks.slice(0, chunksUsed - 1)), limit), INCOMPLETE);
      }),
      1000,
    );
  });

  it('takes linear time on adversarial heads (8x the input costs well under 64x the time)', () => {
    // Shapes that would make a backtracking or rescanning parser quadratic.
    const shapes: Record<string, (n: number) => string> = {
      'one long value of spaces': (n) => `GET / HTTP/1.1\r\nHost: a\r\nX: ${' '.repeat(n)}x${' \t'.repeat(n)}\r\n\r\n`,
      'one long name': (n) => `GET / HTTP/1.1\r\nHost: a\r\n${'x'.repeat(n)}: 1\r\n\r\n`,
      'a long target': (n) => `GET /${'a'.repeat(n)} HTTP/1.1\r\nHost: a\r\n\r\n`,
      'a long target of spaces': (n) => `GET /${' '.repeat(n)}\r\n\r\n`,
      'colons everywhere': (n) => `GET / HTTP/1.1\r\nHost: a\r\nX:${':'.repeat(n)}\r\n\r\n`,
      'bare CRs and LFs': (n) => `GET / HTTP/1.1\r\nHost: a\r\nX: ${'\r\n\n\r'.repeat(n / 4)}\r\n\r\n`,
      'a long list value': (n) => `GET / HTTP/1.1\r\nHost: a\r\nUpgrade: ${'a, '.repeat(n / 3)}websocket\r\nConnection: upgrade\r\n\r\n`,
      'no blank line': (n) => `GET / HTTP/1.1\r\n${'X: 1\r\n'.repeat(n / 6)}`,
    };
    // CPU time of n against 8n, retried when a busy machine inflates one ratio (support/linearity).
    for (const [name, make] of Object.entries(shapes)) {
      assertLinear(name, LINEAR_N, (n) => Buffer.from(make(n), 'latin1'), (bytes) => parseUpgradeRequestHead(bytes, Infinity));
    }
  });
});

/** How node:http's parser (llhttp) took a request head. */
type NodeOutcome =
  | { kind: 'upgrade'; method: string; url: string; headers: [string, unknown][]; rawHeaders: string[] }
  | { kind: 'request' | 'error' };

describe("request-head parser fuzz: what it accepts, node:http reads the same way", () => {
  // The fast path answers for node:http on the heads it takes, so on those it must read what
  // Node's own parser would: no request means one thing to one parser and another to the other.
  let server: Server;
  let port = 0;
  let outcome: ((result: NodeOutcome) => void) | null = null;

  before(async () => {
    server = createServer();
    const report = (result: NodeOutcome): void => {
      outcome?.(result);
      outcome = null;
    };
    server.on('upgrade', (req: IncomingMessage, socket) => {
      report({ kind: 'upgrade', method: req.method!, url: req.url!, headers: Object.entries(req.headers), rawHeaders: req.rawHeaders });
      socket.destroy();
    });
    server.on('request', (_req, res) => {
      report({ kind: 'request' });
      res.destroy();
    });
    server.on('clientError', (_error, socket) => {
      report({ kind: 'error' });
      socket.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  /** Sends `head` to node:http and reports how it was taken. */
  async function nodeParse(head: Buffer): Promise<NodeOutcome> {
    const result = new Promise<NodeOutcome>((resolve) => (outcome = resolve));
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.end(head);
    try {
      return await within(result, 5000, 'node:http to take the head');
    } finally {
      socket.destroy();
    }
  }

  it('on every head the fast path accepts, node:http sees an upgrade with the same target and fields', async () => {
    await checkAsync(
      fc.asyncProperty(wellFormedHead, async (text) => {
        const data = Buffer.from(text, 'latin1');
        const fast = parseUpgradeRequestHead(data, MAX_HEAD);
        if (typeof fast !== 'object') return;
        const node = await nodeParse(data);
        assert.equal(node.kind, 'upgrade', text);
        if (node.kind !== 'upgrade') return;
        assert.equal(node.method, fast.method);
        assert.equal(node.url, fast.url);
        assert.deepEqual(node.rawHeaders, rawHeadersOf(fast.text));
        assert.deepEqual(node.headers, Object.entries(fast.headers), text);
      }),
      150,
      0.05,
    );
  });
});

describe('request-head parser: cases found by fuzzing', () => {
  const head = (fields: string): Buffer =>
    Buffer.from(`GET / HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\n${fields}Upgrade: websocket\r\n\r\n`, 'latin1');

  // Seed 1713250670 (FUZZ_RUNS=200000): a field named `__proto__` (node:http drops it). The
  // fast path's headers are an ordinary object now (see below), so such heads go to node:http.
  it('a field named __proto__ sends the head to node:http', () => {
    assert.equal(parseUpgradeRequestHead(head('__proto__:\r\n'), MAX_HEAD), NOT_MINE);
    assert.equal(reference(head('__proto__:\r\n'), MAX_HEAD), NOT_MINE);
  });

  // Found by the node:http cross-check above (default seed): node:http joins repeated Cookie
  // fields with "; " (the cookie-pair separator of RFC 6265 §5.4, also what RFC 9113 §8.2.3
  // prescribes for HTTP/2); the fast path joins them with ", ", so verify() and the connection
  // handler read `a=1, b=2` where node:http gives `a=1; b=2` (and a cookie parser then sees one
  // cookie `a` with the value `1, b=2`).
  it(
    'repeated Cookie fields are joined with "; ", as node:http does',
    () => {
      const result = parseUpgradeRequestHead(head('Cookie: a=1\r\ncookie: b=2\r\n'), MAX_HEAD);
      assert.ok(typeof result === 'object');
      assert.equal(result.headers['cookie'], 'a=1; b=2');
    },
  );

  // Seed 1713250670 again: the fast path's headers object has no prototype, while Node's
  // IncomingMessage.headers is an ordinary object, so `req.headers.hasOwnProperty('x')` in a
  // verify() hook throws a TypeError for fast-path handshakes only (and a `__proto__` field shows
  // up there while Node's parser drops it).
  it(
    'headers is an ordinary object, as in IncomingMessage',
    () => {
      for (const fields of ['', '__proto__: x\r\n', 'constructor: y\r\n']) {
        const result = parseUpgradeRequestHead(head(fields), MAX_HEAD);
        if (typeof result !== 'object') continue; // handing it to node:http is fine too
        assert.equal(Object.getPrototypeOf(result.headers), Object.prototype, JSON.stringify(fields));
        assert.equal(typeof result.headers.hasOwnProperty, 'function');
      }
    },
  );
});


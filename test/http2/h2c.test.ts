// The h2c upgrade (RFC 7540 §3.2) on a node:http server, seen from a raw socket that speaks the
// HTTP/2 framing by hand, plus the sans-I/O pieces it is built from (RFC 7541 integers and
// literals, the connection preface, HTTP2-Settings).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttp2Server } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import {
  CLIENT_PREFACE,
  decodeHttp2Settings,
  encodeHeaderBlock,
  encodeInteger,
  headersFrames,
  readClientPreface,
} from '../../src/upgrade/h2c-frames.js';
import { enableH2c, upgradeRequestFields } from '../../src/upgrade/h2c.js';
import { RawClient, rawRequest } from '../helpers/raw-client.js';
import { startHttpServer } from '../helpers/server.js';
import { EVENT_WAIT_MS, within } from '../helpers/events.js';

const SETTINGS_PAYLOAD = Buffer.from([0x00, 0x03, 0x00, 0x00, 0x00, 0x64, 0x00, 0x04, 0x00, 0x00, 0xff, 0xff]);

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

interface H2Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Reads the next HTTP/2 frame the server sent. */
async function readH2Frame(client: RawClient, ms = EVENT_WAIT_MS): Promise<H2Frame> {
  return client.waitFor(
    () => {
      if (client.buffer.length < 9) return undefined;
      const length = client.buffer.readUIntBE(0, 3);
      if (client.buffer.length < 9 + length) return undefined;
      const out = {
        type: client.buffer[3]!,
        flags: client.buffer[4]!,
        streamId: client.buffer.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(client.buffer.subarray(9, 9 + length)),
      };
      client.buffer = client.buffer.subarray(9 + length);
      return out;
    },
    ms,
    'an HTTP/2 frame',
  );
}

/** Collects the response on `streamId`: its first HEADERS block and its body, up to END_STREAM. */
async function readResponse(client: RawClient, streamId: number): Promise<{ headerBlock: Buffer; body: string; others: H2Frame[] }> {
  let headerBlock: Buffer | null = null;
  let body = '';
  const others: H2Frame[] = [];
  for (;;) {
    const next = await readH2Frame(client);
    if (next.streamId !== streamId) {
      others.push(next);
      continue;
    }
    if (next.type === 0x1 && headerBlock === null) headerBlock = next.payload;
    if (next.type === 0x0) body += next.payload.toString();
    if ((next.flags & 0x1) !== 0) return { headerBlock: headerBlock ?? Buffer.alloc(0), body, others };
  }
}

const upgradeHeaders = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n` +
  `HTTP2-Settings: ${SETTINGS_PAYLOAD.toString('base64url')}\r\nAccept: */*\r\n${extra}\r\n`;

describe('HTTP/2 wire pieces', () => {
  it('encodes integers as in RFC 7541 C.1', () => {
    const out: number[] = [];
    encodeInteger(10, 5, 0, out);
    assert.deepEqual(out, [0x0a]);
    const big: number[] = [];
    encodeInteger(1337, 5, 0, big);
    assert.deepEqual(big, [0x1f, 0x9a, 0x0a]);
    const octet: number[] = [];
    encodeInteger(42, 8, 0, octet);
    assert.deepEqual(octet, [0x2a]);
  });

  it('encodes literal fields without indexing, new name, raw strings (RFC 7541 §6.2.2)', () => {
    assert.deepEqual(
      [...encodeHeaderBlock([[':path', '/x']])],
      [0x00, 5, ...Buffer.from(':path'), 2, ...Buffer.from('/x')],
    );
    const long = 'v'.repeat(200);
    const block = encodeHeaderBlock([['a', long]]);
    assert.deepEqual([...block.subarray(0, 5)], [0x00, 1, 0x61, 0x7f, 200 - 127]);
    assert.equal(block.length, 5 + 200);
  });

  it('splits a large header block into HEADERS + CONTINUATION frames', () => {
    const block = Buffer.alloc(40, 1);
    const out = headersFrames(1, block, true, 16);
    assert.equal(out.length, 3 * 9 + 40);
    assert.deepEqual([out[3], out[4]], [0x1, 0x1], 'HEADERS with END_STREAM, without END_HEADERS');
    assert.deepEqual([out[9 + 16 + 3], out[9 + 16 + 4]], [0x9, 0x0]);
    assert.deepEqual([out[2 * (9 + 16) + 3], out[2 * (9 + 16) + 4]], [0x9, 0x4], 'the last CONTINUATION ends the headers');
    assert.equal(out.readUInt32BE(5), 1);
  });

  it('reads the client connection preface and its SETTINGS frame', () => {
    const settings = frame(0x4, 0, 0, SETTINGS_PAYLOAD);
    const whole = Buffer.concat([CLIENT_PREFACE, settings, Buffer.from('more')]);
    assert.deepEqual(readClientPreface(whole), { state: 'complete', length: 24 + 9 + 12 });
    assert.deepEqual(readClientPreface(whole.subarray(0, 30)), { state: 'incomplete' });
    assert.equal(readClientPreface(Buffer.from('GET / HTTP/1.1\r\n')).state, 'invalid');
    assert.equal(readClientPreface(Buffer.concat([CLIENT_PREFACE, frame(0x4, 0x1, 0)])).state, 'invalid', 'a SETTINGS ACK first');
    assert.equal(readClientPreface(Buffer.concat([CLIENT_PREFACE, frame(0x8, 0, 0, Buffer.alloc(4))])).state, 'invalid');
    assert.equal(readClientPreface(Buffer.concat([CLIENT_PREFACE, frame(0x4, 0, 0, Buffer.alloc(5))])).state, 'invalid');
  });

  it('decodes HTTP2-Settings (base64url of a SETTINGS payload, RFC 7540 §3.2.1)', () => {
    assert.deepEqual(decodeHttp2Settings('AAMAAABkAAQAAP__'), Buffer.from('AAMAAABkAAQAAP__', 'base64url'));
    assert.deepEqual(decodeHttp2Settings(''), Buffer.alloc(0));
    assert.equal(decodeHttp2Settings(undefined), null);
    assert.equal(decodeHttp2Settings(['AAMAAABkAAQAAP__', 'AAMAAABkAAQAAP__']), null);
    assert.equal(decodeHttp2Settings('AAMAAABk+AQAAP//'), null, 'base64, not base64url');
    assert.equal(decodeHttp2Settings('AAMAAA'), null, 'not a multiple of six octets');
  });

  it('turns the upgrade request into the fields of stream 1, without hop-by-hop fields', () => {
    const req = {
      method: 'GET',
      url: '/page?x=1',
      httpVersion: '1.1',
      headers: { host: 'example:8080', connection: 'Upgrade, HTTP2-Settings, X-Hop' },
      rawHeaders: [
        'Host', 'example:8080', 'Connection', 'Upgrade, HTTP2-Settings, X-Hop', 'Upgrade', 'h2c',
        'HTTP2-Settings', 'AAMAAABk', 'X-Hop', '1', 'Accept', '*/*', 'TE', 'gzip', 'Cookie', 'a=1',
      ],
    } as unknown as IncomingMessage;
    assert.deepEqual(upgradeRequestFields(req), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':authority', 'example:8080'],
      [':path', '/page?x=1'],
      ['accept', '*/*'],
      ['cookie', 'a=1'],
    ]);
  });
});

describe('h2c upgrade on a node:http server', { timeout: 15_000 }, () => {
  async function start(prefaceTimeout?: number) {
    const seen: string[] = [];
    const http = await startHttpServer((req, res) => {
      seen.push(`${req.httpVersion} ${req.method} ${req.url}`);
      res.setHeader('Content-Type', 'text/plain');
      res.end(`app saw ${req.httpVersion} ${req.url}`);
    });
    enableH2c(http.server, prefaceTimeout === undefined ? {} : { prefaceTimeout });
    return { http, seen };
  }

  it('answers 101 Upgrade: h2c, then the request itself on stream 1, then more streams', async () => {
    const { http, seen } = await start();
    const client = await RawClient.connect(http.port);
    try {
      await client.write(upgradeHeaders('/first'));
      const switched = await client.readResponse();
      assert.equal(switched.status, 101);
      assert.equal(switched.headers['upgrade'], 'h2c');
      assert.match(switched.headers['connection'] ?? '', /upgrade/i);
      await client.write(Buffer.concat([CLIENT_PREFACE, frame(0x4, 0, 0, SETTINGS_PAYLOAD)]));
      // RFC 9113 §3.4: the server's preface is a SETTINGS frame.
      const serverSettings = await readH2Frame(client);
      assert.equal(serverSettings.type, 0x4);
      assert.equal(serverSettings.flags & 0x1, 0);
      await client.write(frame(0x4, 0x1, 0)); // acknowledge the server's SETTINGS
      const first = await readResponse(client, 1);
      assert.equal(first.headerBlock[0], 0x88, ':status 200 (HPACK static index 8)');
      assert.equal(first.body, 'app saw 2.0 /first');
      const acks = first.others.filter((f) => f.type === 0x4 && (f.flags & 0x1) !== 0);
      assert.equal(acks.length, 1, 'exactly one SETTINGS ACK: the client sees no unexpected ACK');

      const block = encodeHeaderBlock([[':method', 'GET'], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', '/second']]);
      await client.write(headersFrames(3, block, true));
      const second = await readResponse(client, 3);
      assert.equal(second.body, 'app saw 2.0 /second');
      assert.deepEqual(seen, ['2.0 GET /first', '2.0 GET /second']);
    } finally {
      client.destroy();
      await http.stop();
    }
  });

  for (const [label, request] of [
    ['a request with a body', upgradeHeaders('/post', 'Content-Length: 4\r\n').replace('GET', 'POST') + 'body'],
    ['HTTP2-Settings sent twice', upgradeHeaders('/twice', `HTTP2-Settings: ${SETTINGS_PAYLOAD.toString('base64url')}\r\n`)],
    ['a missing HTTP2-Settings', 'GET /none HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'],
    ['a versioned token (h2c/1)', upgradeHeaders('/versioned').replace('Upgrade: h2c', 'Upgrade: h2c/1')],
  ] as const) {
    it(`answers ${label} over HTTP/1.1 instead`, async () => {
      const { http } = await start();
      try {
        const response = await rawRequest(http.port, request);
        assert.equal(response.status, 200);
        assert.match(response.body, /^app saw 1\.1 /);
      } finally {
        await http.stop();
      }
    });
  }

  it('drops a connection whose preface never comes, or is not HTTP/2', async () => {
    const { http } = await start(150);
    const silent = await RawClient.connect(http.port);
    const garbage = await RawClient.connect(http.port);
    try {
      await silent.write(upgradeHeaders('/'));
      assert.equal((await silent.readResponse()).status, 101);
      await within(silent.waitForEnd(2000), 2500, 'the silent connection to be dropped');
      await garbage.write(upgradeHeaders('/'));
      assert.equal((await garbage.readResponse()).status, 101);
      await garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await within(garbage.waitForEnd(2000), 2500, 'the garbage connection to be dropped');
    } finally {
      silent.destroy();
      garbage.destroy();
      await http.stop();
    }
  });

  it('drops at once a few bytes of garbage that came in the same packet as the upgrade head', async () => {
    // A preface timeout no test waits for: only the bytes can have ended the connection.
    const { http } = await start(60_000);
    const garbage = await RawClient.connect(http.port);
    const prefix = await RawClient.connect(http.port);
    try {
      await garbage.write(upgradeHeaders('/') + 'GET / HTTP/1.1\r\n'); // 16 bytes, not a preface
      assert.equal((await garbage.readResponse()).status, 101);
      await within(garbage.waitForEnd(5000), 5500, 'the garbage connection to be dropped');
      // The start of a real preface in the same packet is kept, and the rest completes it.
      await prefix.write(Buffer.concat([Buffer.from(upgradeHeaders('/prefix')), CLIENT_PREFACE.subarray(0, 10)]));
      assert.equal((await prefix.readResponse()).status, 101);
      await prefix.write(Buffer.concat([CLIENT_PREFACE.subarray(10), frame(0x4, 0, 0, SETTINGS_PAYLOAD)]));
      assert.equal((await readResponse(prefix, 1)).body, 'app saw 2.0 /prefix');
    } finally {
      garbage.destroy();
      prefix.destroy();
      await http.stop();
    }
  });

  it("serves upgraded connections with the application's own HTTP/2 server when given one", async () => {
    const http = await startHttpServer((_req, res) => res.end('http/1.1 app'));
    const h2 = createHttp2Server();
    h2.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(`own h2 server: ${headers[':path']}`);
    });
    enableH2c(http.server, { http2Server: h2 });
    const client = await RawClient.connect(http.port);
    try {
      await client.write(upgradeHeaders('/mine'));
      assert.equal((await client.readResponse()).status, 101);
      await client.write(Buffer.concat([CLIENT_PREFACE, frame(0x4, 0, 0, SETTINGS_PAYLOAD)]));
      assert.equal((await readResponse(client, 1)).body, 'own h2 server: /mine');
    } finally {
      client.destroy();
      await http.stop();
    }
  });

  it('closing the HTTP/1.1 server closes its upgraded HTTP/2 sessions with GOAWAY', async () => {
    const { http } = await start();
    const client = await RawClient.connect(http.port);
    try {
      await client.write(upgradeHeaders('/'));
      await client.readResponse();
      await client.write(Buffer.concat([CLIENT_PREFACE, frame(0x4, 0, 0, SETTINGS_PAYLOAD)]));
      await readResponse(client, 1);
      const closed = new Promise<void>((resolve) => http.server.close(() => resolve()));
      let goaway: H2Frame | undefined;
      while (goaway === undefined) {
        const next = await readH2Frame(client);
        if (next.type === 0x7) goaway = next;
      }
      assert.equal(goaway.payload.readUInt32BE(4), 0, 'NO_ERROR');
      client.end();
      await within(closed, EVENT_WAIT_MS, 'the HTTP/1.1 server to close');
    } finally {
      client.destroy();
      await http.stop();
    }
  });
});

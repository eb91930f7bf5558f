// permessage-deflate against Debian's python3-websockets (10.4), both directions: a Python client
// against our server and a Python server for our connect() client, with context takeover, without
// it, and with limited windows. The Python side checks its own echoes byte for byte; ours checks
// its echoes, the negotiated parameters and the bytes on the wire. Between the echoes our server
// broadcasts and publishes a message (compressed once for all peers, see SharedMessage), which
// Python's one decompression stream must take in its place. The script is
// test/peers/support/deflate-python.py; every process is stopped by PID.
//
// Python's zlib cannot compress with an 8-bit raw window (zlib 1.2.9+ refuses it), so 8 bits are
// only used where Python decompresses.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { deflateRawSync } from 'node:zlib';
import { connect, type WebSocketConnection, type PerMessageDeflateServerOptions, type PerMessageDeflateClientOptions } from '../../src/index.js';
import { parseExtensionHeader } from '../../src/protocol/extension-header.js';
import { ChildPeer, SUPPORT_DIR, binaryOfBytes, startUpshiftEcho, textOfBytes, withTimeout, nextEvent } from './support/peers.js';
import { requirePeers } from './support/requirements.js';

const peers = requirePeers('python3-websockets');
const { it } = peers;
const PYTHON = peers.path('python3-websockets');
const SCRIPT = `${SUPPORT_DIR}deflate-python.py`;

function params(header: string | null | undefined): Map<string, string | true> {
  const parsed = parseExtensionHeader(header ?? undefined);
  assert.ok(parsed !== null && parsed.length === 1 && parsed[0]!.name === 'permessage-deflate', `negotiated: ${header}`);
  return parsed[0]!.params;
}

function jsonText(bytes: number, seed = 0): string {
  let text = '';
  for (let i = seed; text.length < bytes; i++) text += JSON.stringify({ id: i, user: `user${i % 31}`, n: (i * 7919) % 1000 }) + '\n';
  return text.slice(0, bytes);
}

interface ClientCase {
  name: string;
  /** ClientPerMessageDeflateFactory keyword arguments. */
  python: Record<string, unknown>;
  server: PerMessageDeflateServerOptions;
  /** The parameters our server must answer. */
  expected: Record<string, string | true>;
}

const CLIENT_CASES: ClientCase[] = [
  {
    // Our default policy: 13-bit windows, and the client limited because it offered
    // client_max_window_bits (RFC 7692 §7.1.2.2); our compressor is a seeded shared one.
    name: 'the default offer (client_max_window_bits)',
    python: {},
    server: {},
    expected: { server_max_window_bits: '13', client_max_window_bits: '13' },
  },
  {
    name: "the old defaults (15-bit windows, the connection's own contexts)",
    python: {},
    server: { serverMaxWindowBits: 15, clientMaxWindowBits: 15, contextIdleTimeout: 10_000 },
    expected: {},
  },
  {
    name: 'no context takeover either way',
    python: { server_no_context_takeover: true, client_no_context_takeover: true },
    server: {},
    expected: { server_no_context_takeover: true, client_no_context_takeover: true, server_max_window_bits: '13', client_max_window_bits: '13' },
  },
  {
    name: 'windows asked by the client (server 10, client 12)',
    python: { server_max_window_bits: 10, client_max_window_bits: 12 },
    server: {},
    expected: { server_max_window_bits: '10', client_max_window_bits: '12' },
  },
  {
    name: 'windows set by our policy (server 8, client 9)',
    python: {},
    server: { serverMaxWindowBits: 8, clientMaxWindowBits: 9 },
    expected: { server_max_window_bits: '8', client_max_window_bits: '9' },
  },
  {
    name: 'no context takeover demanded by our policy',
    python: {},
    server: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    expected: { server_no_context_takeover: true, client_no_context_takeover: true, server_max_window_bits: '13', client_max_window_bits: '13' },
  },
];

describe('permessage-deflate: python-websockets client → Upshift server', { timeout: 120_000 }, () => {
  for (const c of CLIENT_CASES) {
    it(c.name, async () => {
      const { server, url } = await startUpshiftEcho({ perMessageDeflate: { threshold: 0, ...c.server } });
      const topic = `deflate-python-${CLIENT_CASES.indexOf(c)}`;
      const published = 'published:' + JSON.stringify(Array.from({ length: 600 }, (_, i) => ({ id: i, topic, n: i % 7 })));
      let serverSide: WebSocketConnection | undefined;
      server.on('connection', (ws: WebSocketConnection) => {
        serverSide = ws;
        ws.subscribe(topic);
        let echoed = 0;
        // After the echo (registered first): one after the first "repeated" message, which the
        // next one refers back to with context takeover, and one before the last message.
        ws.on('message', () => {
          if (++echoed === 2) server.broadcast(published);
          if (echoed === 8) server.publish(topic, published);
        });
      });
      const python = new ChildPeer(PYTHON, [SCRIPT, 'client', JSON.stringify(c.python), `${url}/`]);
      try {
        const open = await python.nextJson<{ event?: string; extensions?: string; error?: string }>(15_000, 'the Python client to open');
        assert.equal(open.error, undefined, open.error);
        assert.equal(open.event, 'open');
        assert.deepEqual(Object.fromEntries(params(open.extensions)), c.expected);
        assert.equal(serverSide!.extensions, open.extensions);
        const result = await python.nextJson<{ ok?: boolean; count?: number; bytes?: number; published?: string[]; error?: string }>(30_000, 'the echoes');
        assert.equal(result.error, undefined, result.error);
        assert.equal(result.ok, true);
        assert.equal(result.count, 9);
        const digest = createHash('sha256').update(published).digest('hex');
        assert.deepEqual(result.published, [digest, digest], 'the broadcast and the published message, in place');
        const socket = serverSide!.rawTransport as Socket;
        assert.ok(socket.bytesRead < result.bytes! * 0.5, `Python → Upshift: ${socket.bytesRead} bytes on the wire for ${result.bytes}`);
        assert.ok(socket.bytesWritten < result.bytes! * 0.5, `Upshift → Python: ${socket.bytesWritten} bytes on the wire`);
        await python.waitForExit(10_000);
      } finally {
        await python.stop();
        await withTimeout(server.close({ timeout: 500 }), 5000, 'the Upshift server to close');
      }
    });
  }
});

/** Sends every message and resolves with the echoes, in order, once all came back. */
function echoes(client: WebSocketConnection, sent: readonly (string | Buffer)[], ms: number): Promise<Buffer[]> {
  const received: Buffer[] = [];
  const done = withTimeout(
    new Promise<Buffer[]>((resolve) =>
      client.on('message', (data: Buffer) => {
        received.push(data);
        if (received.length === sent.length) resolve(received);
      }),
    ),
    ms,
    'the echoes',
  );
  for (const message of sent) client.send(message);
  return done;
}

interface ServerCase {
  name: string;
  /** ServerPerMessageDeflateFactory keyword arguments. */
  python: Record<string, unknown>;
  client: PerMessageDeflateClientOptions;
  expected: Record<string, string | true>;
}

const SERVER_CASES: ServerCase[] = [
  { name: 'a bare factory: context takeover, 15 bits', python: {}, client: {}, expected: {} },
  {
    name: "python-websockets' own defaults (12 bits each way, memLevel 5)",
    python: { server_max_window_bits: 12, client_max_window_bits: 12, compress_settings: { memLevel: 5 } },
    client: {},
    expected: { server_max_window_bits: '12', client_max_window_bits: '12' },
  },
  {
    name: 'no context takeover either way, demanded by the server',
    python: { server_no_context_takeover: true, client_no_context_takeover: true },
    client: {},
    expected: { server_no_context_takeover: true, client_no_context_takeover: true },
  },
  {
    name: 'windows limited by the server (server 9, client 8)',
    python: { server_max_window_bits: 9, client_max_window_bits: 8 },
    client: {},
    expected: { server_max_window_bits: '9', client_max_window_bits: '8' },
  },
  {
    name: 'asked by our client: server_no_context_takeover, server_max_window_bits=10',
    python: {},
    client: { serverNoContextTakeover: true, serverMaxWindowBits: 10, clientNoContextTakeover: true },
    expected: { server_no_context_takeover: true, client_no_context_takeover: true, server_max_window_bits: '10' },
  },
];

describe('permessage-deflate: Upshift client → python-websockets server', { timeout: 120_000 }, () => {
  for (const c of SERVER_CASES) {
    it(c.name, async () => {
      const python = new ChildPeer(PYTHON, [SCRIPT, 'server', JSON.stringify(c.python)]);
      let client: WebSocketConnection | undefined;
      try {
        const { port } = await python.nextJson<{ port: number }>(15_000, 'the Python server to listen');
        client = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0, ...c.client } });
        const seen = await python.nextJson<{ event: string; extensions: string }>(10_000, 'the connection');
        assert.equal(seen.extensions, client.extensions);
        assert.deepEqual(Object.fromEntries(params(client.extensions)), c.expected);

        const repeated = jsonText(3000, 7);
        const sent: (string | Buffer)[] = [jsonText(10), repeated, repeated, '', binaryOfBytes(40_000), textOfBytes(5000), jsonText(300_000, 3), repeated, jsonText(1024 * 1024 + 3, 11)];
        const received = await echoes(client, sent, 30_000);
        let bytes = 0;
        for (let i = 0; i < sent.length; i++) {
          const expected = Buffer.isBuffer(sent[i]) ? (sent[i] as Buffer) : Buffer.from(sent[i] as string);
          assert.deepEqual(received[i], expected, `message ${i}`);
          bytes += expected.length;
        }
        const socket = client.rawTransport as Socket;
        assert.ok(socket.bytesWritten < bytes * 0.5, `Upshift → Python: ${socket.bytesWritten} bytes on the wire for ${bytes}`);
        assert.ok(socket.bytesRead < bytes * 0.5, `Python → Upshift: ${socket.bytesRead} bytes on the wire`);
        client.close(1000);
        await nextEvent(client, 'close', 5000);
        assert.deepEqual(await python.nextJson(5000, 'the close on the Python side'), { event: 'closed', code: 1000 });
      } finally {
        client?.terminate();
        await python.stop();
      }
    });
  }
});

describe('permessage-deflate: many messages with context takeover, our defaults against Python', { timeout: 120_000 }, () => {
  for (const python of [{}, { server_max_window_bits: 12, client_max_window_bits: 12, compress_settings: { memLevel: 5 } }]) {
    it(`400 related messages each way, Python server ${JSON.stringify(python)}`, async () => {
      const peer = new ChildPeer(PYTHON, [SCRIPT, 'server', JSON.stringify(python)]);
      let client: WebSocketConnection | undefined;
      try {
        const { port } = await peer.nextJson<{ port: number }>(15_000, 'the Python server to listen');
        // Our client's defaults: seeded shared contexts (contextIdleTimeout 0) both ways.
        client = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
        await peer.nextJson(10_000, 'the connection');
        // Messages that refer back to each other, of sizes 20 B – 3 KiB: several fit in a 12-bit window.
        const sent = Array.from({ length: 400 }, (_, i) => jsonText(20 + ((i * 2654435761) % 3000), i % 17));
        const received = await echoes(client, sent, 60_000);
        let bytes = 0;
        for (let i = 0; i < sent.length; i++) {
          assert.equal(received[i]!.toString(), sent[i], `message ${i}`);
          bytes += sent[i]!.length;
        }
        const socket = client.rawTransport as Socket;
        // Context takeover at work both ways: the stream is far smaller than the messages
        // compressed one by one would be (with the same window, level 1, frame headers left out).
        const alone = sent.reduce((sum, text) => sum + deflateRawSync(text, { level: 1, windowBits: 12 }).length, 0);
        assert.ok(socket.bytesWritten < alone * 0.6, `Upshift → Python: ${socket.bytesWritten} bytes on the wire, ${alone} one by one`);
        assert.ok(socket.bytesRead < alone * 0.6, `Python → Upshift: ${socket.bytesRead} bytes on the wire, ${alone} one by one`);
        assert.ok(bytes > 500_000);
        client.close(1000);
        await nextEvent(client, 'close', 5000);
      } finally {
        client?.terminate();
        await peer.stop();
      }
    });
  }
});

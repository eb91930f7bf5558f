// permessage-deflate against the `ws` npm package, both directions, for every combination of
// context takeover (server's, client's) and several window-bit pairs: ws client → our server and
// our connect() client → ws server. Each pairing echoes text and binary messages of several sizes
// (with repeats, so that context takeover is used) and checks the bytes on the wire.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import type { RawData } from 'ws';
import type { AddressInfo, Socket } from 'node:net';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { parseExtensionHeader } from '../../src/protocol/extension-header.js';
import { binaryOfBytes, nextEvent, startUpshiftEcho, textOfBytes, withTimeout } from './support/peers.js';

interface Combo {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | undefined;
}

const WINDOWS: [number | undefined, number | undefined][] = [
  [undefined, undefined],
  [10, 12],
  [8, 9],
  [15, 8],
];
const COMBOS: Combo[] = [];
for (const serverNoContextTakeover of [false, true]) {
  for (const clientNoContextTakeover of [false, true]) {
    for (const [serverMaxWindowBits, clientMaxWindowBits] of WINDOWS) {
      COMBOS.push({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits });
    }
  }
}

function label(combo: Combo): string {
  const parts = [
    combo.serverNoContextTakeover ? 'server_no_context_takeover' : 'server takeover',
    combo.clientNoContextTakeover ? 'client_no_context_takeover' : 'client takeover',
    `server bits ${combo.serverMaxWindowBits ?? 15}`,
    `client bits ${combo.clientMaxWindowBits ?? 15}`,
  ];
  return parts.join(', ');
}

function jsonText(bytes: number, seed = 0): string {
  let text = '';
  for (let i = seed; text.length < bytes; i++) text += JSON.stringify({ id: i, user: `user${i % 31}`, n: (i * 7919) % 1000 }) + '\n';
  return text.slice(0, bytes);
}

/** Text (repeated, so history helps) and binary, from empty to over 1 MiB. */
function messages(): (string | Buffer)[] {
  const repeated = jsonText(3000, 7);
  return [jsonText(10), repeated, repeated, '', binaryOfBytes(40_000), textOfBytes(5000), jsonText(300_000, 3), repeated, jsonText(1024 * 1024 + 3, 11)];
}

function asBuffer(data: string | Buffer | RawData): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
}

/** The parameters of the one permessage-deflate element of a negotiated header. */
function negotiatedParams(header: string): Map<string, string | true> {
  const parsed = parseExtensionHeader(header);
  assert.ok(parsed !== null && parsed.length === 1 && parsed[0]!.name === 'permessage-deflate', `negotiated: ${header}`);
  return parsed[0]!.params;
}

/** Checks that the wire carried far fewer bytes than the payloads: compression was used. */
function assertCompressed(wireBytes: number, payloadBytes: number, direction: string): void {
  assert.ok(wireBytes < payloadBytes * 0.5, `${direction}: ${wireBytes} bytes on the wire for ${payloadBytes} of payload`);
}

describe('permessage-deflate: ws client → Upshift server', { timeout: 120_000 }, () => {
  for (const combo of COMBOS) {
    it(label(combo), async () => {
      const { server, url } = await startUpshiftEcho({ perMessageDeflate: { threshold: 0 } });
      let serverSide: WebSocketConnection | undefined;
      server.on('connection', (ws: WebSocketConnection) => (serverSide = ws));
      const client = new WsClient(url, {
        perMessageDeflate: {
          threshold: 0,
          serverNoContextTakeover: combo.serverNoContextTakeover,
          clientNoContextTakeover: combo.clientNoContextTakeover,
          ...(combo.serverMaxWindowBits !== undefined ? { serverMaxWindowBits: combo.serverMaxWindowBits } : {}),
          ...(combo.clientMaxWindowBits !== undefined ? { clientMaxWindowBits: combo.clientMaxWindowBits } : {}),
        },
      });
      client.on('error', () => {});
      let answer = '';
      client.once('upgrade', (response) => (answer = String(response.headers['sec-websocket-extensions'] ?? '')));
      try {
        await withTimeout(new Promise((resolve, reject) => client.once('open', resolve).once('error', reject)), 5000, 'ws to open');
        // What ws offered, our server accepted (its policy accepts any valid offer), with windows of
        // at most 13 bits by default: announced for itself, asked of ws, which offers
        // client_max_window_bits (RFC 7692 §7.1.2).
        const params = negotiatedParams(answer);
        assert.equal(serverSide!.extensions, answer);
        assert.equal(params.has('server_no_context_takeover'), combo.serverNoContextTakeover);
        assert.equal(params.has('client_no_context_takeover'), combo.clientNoContextTakeover);
        assert.equal(params.get('server_max_window_bits'), String(Math.min(combo.serverMaxWindowBits ?? 13, 13)));
        assert.equal(params.get('client_max_window_bits'), String(Math.min(combo.clientMaxWindowBits ?? 13, 13)));

        const sent = messages();
        const received: Buffer[] = [];
        const done = withTimeout(
          new Promise<void>((resolve) =>
            client.on('message', (data: RawData) => {
              received.push(asBuffer(data));
              if (received.length === sent.length) resolve();
            }),
          ),
          20_000,
          'the echoes',
        );
        for (const message of sent) client.send(message, { binary: Buffer.isBuffer(message) });
        await done;
        for (let i = 0; i < sent.length; i++) assert.deepEqual(received[i], asBuffer(sent[i]!), `message ${i}`);
        const payloadBytes = sent.reduce((sum, m) => sum + asBuffer(m).length, 0);
        const socket = serverSide!.rawTransport as Socket;
        assertCompressed(socket.bytesRead, payloadBytes, 'ws → Upshift');
        assertCompressed(socket.bytesWritten, payloadBytes, 'Upshift → ws');
        client.close(1000);
        await nextEvent(client, 'close', 5000);
      } finally {
        client.terminate();
        await withTimeout(server.close({ timeout: 500 }), 5000, 'the Upshift server to close');
      }
    });
  }
});

describe('permessage-deflate: Upshift client → ws server', { timeout: 120_000 }, () => {
  for (const combo of COMBOS) {
    it(label(combo), async () => {
      // ws as the server decides: it answers with its configured parameters.
      const wss = new WsServer({
        port: 0,
        host: '127.0.0.1',
        perMessageDeflate: {
          threshold: 0,
          serverNoContextTakeover: combo.serverNoContextTakeover,
          clientNoContextTakeover: combo.clientNoContextTakeover,
          ...(combo.serverMaxWindowBits !== undefined ? { serverMaxWindowBits: combo.serverMaxWindowBits } : {}),
          ...(combo.clientMaxWindowBits !== undefined ? { clientMaxWindowBits: combo.clientMaxWindowBits } : {}),
        },
      });
      wss.on('connection', (ws) => ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary })));
      await nextEvent(wss, 'listening', 5000);
      const port = (wss.address() as AddressInfo).port;
      let client: WebSocketConnection | undefined;
      try {
        client = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
        const params = negotiatedParams(client.extensions);
        assert.equal(params.has('server_no_context_takeover'), combo.serverNoContextTakeover);
        assert.equal(params.has('client_no_context_takeover'), combo.clientNoContextTakeover);
        if (combo.clientMaxWindowBits !== undefined) assert.equal(params.get('client_max_window_bits'), String(combo.clientMaxWindowBits));

        const sent = messages();
        const received: Buffer[] = [];
        const done = withTimeout(
          new Promise<void>((resolve) =>
            client!.on('message', (data: Buffer) => {
              received.push(data);
              if (received.length === sent.length) resolve();
            }),
          ),
          20_000,
          'the echoes',
        );
        for (const message of sent) client.send(message);
        await done;
        for (let i = 0; i < sent.length; i++) assert.deepEqual(received[i], asBuffer(sent[i]!), `message ${i}`);
        const payloadBytes = sent.reduce((sum, m) => sum + asBuffer(m).length, 0);
        const socket = client.rawTransport as Socket;
        assertCompressed(socket.bytesWritten, payloadBytes, 'Upshift → ws');
        assertCompressed(socket.bytesRead, payloadBytes, 'ws → Upshift');
        client.close(1000);
        await nextEvent(client, 'close', 5000);
      } finally {
        client?.terminate();
        for (const ws of wss.clients) ws.terminate();
        await withTimeout(new Promise((resolve) => wss.close(resolve)), 5000, 'the ws server to close');
      }
    });
  }
});

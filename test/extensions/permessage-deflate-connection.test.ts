// permessage-deflate on real connections: what goes on the wire (RSV1 on the first frame only,
// threshold, per-message opt-out), protocol errors, bombs, order, backpressure, the pause while a
// message is decoded, and the shortcuts on the server, connect() and the WHATWG WebSocket.

import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import type { HandshakeRequest } from '../../src/server/websocket-server.js';
import { connect, HandshakeError, WebSocket, type WebSocketConnection } from '../../src/index.js';
import { perMessageDeflate, perMessageDeflateClient } from '../../src/extensions/permessage-deflate/index.js';
import { RawClient, destroyRawClients } from '../helpers/raw-client.js';
import { startRawServer, switchingProtocols } from '../helpers/raw-server.js';
import { encodeFrame, OP, parseClosePayload, type Frame } from '../helpers/frames.js';
import { startServer, type StartedServer } from '../helpers/server.js';
import { collectEvents, EVENT_WAIT_MS, nextDomEvent, nextEvent, within } from '../helpers/events.js';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const { Z_SYNC_FLUSH } = zlib.constants;

/** One message as a peer without context takeover would compress it (§7.2.1). */
function deflateMessage(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, { finishFlush: Z_SYNC_FLUSH });
  assert.deepEqual(out.subarray(-4), TAIL);
  return out.subarray(0, -4);
}

function inflateMessage(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: Z_SYNC_FLUSH });
}

function jsonText(bytes: number): string {
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += JSON.stringify({ id: i, name: `item ${i % 50}`, ok: i % 3 === 0 }) + '\n';
  return text.slice(0, bytes);
}

let server: StartedServer<unknown> | null = null;
afterEach(async () => {
  destroyRawClients();
  await server?.stop();
  server = null;
});

/** A server with permessage-deflate and a raw client that negotiated it (the 101 is consumed). */
async function openRaw(
  serverOptions: Parameters<typeof perMessageDeflate>[0] = {},
  offer = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  limits: { maxPayload?: number } = {},
): Promise<{ client: RawClient; ws: WebSocketConnection; answer: string }> {
  server = await startServer({ extensions: [perMessageDeflate(serverOptions)], ...limits });
  const accepted = server.nextConnection();
  const { client, response } = await RawClient.open(server.port, '/', { 'Sec-WebSocket-Extensions': offer });
  return { client, ws: (await accepted) as WebSocketConnection, answer: response.headers['sec-websocket-extensions'] ?? '' };
}

async function readClose(client: RawClient): Promise<{ code: number; reason: string }> {
  const { frame } = await client.readFrameOf(OP.CLOSE, 5000);
  return parseClosePayload(frame.payload);
}

describe('permessage-deflate on the wire (server side)', { timeout: 60_000 }, () => {
  it('negotiates and compresses messages at or above the threshold, with RSV1 set', async () => {
    const { client, ws, answer } = await openRaw({ threshold: 100 });
    // The default policy announces its 13-bit window (RFC 7692 §7.1.2.1) even when not asked.
    assert.equal(answer, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=13');
    assert.equal(ws.extensions, answer);
    const text = jsonText(5000);
    ws.send(text);
    const frame = await client.readFrame();
    assert.equal(frame.rsv1, true);
    assert.equal(frame.opcode, OP.TEXT);
    assert.ok(frame.payload.length < 2000, `compressed to ${frame.payload.length}`);
    assert.equal(inflateMessage(frame.payload).toString(), text);
  });

  it('sends messages below the threshold uncompressed, and honours compress: true / false', async () => {
    const { client, ws } = await openRaw({ threshold: 100 });
    ws.send('x'.repeat(99));
    ws.send('y'.repeat(100));
    ws.send('z'.repeat(5000), { compress: false });
    ws.send('w'.repeat(10), { compress: true });
    const frames: Frame[] = [];
    for (let i = 0; i < 4; i++) frames.push(await client.readFrame());
    assert.deepEqual(
      frames.map((f) => f.rsv1),
      [false, true, false, true],
    );
    assert.equal(frames[0]!.payload.toString(), 'x'.repeat(99));
    assert.equal(inflateMessage(frames[1]!.payload).toString(), 'y'.repeat(100));
    assert.equal(frames[2]!.payload.toString(), 'z'.repeat(5000));
    assert.equal(inflateMessage(frames[3]!.payload).toString(), 'w'.repeat(10));
  });

  it('sends fragments (fin: false) uncompressed, RSV1 clear on every frame', async () => {
    const { client, ws } = await openRaw({ threshold: 0 });
    ws.send('a'.repeat(2000), { fin: false });
    ws.send('b'.repeat(2000), { fin: true });
    const first = await client.readFrame();
    const second = await client.readFrame();
    assert.deepEqual([first.rsv1, first.fin, first.opcode], [false, false, OP.TEXT]);
    assert.deepEqual([second.rsv1, second.fin, second.opcode], [false, true, OP.CONT]);
  });

  it('decodes a compressed message, whole or fragmented with RSV1 on the first frame only (§6.1)', async () => {
    const { client, ws } = await openRaw();
    const messages = collectEvents<Buffer>(ws, 'message', 2);
    const text = jsonText(3000);
    await client.write(encodeFrame(OP.TEXT, deflateMessage(text), { rsv1: true }));
    const payload = deflateMessage(text);
    const third = Math.floor(payload.length / 3);
    await client.write(
      Buffer.concat([
        encodeFrame(OP.TEXT, payload.subarray(0, third), { rsv1: true, fin: false }),
        encodeFrame(OP.CONT, payload.subarray(third, 2 * third), { fin: false }),
        encodeFrame(OP.CONT, payload.subarray(2 * third), { fin: true }),
      ]),
    );
    const [first, second] = await messages;
    assert.equal(first!.toString(), text);
    assert.equal(second!.toString(), text);
  });

  it('keeps uncompressed messages from the peer working next to compressed ones (§6)', async () => {
    const { client, ws } = await openRaw();
    const messages = collectEvents<Buffer>(ws, 'message', 3);
    await client.write(
      Buffer.concat([
        encodeFrame(OP.TEXT, 'plain one'),
        encodeFrame(OP.TEXT, deflateMessage('squeezed'), { rsv1: true }),
        encodeFrame(OP.BINARY, Buffer.from([1, 2, 3])),
      ]),
    );
    assert.deepEqual(
      (await messages).map((m) => m.toString('hex')),
      [Buffer.from('plain one').toString('hex'), Buffer.from('squeezed').toString('hex'), '010203'],
    );
  });

  for (const [name, frames] of [
    ['a continuation frame', [encodeFrame(OP.TEXT, deflateMessage('ab').subarray(0, 1), { rsv1: true, fin: false }), encodeFrame(OP.CONT, Buffer.from([0]), { rsv1: true })]],
    ['a ping', [encodeFrame(OP.PING, 'hi', { rsv1: true })]],
    ['a close frame', [encodeFrame(OP.CLOSE, Buffer.from([0x03, 0xe8]), { rsv1: true })]],
  ] as const) {
    it(`fails with 1002 on RSV1 set on ${name} (§6.1)`, async () => {
      const { client } = await openRaw();
      await client.write(Buffer.concat(frames as unknown as Buffer[]));
      assert.equal((await readClose(client)).code, 1002);
    });
  }

  it('fails with 1002 on RSV1 when permessage-deflate was not negotiated', async () => {
    server = await startServer({ extensions: [perMessageDeflate()] });
    const { client, response } = await RawClient.open(server.port, '/');
    assert.equal(response.headers['sec-websocket-extensions'], undefined);
    await client.write(encodeFrame(OP.TEXT, deflateMessage('hello'), { rsv1: true }));
    assert.equal((await readClose(client)).code, 1002);
  });

  it('fails with 1007 on a message that does not inflate', async () => {
    const { client } = await openRaw();
    await client.write(encodeFrame(OP.TEXT, Buffer.from([0xff, 0xfe, 0xfd, 0x00]), { rsv1: true }));
    const close = await readClose(client);
    assert.equal(close.code, 1007);
    assert.match(close.reason, /Invalid compressed data/);
  });

  it('fails with 1007 on a compressed text message that is not UTF-8', async () => {
    const { client } = await openRaw();
    await client.write(encodeFrame(OP.TEXT, deflateMessage(Buffer.from([0xc3, 0x28])), { rsv1: true }));
    assert.equal((await readClose(client)).code, 1007);
  });

  it('stops a decompression bomb at maxPayload with 1009 (10 MB of zeros in ~10 KB, limit 1 MiB)', async () => {
    const bomb = deflateMessage(Buffer.alloc(10 * 1024 * 1024));
    assert.ok(bomb.length < 20_000);
    const { client, ws } = await openRaw({}, undefined, { maxPayload: 1024 * 1024 });
    let delivered = 0;
    ws.on('message', () => delivered++);
    const before = process.memoryUsage().arrayBuffers;
    await client.write(encodeFrame(OP.BINARY, bomb, { rsv1: true }));
    const close = await readClose(client);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(close.code, 1009);
    assert.match(close.reason, /exceeds the limit of 1048576 bytes once decompressed/);
    assert.equal(delivered, 0);
    assert.ok(grown < 4 * 1024 * 1024, `ArrayBuffer memory grew by ${grown} bytes, not 10 MB`);
  });

  it('keeps received messages in order when a large one decodes over several turns', async () => {
    const { client, ws } = await openRaw();
    const big = jsonText(6 * 1024 * 1024);
    const order = ['big', 'small compressed', 'plain', 'tiny compressed'];
    const messages = collectEvents<Buffer>(ws, 'message', 4, 10_000);
    // Count the pauses asked of the transport while the big message decodes.
    const transport = ws.rawTransport;
    let pauses = 0;
    const pause = transport.pause.bind(transport);
    transport.pause = () => {
      pauses++;
      return pause();
    };
    await client.write(
      Buffer.concat([
        encodeFrame(OP.TEXT, deflateMessage(big), { rsv1: true }),
        encodeFrame(OP.TEXT, deflateMessage(order[1]!), { rsv1: true }),
        encodeFrame(OP.TEXT, order[2]!),
        encodeFrame(OP.TEXT, deflateMessage(order[3]!), { rsv1: true }),
      ]),
    );
    const received = (await messages).map((m) => m.toString());
    assert.equal(received[0], big);
    assert.deepEqual(received.slice(1), order.slice(1));
    assert.ok(pauses > 0, 'reading paused while the big message decoded');
    assert.equal(transport.isPaused(), false, 'and resumed after');
    // The connection still works.
    ws.send('still here', { compress: false });
    assert.equal((await client.readFrame()).payload.toString(), 'still here');
  });

  it('sends in order whatever the sizes, large messages compressing over several turns', async () => {
    const { client, ws } = await openRaw({ threshold: 50 });
    const big = jsonText(5 * 1024 * 1024);
    ws.send(big);
    ws.send('short and plain');
    ws.send('a compressed one, above the threshold of fifty bytes......');
    ws.send(Buffer.from([9, 8, 7]), { compress: true });
    ws.ping('p');
    const frames: Frame[] = [];
    while (frames.length < 4) {
      const frame = await client.readFrame(10_000);
      if (frame.opcode !== OP.PING) frames.push(frame);
    }
    assert.equal(inflateMessage(frames[0]!.payload).toString(), big);
    assert.equal(frames[1]!.payload.toString(), 'short and plain');
    assert.equal(inflateMessage(frames[2]!.payload).toString(), 'a compressed one, above the threshold of fifty bytes......');
    assert.deepEqual(inflateMessage(frames[3]!.payload), Buffer.from([9, 8, 7]));
  });

  it('counts messages waiting for compression in bufferedAmount, then drains', async () => {
    const { client, ws } = await openRaw({ threshold: 0 });
    const big = jsonText(8 * 1024 * 1024);
    const accepted = ws.send(big);
    assert.equal(accepted, false, 'over the high-water mark while it compresses');
    assert.ok(ws.bufferedAmount >= big.length, `bufferedAmount ${ws.bufferedAmount}`);
    await nextEvent(ws, 'drain', 10_000);
    assert.ok(ws.bufferedAmount < 64 * 1024);
    assert.equal(inflateMessage((await client.readFrame(10_000)).payload).toString(), big);
  });

  it('closes after the queued compressed messages (nothing sent before close() is lost)', async () => {
    const { client, ws } = await openRaw({ threshold: 0 });
    const big = jsonText(3 * 1024 * 1024);
    ws.send(big);
    ws.close(1000, 'done');
    const data = await client.readFrame(10_000);
    assert.equal(inflateMessage(data.payload).toString(), big);
    assert.deepEqual(await readClose(client), { code: 1000, reason: 'done' });
  });
});

describe('permessage-deflate with the Upshift client', { timeout: 60_000 }, () => {
  it('works end to end with the perMessageDeflate shortcuts, with and without context takeover', async () => {
    for (const options of [{}, { serverNoContextTakeover: true, clientNoContextTakeover: true }, { serverMaxWindowBits: 9, clientMaxWindowBits: 10 }]) {
      server = await startServer({ perMessageDeflate: { threshold: 0, ...options } });
      server.wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
      const client = await connect(server.url(), { perMessageDeflate: { threshold: 0 } });
      try {
        assert.match(client.extensions, /^permessage-deflate/);
        const messages = [jsonText(10), jsonText(100_000), '', randomBytes(70_000), jsonText(2 * 1024 * 1024), jsonText(10)];
        const echoes = collectEvents<Buffer>(client, 'message', messages.length, 10_000);
        for (const message of messages) client.send(message);
        const received = await echoes;
        for (let i = 0; i < messages.length; i++) {
          assert.deepEqual(received[i], Buffer.isBuffer(messages[i]) ? messages[i] : Buffer.from(messages[i] as string), `message ${i}`);
        }
      } finally {
        client.close();
        await server.stop();
        server = null;
      }
    }
  });

  it('offers client_max_window_bits and compresses client frames (masked, RSV1 on the first frame)', async () => {
    let seen: { offer: string; frame: Frame } | null = null;
    const raw = await startRawServer((request, socket) => {
      socket.write(switchingProtocols(request, { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits=9' }));
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 2) return;
        // One small frame: 2-byte header, 4-byte mask.
        const length = buffered[1]! & 0x7f;
        if (buffered.length < 6 + length) return;
        const key = buffered.subarray(2, 6);
        const payload = Buffer.from(buffered.subarray(6, 6 + length));
        for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
        seen = {
          offer: request.headers['sec-websocket-extensions'] ?? '',
          frame: { fin: (buffered[0]! & 0x80) !== 0, rsv1: (buffered[0]! & 0x40) !== 0, opcode: buffered[0]! & 0x0f, masked: true, payload },
        };
        socket.destroy();
      });
    });
    try {
      const client = await connect(`ws://127.0.0.1:${raw.port}/`, { extensions: [perMessageDeflateClient({ threshold: 10 })] });
      assert.equal(client.extensions, 'permessage-deflate; client_max_window_bits=9');
      client.send('hello hello hello hello');
      await nextEvent(client, 'close', EVENT_WAIT_MS);
      assert.ok(seen !== null);
      const { offer, frame } = seen as { offer: string; frame: Frame };
      assert.equal(offer, 'permessage-deflate; client_max_window_bits');
      assert.equal(frame.rsv1, true);
      assert.equal(inflateMessage(frame.payload).toString(), 'hello hello hello hello');
    } finally {
      await raw.stop();
    }
  });

  it('fails the handshake clearly on an invalid permessage-deflate response', async () => {
    const responses = [
      ['permessage-deflate; server_max_window_bits=7', /server_max_window_bits must be an integer from 8 to 15/],
      ['permessage-deflate; client_max_window_bits', /client_max_window_bits must have a value/],
      ['permessage-deflate; unknown_thing', /unknown parameter unknown_thing/],
      ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', /more than once/],
    ] as const;
    for (const [answer, reason] of responses) {
      const raw = await startRawServer((request, socket) => {
        socket.write(switchingProtocols(request, { 'Sec-WebSocket-Extensions': answer }));
      });
      try {
        const error = await connect(`ws://127.0.0.1:${raw.port}/`, { perMessageDeflate: true }).then(
          () => assert.fail('the handshake should fail'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof HandshakeError);
        assert.match((error as Error).message, /^Invalid permessage-deflate response: /);
        assert.match((error as Error).message, reason);
      } finally {
        await raw.stop();
      }
    }
  });

  it('the WHATWG WebSocket offers permessage-deflate by default, like browsers', async () => {
    server = await startServer({ perMessageDeflate: { threshold: 0 } });
    server.wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const requests: HandshakeRequest[] = [];
    server.wss.on('connection', (_ws, req) => requests.push(req));

    const socket = new WebSocket(server.url());
    await nextDomEvent(socket, 'open');
    assert.equal(requests[0]!.headers['sec-websocket-extensions'], 'permessage-deflate; client_max_window_bits');
    assert.equal(socket.extensions, 'permessage-deflate; server_max_window_bits=13; client_max_window_bits=13');
    const text = jsonText(50_000);
    socket.send(text);
    const event = await nextDomEvent<MessageEvent>(socket, 'message');
    assert.equal(event.data, text);
    socket.close();
    await nextDomEvent(socket, 'close');

    const plain = new WebSocket(server.url(), [], { perMessageDeflate: false });
    await nextDomEvent(plain, 'open');
    assert.equal(requests[1]!.headers['sec-websocket-extensions'], undefined);
    assert.equal(plain.extensions, '');
    plain.close();
    await nextDomEvent(plain, 'close');
  });

  it('does not offer permessage-deflate twice when it is also in extensions', async () => {
    server = await startServer({ perMessageDeflate: true });
    const requests: HandshakeRequest[] = [];
    server.wss.on('connection', (_ws, req) => requests.push(req));
    const client = await connect(server.url(), { perMessageDeflate: true, extensions: [perMessageDeflateClient({ clientMaxWindowBits: 12 })] });
    assert.equal(requests[0]!.headers['sec-websocket-extensions'], 'permessage-deflate; client_max_window_bits=12');
    client.close();
    await within(nextEvent(client, 'close'), EVENT_WAIT_MS, 'close');
  });
});

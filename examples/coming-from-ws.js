// What a ws user reaches for, in Upshift.
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { WebSocketServer, connect, createWebSocketStream } from 'upshift';

// Unknown options throw, naming the equivalent (a silently ignored verifyClient would let everyone in).
try {
  new WebSocketServer({ port: 0, verifyClient: () => true });
} catch (error) {
  console.log(`${error.name}: ${error.message}`);
}

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  // createWebSocketStream: a Duplex; here every message comes back in upper case.
  const duplex = createWebSocketStream(ws);
  duplex.on('data', (chunk) => duplex.write(chunk.toString().toUpperCase()));
});
await new Promise((resolve) => wss.once('listening', resolve));

// The client's 'open' is connect() resolving (or the WHATWG WebSocket's onopen).
const ws = await connect(`ws://127.0.0.1:${wss.address().port}/`);
console.log('readyState is OPEN:', ws.readyState === ws.OPEN);
// A stream on the client side too (made before anything arrives, so it sees every answer).
const client = createWebSocketStream(ws);
const answers = [];
client.on('data', (chunk) => {
  answers.push(chunk.toString());
  if (answers.length === 4) {
    console.log('answers:', answers.join(' '));
    client.end(); // closes the connection with 1000
  }
});

// send(data, cb) and send(data, options, cb): the callback runs once the frame is written.
await new Promise((resolve, reject) => ws.send('written', (error) => (error ? reject(error) : resolve())));
console.log('send callback: written');
ws.send(Buffer.from('binary'), { binary: true }, () => {});

// Pipe into the stream: each chunk is one message.
await pipeline(Readable.from(['a', 'b']), new Writable({ write: (chunk, _, done) => client.write(chunk, done) }));

// wss.close(cb), as in ws (or await wss.close()).
await new Promise((resolve) => ws.once('close', resolve));
wss.close(() => console.log('wss.close callback'));

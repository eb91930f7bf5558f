// permessage-deflate (RFC 7692) on both sides.
import { WebSocketServer, connect } from 'upshift';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true }); // or { ...options }
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    console.log('server received', data.length, 'bytes');
    ws.send('ok');
  });
});
await new Promise((resolve) => wss.once('listening', resolve));

const ws = await connect(`ws://127.0.0.1:${wss.address().port}/`, { perMessageDeflate: true });
// or: extensions: [perMessageDeflate(options)] / [perMessageDeflateClient(options)]
console.log('negotiated:', ws.extensions);

const bigJson = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `item ${i}` })));
const jpegBytes = Buffer.alloc(4096, 0xff); // stands for data that is compressed already
let replies = 0;
ws.on('message', () => {
  if (++replies === 2) ws.close();
});
ws.send(bigJson); // compressed when at least `threshold` bytes
ws.send(jpegBytes, { compress: false }); // per message
await new Promise((resolve) => ws.once('close', resolve));
await wss.close();

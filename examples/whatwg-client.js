// The browser API on Node.js: the same code runs in a browser.
import { WebSocketServer, WebSocket } from 'upshift';

const echo = new WebSocketServer({ port: 0, host: '127.0.0.1', protocols: ['echo'] });
echo.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
await new Promise((resolve) => echo.once('listening', resolve));

const ws = new WebSocket(`ws://127.0.0.1:${echo.address().port}/echo`, ['echo']);
ws.binaryType = 'arraybuffer'; // 'blob' (default), 'arraybuffer' or 'nodebuffer'
ws.onopen = () => {
  ws.send('hello');
  ws.send(new Uint8Array([1, 2, 3]));
};
let count = 0;
ws.addEventListener('message', (event) => {
  console.log('message:', typeof event.data === 'string' ? event.data : new Uint8Array(event.data));
  if (++count === 2) ws.close(1000, 'done');
});
ws.onclose = async (event) => {
  console.log('close:', event.code, event.wasClean);
  await echo.close();
};

// A chat endpoint on your own HTTP server: plain HTTP keeps working on the same port.
import { createServer } from 'node:http';
import { WebSocketServer, connect } from 'upshift';

const http = createServer((req, res) => res.end('plain HTTP still works\n'));
const chat = new WebSocketServer({ server: http, path: '/chat', protocols: ['chat.v2', 'chat.v1'] });

chat.on('connection', (ws, req) => {
  ws.on('message', (data, isBinary) => {
    // data is a Buffer; text messages are already validated as UTF-8.
    chat.broadcast(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log('server: closed', code, reason));
});
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const { port } = http.address();

// Plain HTTP on the same port.
console.log('http:', (await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim());

// Two clients: what one sends, both receive.
const alice = await connect(`ws://127.0.0.1:${port}/chat`, { protocols: ['chat.v1'] });
const bob = await connect(`ws://127.0.0.1:${port}/chat`, { protocols: ['chat.v1'] });
console.log('protocol:', alice.protocol);
const received = new Promise((resolve) => bob.once('message', (data) => resolve(data.toString())));
alice.send('hello from alice');
console.log('bob got:', await received);

for (const ws of [alice, bob]) ws.close(1000, 'bye');
await chat.close();
http.close();

// Graceful shutdown: stop accepting, close every connection after what was queued, wait, drop the rest.
import { createServer } from 'node:http';
import { WebSocketServer, connect } from 'upshift';

const http = createServer((req, res) => res.end('still serving HTTP\n'));
const wss = new WebSocketServer({ server: http, path: '/live' });
wss.on('connection', (ws) => ws.send('last words before the shutdown'));
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${http.address().port}/live`;

// Each client records what it receives, from the moment it is connected.
const client = async () => {
  const ws = await connect(url);
  const messages = [];
  ws.on('message', (data) => messages.push(data.toString()));
  return new Promise((resolve) => ws.on('close', (code, reason) => resolve(`${messages.join(', ')} | ${code} ${reason}`)));
};
const closed = [client(), client()];
await new Promise((resolve) => wss.on('connection', () => wss.clients.size === 2 && resolve()));

const stopping = wss.close({ code: 1001, reason: 'maintenance', timeout: 5_000 });
// Upgrades arriving during the shutdown are refused with 503.
await connect(url).catch((error) => console.log('during shutdown:', error.statusCode));
await stopping;
for (const line of await Promise.all(closed)) console.log('client:', line);
console.log('endpoint closed; clients left:', wss.clients.size);
http.close();

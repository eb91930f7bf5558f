// Topics with the pub/sub Hub (MQTT-style filters), delivering to WebSocket connections.
// A short example only: the server integration and the Redis/NATS adapters are in docs/pubsub.md.
import { WebSocketServer, connect, Hub } from 'upshift';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
const hub = new Hub({ deliver: (ws, message) => ws.send(message.payload, { binary: message.isBinary }) });
wss.on('connection', (ws, req) => {
  hub.subscribe(ws, new URL(req.url, 'http://x').searchParams.get('topic'));
  ws.on('close', () => hub.unsubscribeAll(ws));
});
await new Promise((resolve) => wss.once('listening', resolve));
const url = `ws://127.0.0.1:${wss.address().port}/`;

const aapl = await connect(`${url}?topic=prices/AAPL`);
const all = await connect(`${url}?topic=prices/%2B`); // the filter prices/+ (one level)
const got = (ws) => new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
const [a, b] = [got(aapl), got(all)];
hub.publish('prices/AAPL', Buffer.from(JSON.stringify({ bid: 189.2 })), false);
console.log('prices/AAPL subscriber:', await a);
console.log('prices/+ subscriber:', await b);

for (const ws of [aapl, all]) ws.close();
await wss.close();
await hub.close();

// Topics on the server: each connection subscribes to MQTT-style filters, wss.publish() frames a
// message once and writes it to every subscriber in the process (HTTP/1.1 and HTTP/2 alike).
// With `pubsub: { adapter: await redisAdapter({ url }) }` (or natsAdapter) the same topics span
// processes and machines: see docs/pubsub.md and examples/cluster.ts.
import { WebSocketServer, connect } from 'upshift';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
wss.on('connection', (ws, req) => {
  ws.subscribe(new URL(req.url, 'http://x').searchParams.get('topic'));
});
await new Promise((resolve) => wss.once('listening', resolve));
const url = `ws://127.0.0.1:${wss.address().port}/`;

const aapl = await connect(`${url}?topic=prices/AAPL`);
const all = await connect(`${url}?topic=prices/%2B`); // the filter prices/+ (one level)
const got = (ws) => new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
const [a, b] = [got(aapl), got(all)];
const delivered = wss.publish('prices/AAPL', JSON.stringify({ bid: 189.2 }));
console.log('delivered to', delivered, 'subscribers');
console.log('prices/AAPL subscriber:', await a);
console.log('prices/+ subscriber:', await b);

for (const ws of [aapl, all]) ws.close();
await wss.close();

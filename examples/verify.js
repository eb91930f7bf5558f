// Authenticate before the 101: verify() runs on the request, may be async, and can attach data.
import { WebSocketServer, connect, HandshakeError } from 'upshift';

const users = new Map([['token-ada', { name: 'Ada' }]]);

const wss = new WebSocketServer({
  port: 0,
  host: '127.0.0.1',
  async verify(req, info) {
    const token = new URL(req.url, 'http://x').searchParams.get('token');
    const user = users.get(token ?? '');
    if (user === undefined) {
      return { accept: false, status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'Unknown token' };
    }
    return { accept: true, data: user }; // becomes ws.data
  },
});
wss.on('connection', (ws) => {
  ws.send(`welcome, ${ws.data.name}`);
});
await new Promise((resolve) => wss.once('listening', resolve));
const url = `ws://127.0.0.1:${wss.address().port}/`;

try {
  await connect(`${url}?token=nope`);
} catch (error) {
  if (!(error instanceof HandshakeError)) throw error;
  console.log('refused:', error.statusCode, error.headers['www-authenticate']);
}

const ws = await connect(`${url}?token=token-ada`);
const [greeting] = await new Promise((resolve) => ws.once('message', (...args) => resolve(args)));
console.log('accepted:', greeting.toString());
ws.close();
await wss.close();

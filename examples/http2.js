// WebSockets over HTTP/2 (RFC 8441), and HTTP/1.1 on the same TLS port.
import { createSecureServer } from 'node:http2';
import { WebSocketServer, connect } from 'upshift';
import { throwawayCertificate } from './support/throwaway-cert.js';

const { key, cert } = throwawayCertificate();
const app = (req, res) => res.end(`plain HTTP/${req.httpVersion}\n`);
const server = createSecureServer({ key, cert, allowHTTP1: true }, app);
const wss = new WebSocketServer({ server, path: '/ws' });
wss.on('connection', (ws, req) => {
  // req.httpVersion: '2.0' (CONNECT) or '1.1' (GET)
  ws.send(`hello over HTTP/${req.httpVersion}`);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `wss://localhost:${server.address().port}/ws`;

// Listen right away: a message the server sends at once may arrive with the handshake's answer.
const opened = async (options) => {
  const ws = await connect(url, options);
  const message = new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
  return { ws, message };
};
// One HTTP/2 session per origin (and TLS settings), shared by every WebSocket opened this way.
const first = await opened({ http2: true, tls: { ca: cert } });
const second = await opened({ http2: true, tls: { ca: cert } });
// Without http2: an HTTP/1.1 upgrade to the same endpoint.
const third = await opened({ tls: { ca: cert } });
for (const { ws, message } of [first, second, third]) {
  console.log(await message);
  ws.close();
}
await wss.close();
server.close();

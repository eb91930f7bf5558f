// The Node-style client over TLS, with credentials, a redirect and limits.
import { createServer } from 'node:https';
import { WebSocketServer, connect } from 'upshift';
import { throwawayCertificate } from './support/throwaway-cert.js';

// A TLS server whose certificate the client trusts through `ca` (its own, as it is self-signed).
const { key, cert } = throwawayCertificate();
const https = createServer({ key, cert }, (req, res) => {
  // The old address of the feed redirects to the new one.
  res.writeHead(301, { Location: '/feed' }).end();
});
const feed = new WebSocketServer({
  server: https,
  path: '/feed',
  protocols: ['v1'],
  verify: (req) => req.headers.authorization === 'Bearer example-token',
});
feed.on('connection', (ws) => {
  for (const item of ['one', 'two', 'three']) ws.send(item);
  ws.close(1000, 'that is all');
});
await new Promise((resolve) => https.listen(0, '127.0.0.1', resolve));
const { port } = https.address();

const ws = await connect(`wss://localhost:${port}/old-feed`, {
  protocols: ['v1'],
  headers: { Authorization: 'Bearer example-token' }, // kept: the redirect stays on this origin
  handshakeTimeout: 10_000, // default 30 s
  followRedirects: 3, // default false; true means up to 10
  tls: { ca: cert }, // any node:tls option
  maxPayload: 1 << 20,
});
for await (const { data } of ws) console.log('feed:', data.toString());
console.log('closed:', ws.closeCode, ws.closeReason);

await feed.close();
https.close();

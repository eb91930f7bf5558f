// Your own upgrade protocol beside WebSockets, on the same server (RFC 9110 §7.8).
import { createServer, request } from 'node:http';
import { upgradeRouterFor, switchingProtocols } from 'upshift';

const server = createServer((req, res) => res.end(`plain answer for ${req.url}\n`));
upgradeRouterFor(server).register(
  'my-proto',
  {
    accepts: (req, offer) => offer.version === '',
    handleUpgrade(req, socket, head) {
      socket.write(switchingProtocols('my-proto'));
      // Speak my-proto: here, answer each chunk in upper case.
      socket.on('data', (chunk) => socket.write(chunk.toString().toUpperCase()));
      if (head.length > 0) socket.write(head.toString().toUpperCase());
    },
  },
  { path: '/tunnel' },
);
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();

function upgrade(path, protocol) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Connection: 'Upgrade', Upgrade: protocol } });
    req.on('upgrade', (res, socket) => resolve({ status: res.statusCode, upgrade: res.headers.upgrade, socket }));
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: body.trim() }));
    });
    req.on('error', reject);
    req.end();
  });
}

const switched = await upgrade('/tunnel', 'my-proto');
console.log('switched:', switched.status, switched.upgrade);
switched.socket.write('hello');
console.log('my-proto says:', (await new Promise((resolve) => switched.socket.once('data', resolve))).toString());
switched.socket.destroy();

// An upgrade nobody serves here is answered as a plain request (RFC 9110 §7.8).
const ignored = await upgrade('/elsewhere', 'my-proto');
console.log('not switched:', ignored.status, ignored.body);
server.close();
server.closeAllConnections();

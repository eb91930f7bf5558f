// `npm start`: the demo server. GET / serves a page that talks to /echo; /echo echoes every
// message unchanged (text stays text, binary stays binary) and answers plain GETs with 426.
import { createServer } from 'node:http';
import { WebSocketServer } from '../server/websocket-server.js';
import { DEMO_PAGE } from './page.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);

const http = createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(DEMO_PAGE);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
});

const echo = new WebSocketServer({ server: http, path: '/echo', protocols: ['echo'] });
echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

http.listen(port, host, () => {
  console.log(`upshift demo listening on http://${host.includes(':') ? `[${host}]` : host}:${port}/ (WebSocket echo at /echo)`);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing ${echo.clients.size} connection(s)`);
  http.close();
  http.closeIdleConnections();
  await echo.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

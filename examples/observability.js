// Watching a server: diagnostics_channel events as things happen, wss.stats() to poll counters.
import diagnostics_channel from 'node:diagnostics_channel';
import { WebSocketServer, connect, DIAGNOSTICS_CHANNELS } from 'upshift';

// Published only while someone subscribes; each message is a plain object.
diagnostics_channel.subscribe(DIAGNOSTICS_CHANNELS.handshakeRefused, ({ status, stage, path }) => {
  console.log(`refused: ${status} by ${stage} at ${path}`);
});
diagnostics_channel.subscribe(DIAGNOSTICS_CHANNELS.close, ({ role, code, reason, wasClean }) => {
  if (role === 'server') console.log(`closed: ${code} ${reason}, clean: ${wasClean}`);
});

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/chat', origins: ['https://app.example'] });
const serverSideClosed = new Promise((resolve) => {
  wss.on('connection', (ws) => {
    ws.on('message', (data) => ws.send(data));
    ws.on('close', resolve);
  });
});
await new Promise((resolve) => wss.once('listening', resolve));
const url = `ws://127.0.0.1:${wss.address().port}/chat`;

await connect(url, { origin: 'https://evil.example' }).catch(() => {});
const ws = await connect(url, { origin: 'https://app.example' });
ws.send('hello');
await new Promise((resolve) => ws.once('message', resolve));
ws.close(1000, 'done');
await serverSideClosed;

const { connections, handshakes, messages, bytes } = wss.stats();
console.log(`open: ${connections.open}, accepted: ${handshakes.accepted}, refused: ${JSON.stringify(handshakes.refusedByStatus)}`);
console.log(`messages in/out: ${messages.in}/${messages.out}, payload bytes in/out: ${bytes.in}/${bytes.out}`);
await wss.close();

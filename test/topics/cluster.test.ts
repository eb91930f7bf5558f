// The node:cluster recipe (examples/cluster.ts) as a real process: a primary and 2 workers sharing
// one port, topics through a real Redis, then NATS. Clients that landed on different workers get
// each other's messages, once each, and not their own.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/connect.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { ChildPeer, REPO_ROOT, freePort, nextEvent, withTimeout } from '../peers/support/peers.js';
import { BrokerServer, brokerSkip, type BrokerKind } from '../pubsub/support/brokers.js';

const CLUSTER_JS = `${REPO_ROOT}dist/examples/cluster.js`;
const CLIENTS = 6;

for (const kind of ['redis', 'nats'] as BrokerKind[]) {
  describe(`examples/cluster.ts on ${kind}`, { skip: brokerSkip(kind), timeout: 60_000 }, () => {
    let broker: BrokerServer;
    let primary: ChildPeer;
    let port: number;

    before(async () => {
      broker = await BrokerServer.start(kind);
      port = await freePort();
      primary = new ChildPeer(process.execPath, [CLUSTER_JS], {
        PORT: String(port),
        HOST: '127.0.0.1',
        WORKERS: '2',
        BROKER: kind === 'redis' ? broker.url : `nats://${broker.url}`,
      });
      await primary.waitForLine(/^listening on ws:\/\/127\.0\.0\.1:\d+\/ with 2 workers$/, 20_000);
    });

    after(async () => {
      await primary?.stop();
      await broker?.stop();
    });

    it("clients on different workers get each other's messages once, never their own", async () => {
      const clients: { ws: WebSocketConnection; worker: string; got: string[] }[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        const ws = await connect(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 5000 });
        const [hello] = await nextEvent<[Buffer]>(ws, 'message', 10_000);
        const client = { ws, worker: hello.toString(), got: [] as string[] };
        ws.on('message', (data) => client.got.push(data.toString()));
        clients.push(client);
      }
      const workers = new Set(clients.map((c) => c.worker));
      assert.equal(workers.size, 2, `the connections were spread over both workers: ${[...clients.map((c) => c.worker)].join(', ')}`);
      for (const [i, client] of clients.entries()) client.ws.send(`from ${i}`);
      const everyone = clients.map((client, i) =>
        withTimeout(
          (async () => {
            while (client.got.length < CLIENTS - 1) await nextEvent(client.ws, 'message', 10_000);
          })(),
          15_000,
          `client ${i} (${client.worker}) to get ${CLIENTS - 1} messages`,
        ),
      );
      await Promise.all(everyone);
      for (const [i, client] of clients.entries()) {
        const expected = clients.map((_, j) => `from ${j}`).filter((_, j) => j !== i);
        assert.deepEqual([...client.got].sort(), expected, `client ${i} on ${client.worker}`);
      }
      // The primary shuts the workers down on SIGTERM; they close their clients with 1001.
      const closed = clients.map((c) => nextEvent<[number]>(c.ws, 'close', 10_000));
      primary.child.kill('SIGTERM');
      const codes = (await Promise.all(closed)).map(([code]) => code);
      assert.deepEqual(codes, clients.map(() => 1001));
      assert.deepEqual(await primary.waitForExit(10_000), { code: 0, signal: null });
    });
  });
}

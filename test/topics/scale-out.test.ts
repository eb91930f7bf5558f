// Scale-out with real processes: 3 server processes (children) on one Redis, then on one NATS,
// two WebSocket clients each. Every message published on any node reaches every subscriber on
// every node once, in each publisher's order; the broker is killed (SIGKILL) and restarted mid-
// stream and service resumes. Missing brokers skip outside CI and fail under CI=true.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/connect.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { ChildPeer, REPO_ROOT, nextEvent, withTimeout } from '../peers/support/peers.js';
import { BrokerServer, brokerSkip, type BrokerKind } from '../pubsub/support/brokers.js';

const NODE_JS = `${REPO_ROOT}dist/test/topics/support/topic-node.js`;
const NODES = 3;
const ROUND = 200;

/** A WebSocket client that records "tag:i" messages and lets a test wait for a count. */
class Client {
  readonly got: { text: string; isBinary: boolean }[] = [];
  #waiter: (() => void) | null = null;
  constructor(
    readonly ws: WebSocketConnection,
    readonly node: number,
  ) {
    ws.on('message', (data, isBinary) => {
      this.got.push({ text: data.toString(), isBinary });
      this.#waiter?.();
    });
  }

  async until(count: number, what: string): Promise<void> {
    const reached = new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.got.length >= count) resolve();
      };
      this.#waiter = check;
      check();
    });
    await withTimeout(reached, 20_000, `${what}: client of node ${this.node} has ${this.got.length}/${count}`);
    this.#waiter = null;
  }

  /** The message numbers per tag, in arrival order. */
  byTag(): Map<string, number[]> {
    const tags = new Map<string, number[]>();
    for (const { text, isBinary } of this.got) {
      const [tag, n] = text.split(':') as [string, string];
      const i = Number(n);
      assert.equal(isBinary, i % 2 === 1, `${text} kept its text/binary flag`);
      (tags.get(tag) ?? tags.set(tag, []).get(tag)!).push(i);
    }
    return tags;
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function answer<T = Record<string, unknown>>(node: ChildPeer, request: Record<string, unknown>, ms = 20_000): Promise<T> {
  node.sendJson(request);
  return JSON.parse(await node.waitForLine(new RegExp(`"op":"${String(request.op)}`), ms)) as T;
}

for (const kind of ['redis', 'nats'] as BrokerKind[]) {
  describe(`3 server processes on ${kind}`, { skip: brokerSkip(kind), timeout: 90_000 }, () => {
    let broker: BrokerServer;
    const nodes: ChildPeer[] = [];
    const clients: Client[] = [];

    before(async () => {
      broker = await BrokerServer.start(kind);
      for (let i = 0; i < NODES; i++) nodes.push(new ChildPeer(process.execPath, [NODE_JS, kind, broker.url]));
      for (const [i, node] of nodes.entries()) {
        const { port } = JSON.parse(await node.waitForLine(/"op":"listening"/, 15_000)) as { port: number };
        for (const filter of ['scale/t', 'scale/+']) {
          const ws = await connect(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 5000 });
          const subscribed = nextEvent(ws, 'message');
          ws.send(`sub ${filter}`);
          await subscribed;
          clients.push(new Client(ws, i));
        }
      }
      for (const node of nodes) await answer(node, { op: 'ready' });
    });

    after(async () => {
      for (const client of clients) client.ws.terminate();
      await Promise.all(nodes.map((node) => node.stop()));
      await broker?.stop();
    });

    it('every message from every node reaches every client once, in per-publisher order', async () => {
      const local = await Promise.all(nodes.map((node, i) => answer<{ local: number }>(node, { op: 'publish', topic: 'scale/t', tag: `n${i}`, count: ROUND })));
      assert.deepEqual(local.map((a) => a.local), [2 * ROUND, 2 * ROUND, 2 * ROUND], 'each node wrote to its 2 clients');
      for (const client of clients) await client.until(NODES * ROUND, 'round 1');
      for (const client of clients) {
        assert.equal(client.got.length, NODES * ROUND, 'no duplicates');
        const tags = client.byTag();
        for (let i = 0; i < NODES; i++) assert.deepEqual(tags.get(`n${i}`), range(ROUND), `node ${i}'s messages once, in order`);
      }
    });

    it('the broker killed and restarted mid-stream: local delivery goes on, the nodes reconnect and service resumes', async () => {
      for (const client of clients) client.got.length = 0;
      // Mid-stream: node 0 streams while the broker dies under it.
      const streaming = answer<{ local: number }>(nodes[0]!, { op: 'publish', topic: 'scale/t', tag: 'kill', count: 2000, perTurn: 5 });
      await broker.kill();
      assert.equal((await streaming).local, 2 * 2000, 'local subscribers got every message');
      for (const node of nodes) await answer(node, { op: 'await', event: 'down' });
      // While the broker is gone, a node still serves its own subscribers.
      const { local } = await answer<{ local: number }>(nodes[1]!, { op: 'publish', topic: 'scale/x', tag: 'out', count: 20 });
      assert.equal(local, 20, "one client of node 1 matches scale/x (scale/+): 20 writes");
      await broker.start();
      for (const node of nodes) {
        const up = await answer<{ downtimeMs: number; attempts: number }>(node, { op: 'await', event: 'up' });
        assert.ok(up.downtimeMs > 0 && up.attempts >= 1, `reported downtime ${up.downtimeMs} ms after ${up.attempts} attempts`);
      }
      for (const node of nodes) await answer(node, { op: 'ready' });
      await Promise.all(nodes.map((node, i) => answer(node, { op: 'publish', topic: 'scale/t', tag: `r${i}`, count: ROUND })));
      for (const client of clients) {
        await withTimeout(
          (async () => {
            for (;;) {
              const tags = client.byTag();
              if (range(NODES).every((i) => (tags.get(`r${i}`)?.length ?? 0) >= ROUND)) return;
              await nextEvent(client.ws, 'message', 20_000);
            }
          })(),
          25_000,
          `round 2 at a client of node ${client.node}`,
        );
        const tags = client.byTag();
        for (let i = 0; i < NODES; i++) assert.deepEqual(tags.get(`r${i}`), range(ROUND), `after the restart, node ${i}'s messages once, in order`);
        // Across the outage: at most once, in order (a broker keeps nothing for absent nodes).
        for (const tag of ['kill', 'out']) {
          const seen = tags.get(tag) ?? [];
          assert.deepEqual(seen, [...new Set(seen)].sort((a, b) => a - b), `${tag}: no duplicate, no reordering`);
        }
        if (client.node === 0) assert.deepEqual(tags.get('kill'), range(2000), "node 0's own clients got its whole stream");
        if (client.node === 1 && client.got.some((m) => m.text.startsWith('out:'))) assert.deepEqual(tags.get('out'), range(20));
      }
    });
  });
}

// freePort, which the starters of real peers (nginx, redis-server, nats-server, the demo) use: a
// port below the kernel's ephemeral range, so that no outgoing connection of a test running
// alongside can take it between its release and the child's bind; and acceptsConnections, their
// readiness check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { acceptsConnections, freePort } from './support/peers.js';

const RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

describe('freePort and acceptsConnections', () => {
  it('gives ports below the ephemeral range that can be bound, and not the same one each time', async () => {
    // Linux says where its range starts; elsewhere freePort assumes IANA's (49152).
    const low = existsSync(RANGE_FILE) ? Number(readFileSync(RANGE_FILE, 'utf8').trim().split(/\s+/)[0]) : 49152;
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      assert.ok(port >= 1024 && port < low, `${port} is outside [1024, ${low})`);
      ports.add(port);
    }
    assert.ok(ports.size > 1, 'twenty draws gave one port');
    const server = createServer().listen([...ports][0], '127.0.0.1');
    await once(server, 'listening');
    server.close();
  });

  it('tells whether a port accepts connections', async () => {
    const server = createServer((socket) => socket.destroy()).listen(await freePort(), '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    assert.equal(await acceptsConnections(port), true);
    server.close();
    await once(server, 'close');
    assert.equal(await acceptsConnections(port), false);
  });
});

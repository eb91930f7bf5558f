// Real brokers for the pub/sub tests: redis-server and nats-server started on free loopback ports
// in temporary directories, killed by PID (and restarted on the same port for the fault tests).
// Missing binaries skip the tests with an install hint, except under CI=true where they fail.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptsConnections, freePort } from '../../peers/support/peers.js';
import { skipUnlessInstalled } from '../../peers/support/requirements.js';

export type BrokerKind = 'redis' | 'nats';

export const BROKER_BINARIES: Record<BrokerKind, { path: string; hint: string }> = {
  redis: { path: '/usr/bin/redis-server', hint: 'apt-get install redis-server' },
  nats: { path: '/usr/sbin/nats-server', hint: 'apt-get install nats-server' },
};

/** false when the broker can be run; else why not. Under CI a missing broker is no reason to skip. */
export function brokerSkip(kind: BrokerKind): string | false {
  const { path, hint } = BROKER_BINARIES[kind];
  return skipUnlessInstalled(path, hint, `${kind} pub/sub tests`);
}

export class BrokerServer {
  readonly kind: BrokerKind;
  readonly port: number;
  /** nats-server's HTTP monitoring port. */
  readonly monitorPort: number;
  readonly dir: string;
  #child: ChildProcess | null = null;
  #exited: Promise<unknown> | null = null;
  readonly output: string[] = [];

  private constructor(kind: BrokerKind, port: number, monitorPort: number) {
    this.kind = kind;
    this.port = port;
    this.monitorPort = monitorPort;
    this.dir = mkdtempSync(join(tmpdir(), `upshift-${kind}-`));
  }

  static async start(kind: BrokerKind): Promise<BrokerServer> {
    const { path, hint } = BROKER_BINARIES[kind];
    if (!existsSync(path)) throw new Error(`${path} is missing (${hint}); CI must install it (.ci/run PACKAGES)`);
    // Two starters may draw the same free port (freePort): a bind that fails is retried elsewhere.
    for (let attempt = 1; ; attempt++) {
      const server = new BrokerServer(kind, await freePort(), kind === 'nats' ? await freePort() : 0);
      try {
        await server.start();
        return server;
      } catch (error) {
        await server.stop();
        if (attempt === 3 || !/address already in use/i.test(server.output.join(''))) throw error;
      }
    }
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get url(): string {
    return this.kind === 'redis' ? `redis://127.0.0.1:${this.port}` : `127.0.0.1:${this.port}`;
  }

  /** (Re)starts the broker on its port; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.#child !== null) throw new Error('already running');
    const args =
      this.kind === 'redis'
        ? ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--logfile', '']
        : ['-a', '127.0.0.1', '-p', String(this.port), '-m', String(this.monitorPort)];
    const child = spawn(BROKER_BINARIES[this.kind].path, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = once(child, 'exit').catch(() => {});
    const keep = (chunk: Buffer): void => {
      this.output.push(chunk.toString());
      if (this.output.length > 200) this.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exited = false;
    void this.#exited.then(() => (exited = true));
    const deadline = Date.now() + 10_000;
    const ports = this.kind === 'nats' ? [this.port, this.monitorPort] : [this.port];
    for (const port of ports) {
      while (!(await acceptsConnections(port))) {
        if (exited || Date.now() > deadline) {
          throw new Error(`${this.kind} did not start on ${port}: ${this.output.join('')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** SIGKILL, no goodbye to the clients: the fault the adapters must survive. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.#exited;
  }

  /** Kills the broker and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * What is subscribed at the broker: subscription name → number of connections holding it.
   * Redis cannot list patterns, so it reports their number as '#patterns' (PUBSUB NUMPAT).
   */
  async subscriptions(): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    if (this.kind === 'nats') {
      const response = await fetch(`http://127.0.0.1:${this.monitorPort}/connz?subs=1`);
      const body = (await response.json()) as { connections?: { subscriptions_list?: string[] }[] };
      for (const connection of body.connections ?? []) {
        for (const subject of connection.subscriptions_list ?? []) result.set(subject, (result.get(subject) ?? 0) + 1);
      }
      return result;
    }
    const { createClient } = (await import('redis')) as unknown as {
      createClient(options: object): { connect(): Promise<unknown>; sendCommand(args: string[]): Promise<unknown>; close(): Promise<void> };
    };
    const client = createClient({ url: this.url, socket: { reconnectStrategy: false } });
    await client.connect();
    try {
      const channels = (await client.sendCommand(['PUBSUB', 'CHANNELS'])) as string[];
      if (channels.length > 0) {
        const counts = (await client.sendCommand(['PUBSUB', 'NUMSUB', ...channels])) as (string | number)[];
        for (let i = 0; i < counts.length; i += 2) result.set(String(counts[i]), Number(counts[i + 1]));
      }
      result.set('#patterns', Number(await client.sendCommand(['PUBSUB', 'NUMPAT'])));
    } finally {
      await client.close();
    }
    return result;
  }
}

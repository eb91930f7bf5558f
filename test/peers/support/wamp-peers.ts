// Real WAMP clients for the router's peer tests: AutobahnJS and wampy in this process (over the
// `ws` package), Autobahn|Python as a child process (wamp_peer.py), and what is needed to know
// whether each is installed.

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { ChildPeer, SUPPORT_DIR, withTimeout } from './peers.js';
import { inCI, skipUnlessInstalled } from './requirements.js';

const require = createRequire(import.meta.url);

export const PYTHON = '/usr/bin/python3';
export const CHROMIUM = '/usr/bin/chromium';

/** false when Autobahn|Python runs here (or under CI, where a missing one must fail); else why not. */
export function pythonAutobahnSkip(): string | false {
  const missing = skipUnlessInstalled(PYTHON, 'apt-get install python3-autobahn python3-msgpack', 'Autobahn|Python WAMP tests');
  if (inCI() || missing !== false) return missing;
  const probe = spawnSync(PYTHON, ['-c', 'import autobahn, msgpack'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.status === 0) return false;
  const reason = `${PYTHON} cannot import autobahn and msgpack (apt-get install python3-autobahn python3-msgpack)`;
  console.log(`# skipping the Autobahn|Python WAMP tests: ${reason}`);
  return reason;
}

export function chromiumSkip(): string | false {
  return skipUnlessInstalled(CHROMIUM, 'apt-get install chromium', 'Chromium WAMP tests');
}

// ---- AutobahnJS (npm autobahn) ----

/* eslint-disable @typescript-eslint/no-explicit-any */
export const autobahn = require('autobahn') as any;

export interface AutobahnOptions {
  realm?: string;
  serializer: 'json' | 'msgpack';
  authmethods?: string[];
  authid?: string;
  onchallenge?: (session: unknown, method: string, extra: Record<string, unknown>) => string;
}

/** An open AutobahnJS session, or rejects with the close reason (an ABORT's URI). */
export function openAutobahn(url: string, options: AutobahnOptions): Promise<{ session: any; connection: any }> {
  const connection = new autobahn.Connection({
    url,
    realm: options.realm ?? 'realm1',
    serializers: [options.serializer === 'json' ? new autobahn.serializer.JSONSerializer() : new autobahn.serializer.MsgpackSerializer()],
    max_retries: 0,
    retry_if_unreachable: false,
    authmethods: options.authmethods,
    authid: options.authid,
    onchallenge: options.onchallenge,
  });
  return withTimeout(
    new Promise((resolve, reject) => {
      connection.onopen = (session: unknown) => resolve({ session, connection });
      connection.onclose = (reason: string, details: { reason?: string }) => {
        reject(Object.assign(new Error(`AutobahnJS closed: ${reason} ${details?.reason ?? ''}`), { reason: details?.reason ?? reason }));
        return true; // do not retry
      };
      connection.open();
    }),
    10_000,
    'AutobahnJS to open',
  );
}

// ---- wampy (npm wampy) ----

export async function openWampy(
  url: string,
  options: { serializer: 'json' | 'msgpack'; realm?: string; authid?: string; authmethods?: string[]; onChallenge?: (method: string, info: unknown) => string },
): Promise<any> {
  const { Wampy } = (await import('wampy')) as any;
  const { MsgpackSerializer } = (await import('wampy/MsgpackSerializer.js')) as any;
  const { JsonSerializer } = (await import('wampy/JsonSerializer.js')) as any;
  const WebSocket = require('ws');
  const wampy = new Wampy(url, {
    realm: options.realm ?? 'realm1',
    ws: WebSocket,
    autoReconnect: false,
    serializer: options.serializer === 'json' ? new JsonSerializer() : new MsgpackSerializer(),
    ...(options.authid === undefined ? {} : { authid: options.authid, authmethods: options.authmethods, onChallenge: options.onChallenge }),
  });
  await withTimeout(wampy.connect(), 10_000, 'wampy to connect');
  return wampy;
}

// ---- Autobahn|Python (Debian python3-autobahn) ----

export class PythonPeer {
  readonly peer: ChildPeer;
  #id = 0;
  readonly events: Record<string, unknown>[] = [];

  private constructor(peer: ChildPeer) {
    this.peer = peer;
  }

  /** Starts wamp_peer.py; resolves with its first line ({joined} or {closed}). */
  static async start(url: string, serializer: 'json' | 'msgpack', auth?: [string, string, string], realm = 'realm1'): Promise<{ python: PythonPeer; first: Record<string, unknown> }> {
    const peer = new ChildPeer(PYTHON, [`${SUPPORT_DIR}wamp_peer.py`, url, realm, serializer, ...(auth ?? [])], { PYTHONUNBUFFERED: '1' });
    const python = new PythonPeer(peer);
    const first = await python.#line(20_000, 'the Python peer to join');
    return { python, first };
  }

  /** The next JSON line; Autobahn's and asyncio's log lines on stdout are skipped. */
  async #json(ms: number, what: string): Promise<Record<string, unknown>> {
    return JSON.parse(await this.peer.waitForLine(/^\{/, ms)) as Record<string, unknown>;
  }

  async #line(ms: number, what: string): Promise<Record<string, unknown>> {
    for (;;) {
      const line = await this.#json(ms, what);
      if ('event' in line) this.events.push(line);
      else return line;
    }
  }

  /** Sends a command and returns its answer (events printed meanwhile are kept in `events`). */
  async request(command: Record<string, unknown>, ms = 10_000): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    this.peer.sendJson({ id, ...command });
    const answer = await this.#line(ms, `the answer to ${String(command.op)}`);
    if (answer.id !== id) throw new Error(`Python answered ${JSON.stringify(answer)} to ${JSON.stringify(command)}`);
    return answer;
  }

  /** Waits for the next event line. */
  async event(ms = 10_000): Promise<Record<string, unknown>> {
    const kept = this.events.shift();
    if (kept !== undefined) return kept;
    const line = await this.#json(ms, 'an event in Python');
    if (!('event' in line)) throw new Error(`expected an event, got ${JSON.stringify(line)}`);
    return line;
  }

  stop(): Promise<void> {
    return this.peer.stop();
  }
}

// The WAMP router with real clients no one here wrote, talking to each other through it:
// AutobahnJS and wampy in Node, Autobahn|Python (asyncio, Debian's python3-autobahn) in a child
// process, and AutobahnJS (autobahn-browser) in headless Chromium; JSON and MessagePack mixed.
// A missing Python or Chromium skips its tests with an install hint, except under CI=true.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { WebSocketServer } from '../../src/index.js';
import { WampRouter, anonymous, deriveCraKey, selectWampProtocol, ticket, wampcra } from '../../src/wamp/index.js';
import { CHROMIUM_ARGS, REPO_ROOT, nextEvent, withTimeout } from './support/peers.js';
import { CHROMIUM, PythonPeer, autobahn, chromiumSkip, openAutobahn, openWampy, pythonAutobahnSkip } from './support/wamp-peers.js';

const pythonSkip = pythonAutobahnSkip();
const browserSkip = chromiumSkip();

const AUTOBAHN_BROWSER = readFileSync(join(REPO_ROOT, 'node_modules/autobahn-browser/autobahn.min.js'));

const CRA_USERS: Record<string, { secret: string; role: string; salt?: string; iterations?: number; keylen?: number }> = {
  alice: { secret: 'alice-secret', role: 'user' },
  bob: { secret: deriveCraKey('bob-password', 'bob-salt', 1000, 32), role: 'user', salt: 'bob-salt', iterations: 1000, keylen: 32 },
};

describe('WAMP router with real clients', { timeout: 180_000 }, () => {
  let http: Server;
  let wss: WebSocketServer;
  let router: WampRouter;
  let url: string;
  let base: string;
  const closers: (() => unknown)[] = [];

  before(async () => {
    http = createServer((req, res) => {
      if (req.url === '/autobahn.min.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(AUTOBAHN_BROWSER);
      } else if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>wamp</title><script src="/autobahn.min.js"></script>');
      } else {
        res.writeHead(404).end();
      }
    });
    wss = new WebSocketServer({ server: http, path: '/ws', protocols: selectWampProtocol });
    router = new WampRouter({
      realms: {
        realm1: {},
        secure: {
          auth: [wampcra((authid) => CRA_USERS[authid]), ticket((authid, secret) => (secret === `${authid}-ticket` ? 'user' : false))],
          roles: { user: [{ uri: 'com.app.', match: 'prefix', call: true, register: true, subscribe: true }] },
        },
        guests: { auth: [anonymous({ role: 'guest' })] },
      },
    }).attach(wss);
    http.listen(0, '127.0.0.1');
    await nextEvent(http, 'listening');
    const address = http.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    base = `http://127.0.0.1:${address.port}`;
    url = `ws://127.0.0.1:${address.port}/ws`;
  });

  after(async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // best effort
      }
    }
    await router.close();
    await wss.close();
    http.close();
  });

  const autobahnSession = async (serializer: 'json' | 'msgpack', extra: Parameters<typeof openAutobahn>[1] extends infer O ? Partial<O> : never = {}) => {
    const { session, connection } = await openAutobahn(url, { serializer, ...extra });
    closers.push(() => connection.close());
    return session;
  };

  it('declines the bare "wamp" token (WAMP v1): no subprotocol is selected', async () => {
    const client = new WebSocket(url, ['wamp']);
    const [error] = (await nextEvent(client, 'error')) as [Error];
    assert.match(error.message, /no subprotocol/i);
    const v2 = new WebSocket(url, ['wamp', 'wamp.2.json']);
    await nextEvent(v2, 'open');
    assert.equal(v2.protocol, 'wamp.2.json');
    v2.close();
  });

  it('AutobahnJS (Node) and wampy (Node) do pub/sub and RPC with each other, JSON and MessagePack', async () => {
    const callee = await autobahnSession('msgpack');
    await callee.register('com.node.add', (args: number[]) => args.reduce((a, b) => a + b, 0));
    await callee.register('com.node.stream', (args: number[], _kwargs: unknown, details: { progress?: (a: unknown[]) => void }) => {
      for (const value of args) details.progress?.([value]);
      return 'done';
    });
    const wampyJson = await openWampy(url, { serializer: 'json' });
    const wampyPack = await openWampy(url, { serializer: 'msgpack' });
    closers.push(() => wampyJson.disconnect(), () => wampyPack.disconnect());
    assert.deepEqual((await wampyJson.call('com.node.add', [1, 2, 3])).argsList, [6]);
    assert.deepEqual((await wampyPack.call('com.node.add', [10, 20])).argsList, [30]);
    // wampy's progressive call (progress_callback) against an AutobahnJS callee.
    const progress: unknown[] = [];
    const final = await wampyPack.call('com.node.stream', [7, 8], { progress_callback: (result: { argsList: unknown[] }) => progress.push(result.argsList[0]) });
    assert.deepEqual(progress, [7, 8]);
    assert.deepEqual(final.argsList, ['done']);
    // wampy registers, AutobahnJS calls.
    await wampyJson.register('com.wampy.upper', (data: { argsList: string[] }) => ({ argsList: data.argsList.map((s) => s.toUpperCase()) }));
    assert.deepEqual((await callee.call('com.wampy.upper', ['abc', 'é'])).args, ['ABC', 'É']);
    // Events both ways, with exclusion of the publisher by default.
    let toWampy!: (args: unknown[]) => void;
    const atWampy = new Promise<unknown[]>((resolve) => (toWampy = resolve));
    await wampyPack.subscribe('com.node.news', (event: { argsList: unknown[] }) => toWampy(event.argsList));
    await callee.publish('com.node.news', ['hello', 42], {}, { acknowledge: true });
    assert.deepEqual(await withTimeout(atWampy, 10_000, 'the event at wampy'), ['hello', 42]);
    let toAutobahn!: (args: unknown[]) => void;
    const atAutobahn = new Promise<unknown[]>((resolve) => (toAutobahn = resolve));
    await callee.subscribe('com.wampy.news', (args: unknown[]) => toAutobahn(args));
    await wampyJson.publish('com.wampy.news', ['from wampy']);
    assert.deepEqual(await withTimeout(atAutobahn, 10_000, 'the event at AutobahnJS'), ['from wampy']);
  });

  it('pattern-based and shared registrations with AutobahnJS and wampy callees', async () => {
    const one = await autobahnSession('json');
    const two = await openWampy(url, { serializer: 'msgpack' });
    closers.push(() => two.disconnect());
    await one.register('com.shared.work', () => 'autobahn', { invoke: 'roundrobin' });
    await two.register('com.shared.work', () => ({ argsList: ['wampy'] }), { invoke: 'roundrobin' });
    await one.register('com.pattern.', (_a: unknown, _k: unknown, details: { procedure: string }) => details.procedure, { match: 'prefix' });
    await two.register('com.pattern..get', (data: { details: { procedure: string } }) => ({ argsList: [`wildcard ${data.details.procedure}`] }), { match: 'wildcard' });
    const caller = await autobahnSession('msgpack');
    const served: string[] = [];
    for (let i = 0; i < 4; i++) served.push(await caller.call('com.shared.work'));
    assert.deepEqual(served, ['autobahn', 'wampy', 'autobahn', 'wampy']);
    assert.equal(await caller.call('com.pattern.users.list'), 'com.pattern.users.list');
    // A prefix beats a wildcard: the spec precedence.
    assert.equal(await caller.call('com.pattern.users.get'), 'com.pattern.users.get');
    await one.unregister(one.registrations.find((r: { procedure: string }) => r.procedure === 'com.pattern.'));
    assert.equal(await caller.call('com.pattern.users.get'), 'wildcard com.pattern.users.get');
    await assert.rejects(caller.call('com.pattern.users.put'), (error: { error: string }) => error.error === 'wamp.error.no_such_procedure');
  });

  it('authentication with real clients: WAMP-CRA (plain and salted) and ticket; refusals arrive as ABORT reasons', async () => {
    const craSign = (secret: string) => (_session: unknown, method: string, extra: Record<string, unknown>) => {
      // AutobahnJS's own WAMP-CRA helpers (crypto-js): the client library computes the signature.
      const auth_cra = autobahn.auth_cra as { derive_key(s: string, salt: unknown, i: unknown, k: unknown): string; sign(key: string, challenge: unknown): string };
      const key = extra.salt === undefined ? secret : auth_cra.derive_key(secret, extra.salt, extra.iterations, extra.keylen);
      return method === 'wampcra' ? auth_cra.sign(key, extra.challenge) : '';
    };
    const alice = await autobahnSession('json', { realm: 'secure', authmethods: ['wampcra'], authid: 'alice', onchallenge: craSign('alice-secret') });
    assert.equal(alice.id > 0, true);
    const bob = await autobahnSession('msgpack', { realm: 'secure', authmethods: ['wampcra'], authid: 'bob', onchallenge: craSign('bob-password') });
    await assert.rejects(
      openAutobahn(url, { serializer: 'json', realm: 'secure', authmethods: ['wampcra'], authid: 'alice', onchallenge: craSign('wrong') }),
      (error: { reason: string }) => error.reason === 'wamp.error.authentication_denied',
    );
    await assert.rejects(
      openAutobahn(url, { serializer: 'json', realm: 'secure' }),
      (error: { reason: string }) => error.reason === 'wamp.error.no_matching_auth_method',
    );
    const joe = await openWampy(url, { serializer: 'json', realm: 'secure', authid: 'joe', authmethods: ['ticket'], onChallenge: () => 'joe-ticket' });
    closers.push(() => joe.disconnect());
    await assert.rejects(
      openWampy(url, { serializer: 'json', realm: 'secure', authid: 'joe', authmethods: ['ticket'], onChallenge: () => 'stolen' }),
      (error: { errorUri?: string; message: string; error?: string }) => /authentication_denied/.test(JSON.stringify({ ...error, message: error.message })),
    );
    // Authorization: users may call, register and subscribe under com.app., not publish.
    await bob.register('com.app.echo', (args: unknown[]) => args[0]);
    assert.deepEqual((await joe.call('com.app.echo', ['x'])).argsList, ['x']);
    await assert.rejects(alice.publish('com.app.news', [], {}, { acknowledge: true }), (error: { error: string }) => error.error === 'wamp.error.not_authorized');
    await assert.rejects(alice.call('com.other.proc'), (error: { error: string }) => error.error === 'wamp.error.not_authorized');
  });

  describe('with Autobahn|Python', { skip: pythonSkip }, () => {
    it('a Python caller calls a Node callee (JSON and MessagePack), with progressive results', async () => {
      const callee = await autobahnSession('msgpack');
      await callee.register('com.node.concat', (args: string[], kwargs: { sep?: string }) => args.join(kwargs.sep ?? '+'));
      await callee.register('com.node.count', (args: number[], _k: unknown, details: { progress?: (a: unknown[]) => void }) => {
        for (let i = 1; i <= args[0]!; i++) details.progress?.([i]);
        return 'counted';
      });
      for (const serializer of ['json', 'msgpack'] as const) {
        const { python, first } = await PythonPeer.start(url, serializer);
        closers.push(() => python.stop());
        assert.ok(typeof first.joined === 'number', JSON.stringify(first));
        const answer = await python.request({ op: 'call', procedure: 'com.node.concat', args: ['a', 'b'], kwargs: { sep: '-' } });
        assert.equal(answer.result, 'a-b', serializer);
        const counted = await python.request({ op: 'call', procedure: 'com.node.count', args: [3], progress: true });
        assert.deepEqual([counted.result, counted.progress], ['counted', [[1], [2], [3]]], serializer);
        const missing = await python.request({ op: 'call', procedure: 'com.node.none' });
        assert.equal(missing.error, 'wamp.error.no_such_procedure');
        await python.stop();
      }
    });

    it('a Node caller and wampy call a Python callee; bytes cross JSON and MessagePack', async () => {
      const { python } = await PythonPeer.start(url, 'msgpack');
      closers.push(() => python.stop());
      await python.request({ op: 'register', procedure: 'com.py.echo', reply: 'python' });
      const caller = await autobahnSession('msgpack');
      const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
      const result = await caller.call('com.py.echo', [1, 'two', bytes]);
      assert.deepEqual([result[0], result[1], result[2]], ['python', 1, 'two']);
      assert.deepEqual(Buffer.from(result[3]), bytes);
      // Progressive results from the Python callee (AutobahnJS reports them through when.js' progress).
      const progress: unknown[] = [];
      const final = await caller.call('com.py.echo', ['p1', 'p2'], {}, { receive_progress: true }).then(
        (value: unknown) => value,
        (error: unknown) => Promise.reject(error),
        (update: unknown) => progress.push(update),
      );
      assert.deepEqual([final, progress], [['python', 'p1', 'p2'], ['p1', 'p2']]);
      const wampy = await openWampy(url, { serializer: 'json' });
      closers.push(() => wampy.disconnect());
      // A JSON client sends bytes as "\0" + base64 (WAMP's binary convention) and gets them back so.
      const viaJson = await wampy.call('com.py.echo', ['\u0000' + bytes.toString('base64')]);
      assert.deepEqual(viaJson.argsList, [['python', '\u0000' + bytes.toString('base64')]]);
    });

    it('WAMP-CRA with Autobahn|Python: salted key accepted, wrong secret refused', async () => {
      const { python, first } = await PythonPeer.start(url, 'json', ['wampcra', 'bob', 'bob-password'], 'secure');
      closers.push(() => python.stop());
      assert.equal(first.authrole, 'user', JSON.stringify(first));
      await python.stop();
      const refused = await PythonPeer.start(url, 'msgpack', ['wampcra', 'alice', 'not-her-secret'], 'secure');
      closers.push(() => refused.python.stop());
      assert.ok(!('joined' in refused.first), JSON.stringify(refused.first));
      assert.match(JSON.stringify(refused.first), /authentication_denied/);
    });

    describe('and headless Chromium (autobahn-browser)', { skip: browserSkip }, () => {
      let context: BrowserContext | undefined;
      let userDataDir: string | undefined;
      let page: Page;

      before(async () => {
        userDataDir = mkdtempSync(join(tmpdir(), 'upshift-wamp-chromium-'));
        context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
        page = context.pages()[0] ?? (await context.newPage());
        page.setDefaultTimeout(15_000);
        await page.goto(`${base}/`, { waitUntil: 'load' });
      });

      after(async () => {
        try {
          if (context !== undefined) await withTimeout(context.close(), 15_000, 'Chromium to close');
        } finally {
          if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
        }
      });

      it("a browser subscriber receives a Python publisher's events (JSON and MessagePack in the browser)", async () => {
        // Two browser sessions subscribe, one per serializer, and collect what they get.
        await page.evaluate(async (wsUrl) => {
          const w = window as unknown as { autobahn: any; got: Record<string, unknown[]>; sessions: any[] };
          w.got = { json: [], msgpack: [] };
          w.sessions = [];
          for (const name of ['json', 'msgpack']) {
            const serializer = name === 'json' ? new w.autobahn.serializer.JSONSerializer() : new w.autobahn.serializer.MsgpackSerializer();
            const session = await new Promise<any>((resolve, reject) => {
              const connection = new w.autobahn.Connection({ url: wsUrl, realm: 'realm1', serializers: [serializer], max_retries: 0 });
              connection.onopen = resolve;
              connection.onclose = (reason: string) => reject(new Error(reason));
              connection.open();
            });
            await session.subscribe('com.py.news', (args: unknown[], kwargs: unknown) => {
              const bytes = args[1] instanceof Uint8Array ? Array.from(args[1]) : args[1];
              w.got[name]!.push({ args: [args[0], bytes], kwargs });
            });
            w.sessions.push(session);
          }
        }, url);
        const { python } = await PythonPeer.start(url, 'msgpack');
        closers.push(() => python.stop());
        const published = await python.request({ op: 'publish', topic: 'com.py.news', args: ['from python', { bytes: Buffer.from([7, 8, 9]).toString('base64') }], kwargs: { n: 1 } });
        assert.equal(typeof published.publication, 'number', JSON.stringify(published));
        const got = await page.waitForFunction(() => {
          const w = window as unknown as { got: Record<string, unknown[]> };
          return w.got.json!.length > 0 && w.got.msgpack!.length > 0 ? w.got : null;
        });
        const value = (await got.jsonValue()) as Record<string, { args: unknown[]; kwargs: unknown }[]>;
        assert.deepEqual(value.msgpack![0], { args: ['from python', [7, 8, 9]], kwargs: { n: 1 } });
        // AutobahnJS's JSON serializer leaves WAMP's "\0" + base64 binary strings as they are.
        assert.deepEqual(value.json![0], { args: ['from python', '\u0000' + Buffer.from([7, 8, 9]).toString('base64')], kwargs: { n: 1 } });
      });

      it('the browser calls a Python callee, and Python receives an event the browser publishes', async () => {
        const { python } = await PythonPeer.start(url, 'json');
        closers.push(() => python.stop());
        await python.request({ op: 'register', procedure: 'com.py.browser', reply: 'py' });
        await python.request({ op: 'subscribe', topic: 'com.browser.', options: { match: 'prefix' } });
        const result = await page.evaluate(async () => {
          const w = window as unknown as { sessions: any[] };
          const answer = await w.sessions[1].call('com.py.browser', [1, 2]);
          await w.sessions[0].publish('com.browser.clicks', ['click'], { x: 3 }, { acknowledge: true });
          return answer;
        });
        assert.deepEqual(result, ['py', 1, 2]);
        const event = await python.event();
        assert.deepEqual([event.args, event.kwargs, event.topic], [['click'], { x: 3 }, 'com.browser.clicks']);
      });
    });
  });
});

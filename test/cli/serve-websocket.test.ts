// `upshift serve` endpoints as a process, driven by the project's own client: echo over HTTP/1.1,
// HTTP/2 with prior knowledge (RFC 8441) and with permessage-deflate; h2c next to them (curl);
// a broadcast room spanning both transports; the topics protocol, also across two processes
// sharing a NATS server; TLS with a generated certificate (HTTP/1.1 and HTTP/2 by ALPN); the
// connection limit and its refusal; graceful shutdown (1001, exit 0).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { BrokerServer, brokerSkip } from '../pubsub/support/brokers.js';
import { get as httpsGet } from 'node:https';
import { run, runCli, startServe, toolSkip, type Served } from './support/cli.js';
import { nextEvent } from '../helpers/events.js';

/** The next message on `ws` as text ('B:' + hex for binary), bounded. */
async function nextMessage(ws: WebSocketConnection, ms = 5000): Promise<string> {
  const [data, isBinary] = await nextEvent<[Buffer, boolean]>(ws, 'message', ms);
  return isBinary ? 'B:' + data.toString('hex') : data.toString('utf8');
}

function closed(ws: WebSocketConnection, ms = 5000): Promise<[number, string]> {
  return nextEvent<[number, string]>(ws, 'close', ms);
}

describe('serve: echo, broadcast and topics over HTTP/1.1, HTTP/2 and h2c', { timeout: 60_000 }, () => {
  let served: Served;
  const open: WebSocketConnection[] = [];
  const client = async (path: string, options: Parameters<typeof connect>[1] = {}): Promise<WebSocketConnection> => {
    const ws = await connect(`${served.wsBase}${path}`, options);
    open.push(ws);
    return ws;
  };

  before(async () => {
    served = await startServe(['--no-static', '--echo', '/echo', '--broadcast', '/room', '--topics', '/t', '--http2', '--h2c', '--deflate', '--metrics', '-q']);
  });
  after(async () => {
    for (const ws of open) ws.terminate();
    await served?.stop();
  });

  test('echo: text and binary, over HTTP/1.1 and over HTTP/2 with prior knowledge, deflate negotiated', async () => {
    for (const http2 of [false, true]) {
      const ws = await client('/echo', { http2, perMessageDeflate: true });
      assert.match(ws.extensions, /permessage-deflate/);
      ws.send('héllo '.repeat(100));
      assert.equal(await nextMessage(ws), 'héllo '.repeat(100));
      ws.send(Buffer.from([0, 1, 2, 255]));
      assert.equal(await nextMessage(ws), 'B:000102ff');
      ws.close(1000);
      assert.deepEqual(await closed(ws), [1000, '']);
    }
    // The endpoint's figures sum its servers' wss.stats(): one on node:http, one on node:http2.
    const metrics = await (await fetch(`${served.base}/_upshift/metrics`)).text();
    assert.match(metrics, /^upshift_connections_accepted_total\{kind="echo",path="\/echo"\} 2$/m);
    assert.match(metrics, /^upshift_messages_received_total\{kind="echo",path="\/echo"\} 4$/m);
    assert.match(metrics, /^upshift_messages_sent_total\{kind="echo",path="\/echo"\} 4$/m);
  });

  test('h2c: curl upgrades a cleartext request to HTTP/2 on the same port', { skip: toolSkip('/usr/bin/curl', 'apt-get install curl') }, async () => {
    const result = await run('/usr/bin/curl', ['-sS', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--max-time', '5', `${served.base}/nothing`]);
    assert.equal(result.stdout, '2 404');
  });

  test('broadcast: a message goes to every other member, whatever their transport', async () => {
    const a = await client('/room');
    const b = await client('/room', { http2: true });
    const c = await client('/room');
    const seen: string[] = [];
    for (const [name, ws] of [['a', a], ['b', b], ['c', c]] as const) ws.on('message', (data) => seen.push(`${name}:${data}`));
    const bGets = nextMessage(b);
    const cGets = nextMessage(c);
    a.send('from a');
    assert.deepEqual(await Promise.all([bGets, cGets]), ['from a', 'from a']);
    // Both waits start before the send: c may get it before a.
    const aGets = nextMessage(a);
    const cGetsB = nextMessage(c);
    b.send('from b');
    assert.deepEqual(await Promise.all([aGets, cGetsB]), ['from b', 'from b']);
    assert.deepEqual(seen.sort(), ['a:from b', 'b:from a', 'c:from a', 'c:from b']);
  });

  test('topics: sub, pub (text and binary), wildcards, unsub, errors', async () => {
    const sub = await client('/t');
    const pub = await client('/t', { http2: true });
    sub.send('sub news/+');
    assert.equal(await nextMessage(sub), 'ok sub news/+');
    pub.send('pub news/today it rained');
    assert.equal(await nextMessage(sub), 'msg news/today it rained');
    pub.send(Buffer.concat([Buffer.from('pub news/raw\n'), Buffer.from([0, 255])]), { binary: true });
    assert.equal(await nextMessage(sub), 'B:' + Buffer.concat([Buffer.from('msg news/raw\n'), Buffer.from([0, 255])]).toString('hex'));
    pub.send('pub sports/today ignored');
    pub.send('pub news/a/b ignored too');
    pub.send('pub news/later last');
    assert.equal(await nextMessage(sub), 'msg news/later last');
    sub.send('sub a/#/b');
    assert.match(await nextMessage(sub), /^err sub a\/#\/b: .*"#" must be the last level/);
    sub.send('dance');
    assert.match(await nextMessage(sub), /^err dance: unknown command/);
    sub.send('unsub news/+');
    assert.equal(await nextMessage(sub), 'ok unsub news/+');
  });
});

describe('serve --tls --http2: a generated certificate, the connection limit, graceful shutdown', { timeout: 60_000, skip: toolSkip('/usr/bin/openssl', 'apt-get install openssl') }, () => {
  let served: Served;
  before(async () => {
    served = await startServe(['--no-static', '--tls', '--http2', '--echo', '/echo', '--max-connections', '2', '--metrics', '-q']);
  });
  after(async () => {
    await served?.stop();
  });

  test('wss over HTTP/1.1 and HTTP/2; the third connection is refused with 503 (and counted); SIGTERM closes with 1001 and exits 0', async () => {
    assert.match(served.base, /^https:\/\//);
    const certificate = served.banner.find((line) => line.includes('certificate'));
    assert.match(certificate ?? '', /self-signed, sha256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    // `connect` trusts the printed certificate with --ca, and refuses it without.
    const certFile = /certificate (\S+)/.exec(certificate!)![1]!;
    const [trusted, untrusted] = await Promise.all([
      runCli(['connect', `wss://localhost:${served.port}/echo`, '--ca', certFile, '-q'], 'checked\n'),
      runCli(['connect', `wss://localhost:${served.port}/echo`, '-q'], 'x\n'),
    ]);
    assert.deepEqual([trusted.code, trusted.stdout], [0, 'checked\n'], trusted.stderr);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /self-signed certificate/);
    const tls = { rejectUnauthorized: false };
    const h1 = await connect(`${served.wsBase}/echo`, { tls });
    const h2 = await connect(`${served.wsBase}/echo`, { tls, http2: true });
    for (const ws of [h1, h2]) {
      ws.send('over tls');
      assert.equal(await nextMessage(ws), 'over tls');
    }
    for (const http2 of [false, true]) {
      await assert.rejects(connect(`${served.wsBase}/echo`, { tls, http2 }), (error: Error & { statusCode?: number }) => {
        assert.equal(error.statusCode, 503);
        assert.match(error.message, /Too many connections/);
        return true;
      });
    }
    const metrics = await new Promise<string>((resolve, reject) => {
      httpsGet(`${served.base}/_upshift/metrics`, { rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    // Refusals are seen on both transports: the HTTP/1.1 answer and the HTTP/2 :status.
    assert.match(metrics, /^upshift_handshakes_refused_total\{status="503"\} 2$/m);
    assert.match(metrics, /^upshift_handshakes_refused_by_stage_total\{stage="verify"\} 2$/m);
    // The library's counters: `connect --ca`, then h1 and h2, one message each.
    assert.match(metrics, /^upshift_connections_accepted_total\{kind="echo",path="\/echo"\} 3$/m);
    assert.match(metrics, /^upshift_messages_received_total\{kind="echo",path="\/echo"\} 3$/m);
    assert.match(metrics, /^upshift_messages_sent_total\{kind="echo",path="\/echo"\} 3$/m);
    assert.match(metrics, /^upshift_transport_connections_open\{transport="http\/1.1"\} 1$/m);
    assert.match(metrics, /^upshift_transport_connections_open\{transport="h2"\} 1$/m);
    const closes = [closed(h1), closed(h2)];
    served.peer.child.kill('SIGTERM');
    for (const [code, reason] of await Promise.all(closes)) {
      assert.equal(code, 1001);
      assert.equal(reason, 'server shutting down');
    }
    const exit = await served.peer.waitForExit(10_000);
    assert.deepEqual(exit, { code: 0, signal: null });
  });
});

describe('serve --topics --pubsub nats://: two processes share their topics', { timeout: 60_000, skip: brokerSkip('nats') }, () => {
  let broker: BrokerServer;
  const servers: Served[] = [];
  before(async () => {
    broker = await BrokerServer.start('nats');
    const url = `nats://${broker.url}`;
    servers.push(...(await Promise.all([0, 1].map(() => startServe(['--no-static', '--topics', '/t', '--pubsub', url, '-q'])))));
  });
  after(async () => {
    for (const served of servers) await served.stop();
    await broker?.stop();
  });

  test('a message published on one server reaches a subscriber of the other, once', async () => {
    const sub = await connect(`${servers[0]!.wsBase}/t`);
    const pub = await connect(`${servers[1]!.wsBase}/t`);
    try {
      const messages: string[] = [];
      sub.send('sub room/#');
      assert.equal(await nextMessage(sub), 'ok sub room/#');
      sub.on('message', (data) => messages.push(String(data)));
      // "ok sub" comes once the broker has the subscription: a publish from now on arrives.
      const first = once(sub, 'message');
      pub.send('pub room/1 hello');
      await first;
      pub.send('pub room/2 again');
      await once(sub, 'message');
      assert.deepEqual(messages, ['msg room/1 hello', 'msg room/2 again']);
    } finally {
      sub.terminate();
      pub.terminate();
    }
  });
});

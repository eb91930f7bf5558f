// The session life cycle and protocol violations, through router.handle() with in-memory sockets.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ROUTER_ROLES, WampRouter, msgpackEncode, selectWampProtocol } from '../../src/wamp/index.js';
import {
  ABORT,
  AUTHENTICATE,
  CALL,
  CHALLENGE,
  ERROR,
  EVENT,
  GOODBYE,
  HELLO,
  INVOCATION,
  PUBLISH,
  PUBLISHED,
  REGISTER,
  RESULT,
  SUBSCRIBE,
  SUBSCRIBED,
  WELCOME,
  YIELD,
  connect,
  joined,
} from './support/memory.js';

const router = (): WampRouter => new WampRouter({ realms: { realm1: {}, 'com.example': {} } });

describe('WAMP session life cycle', () => {
  it('welcomes a HELLO with a session ID and exactly the roles and features implemented', async () => {
    const r = router();
    const client = connect(r);
    const welcome = await client.join('realm1');
    assert.equal(welcome[0], WELCOME);
    const session = welcome[1] as number;
    assert.ok(Number.isInteger(session) && session >= 1 && session <= 2 ** 53);
    const details = welcome[2] as Record<string, unknown>;
    assert.deepEqual(details.roles, ROUTER_ROLES);
    assert.equal(details.authmethod, 'anonymous');
    assert.equal(details.authrole, 'anonymous');
    assert.equal(typeof details.authid, 'string');
    assert.equal(details.realm, 'realm1');
    await r.close();
  });

  it('answers GOODBYE with goodbye_and_out, and the same transport may join again', async () => {
    const r = router();
    const client = await joined(r);
    client.write([GOODBYE, {}, 'wamp.close.close_realm']);
    const reply = await client.expect(GOODBYE);
    assert.equal(reply[2], 'wamp.close.goodbye_and_out');
    assert.equal(client.closed, null);
    const again = await client.join('com.example');
    assert.equal(again[0], WELCOME);
    await r.close();
  });

  it('refuses an unknown realm and an invalid realm URI with ABORT', async () => {
    const r = router();
    const unknown = connect(r);
    const abort = await unknown.join('realm2');
    assert.deepEqual([abort[0], abort[2]], [ABORT, 'wamp.error.no_such_realm']);
    assert.equal((await unknown.closedBy()).code, 1000);
    const invalid = connect(r);
    const abort2 = await invalid.join('not a uri');
    assert.deepEqual([abort2[0], abort2[2]], [ABORT, 'wamp.error.invalid_uri']);
    await r.close();
  });

  it('creates realms on demand only with autoCreateRealms', async () => {
    const r = new WampRouter({ realms: {}, autoCreateRealms: true });
    const client = connect(r);
    assert.equal((await client.join('any.realm'))[0], WELCOME);
    await r.close();
  });

  it('closes a connection without a WAMP v2 subprotocol (the bare WAMP v1 token included) with 1002', async () => {
    const r = router();
    for (const protocol of ['wamp', '', 'wamp.2.cbor']) {
      const client = connect(r, protocol);
      assert.equal(client.closed?.code, 1002, protocol);
      assert.match(client.closed!.reason!, /WAMP v1 is not supported/);
    }
    assert.equal(selectWampProtocol(['wamp']), undefined);
    assert.equal(selectWampProtocol(['wamp', 'wamp.2.json', 'wamp.2.msgpack']), 'wamp.2.json');
    assert.equal(selectWampProtocol(['wamp.2.msgpack', 'wamp.2.json']), 'wamp.2.msgpack');
    await r.close();
  });

  it('speaks MessagePack in binary frames and JSON in text frames', async () => {
    const r = router();
    const packed = await joined(r, 'realm1', 'wamp.2.msgpack');
    const json = await joined(r, 'realm1', 'wamp.2.json');
    assert.ok(packed.frames.every(([binary]) => binary));
    assert.ok(json.frames.every(([binary]) => !binary));
    // Bytes published by a MessagePack client reach a JSON client as "\0" + base64 and back.
    await json.subscribe('com.bytes');
    await packed.subscribe('com.bytes');
    packed.publish('com.bytes', [Buffer.from([0, 1, 2, 255])], { exclude_me: false });
    const atJson = await json.expect(EVENT);
    assert.deepEqual(atJson[4], ['\u0000AAEC/w==']);
    const atPacked = await packed.expect(EVENT);
    assert.deepEqual(atPacked[4], [Buffer.from([0, 1, 2, 255])]);
    json.publish('com.bytes', ['\u0000AAEC/w==', 'plain']);
    const back = await packed.expect(EVENT);
    assert.deepEqual(back[4], [Buffer.from([0, 1, 2, 255]), 'plain']);
    await r.close();
  });

  it('sends GOODBYE system_shutdown to every session when the router closes', async () => {
    const r = router();
    const a = await joined(r);
    await r.close();
    const goodbye = await a.expect(GOODBYE);
    assert.equal(goodbye[2], 'wamp.close.system_shutdown');
    assert.equal(a.closed?.code, 1001);
  });
});

describe('WAMP protocol violations: ABORT wamp.error.protocol_violation, then the transport closes', () => {
  const cases: [string, (client: ReturnType<typeof connect>) => void, boolean][] = [
    ['not a list', (c) => c.write({ hello: 1 } as never), false],
    ['an empty list', (c) => c.write([]), false],
    ['an unknown message type', (c) => c.write([999, {}]), true],
    ['a message type that only a router sends', (c) => c.write([WELCOME, 1, {}]), true],
    ['a string message type', (c) => c.write(['1', 'realm1', {}]), false],
    ['SUBSCRIBE before HELLO', (c) => c.write([SUBSCRIBE, 1, {}, 'com.a']), false],
    ['GOODBYE before HELLO', (c) => c.write([GOODBYE, {}, 'wamp.close.close_realm']), false],
    ['HELLO without roles', (c) => c.write([HELLO, 'realm1', {}]), false],
    ['HELLO with the wrong number of elements', (c) => c.write([HELLO, 'realm1']), false],
    ['a second HELLO', (c) => c.write([HELLO, 'realm1', { roles: { caller: {} } }]), true],
    ['SUBSCRIBE with a request ID of 0', (c) => c.write([SUBSCRIBE, 0, {}, 'com.a']), true],
    ['SUBSCRIBE with a request ID above 2^53', (c) => c.write([SUBSCRIBE, 2 ** 53 + 2, {}, 'com.a']), true],
    ['SUBSCRIBE with a list for Options', (c) => c.write([SUBSCRIBE, 1, [], 'com.a']), true],
    ['PUBLISH with a dict for Arguments', (c) => c.write([PUBLISH, 1, {}, 'com.a', {}]), true],
    ['CALL with a list for ArgumentsKw', (c) => c.write([CALL, 1, {}, 'com.a', [], []]), true],
    ['SUBSCRIBE with an extra element', (c) => c.write([SUBSCRIBE, 1, {}, 'com.a', 'extra']), true],
    ['YIELD for an invocation never sent', (c) => c.write([YIELD, 12345, {}]), true],
    ['ERROR for a request type other than INVOCATION', (c) => c.write([ERROR, CALL, 1, {}, 'com.error']), true],
    ['AUTHENTICATE in an established session', (c) => c.write([AUTHENTICATE, 'sig', {}]), true],
    ['AUTHENTICATE without a CHALLENGE', (c) => c.write([AUTHENTICATE, 'sig', {}]), false],
    ['JSON that does not parse', (c) => c.writeRaw(Buffer.from('[1, "realm1", {'), false), false],
    ['a binary frame on wamp.2.json', (c) => c.writeRaw(msgpackEncode([HELLO, 'realm1', { roles: { caller: {} } }]), true), false],
  ];
  for (const [name, send, afterJoin] of cases) {
    it(name, async () => {
      const r = router();
      const client = afterJoin ? await joined(r) : connect(r);
      send(client);
      const abort = await client.expect(ABORT);
      assert.equal(abort[2], 'wamp.error.protocol_violation');
      assert.equal(typeof (abort[1] as { message?: unknown }).message, 'string');
      assert.equal((await client.closedBy()).code, 1002);
      // Nothing more is processed from a connection after its violation.
      client.write([HELLO, 'realm1', { roles: { caller: {} } }]);
      assert.equal(client.inbox.length, 0);
      await r.close();
    });
  }

  it('MessagePack that does not decode, extension types, and a text frame on wamp.2.msgpack', async () => {
    const r = router();
    for (const [bytes, binary] of [
      [Buffer.from([0x93, 0x01]), true], // truncated list
      [Buffer.from([0x93, 0x01, 0xa1, 0x61, 0xd4, 0x01, 0x00]), true], // fixext 1
      [Buffer.from([0xc1]), true], // never used
      [msgpackEncode([HELLO, 'realm1', { roles: { caller: {} } }]), false],
    ] as const) {
      const client = connect(r, 'wamp.2.msgpack');
      client.writeRaw(bytes, binary);
      const abort = await client.expect(ABORT);
      assert.equal(abort[2], 'wamp.error.protocol_violation');
      assert.equal(client.closed?.code, 1002);
    }
    await r.close();
  });

  it('leaves the realm on a violation: its registrations and subscriptions are gone', async () => {
    const r = router();
    const offender = await joined(r);
    await offender.register('com.proc');
    await offender.subscribe('com.topic');
    offender.write([999]);
    await offender.expect(ABORT);
    const other = await joined(r);
    const call = other.call('com.proc');
    assert.equal((await other.outcome(call))[4], 'wamp.error.no_such_procedure');
    const count = other.call('wamp.session.count');
    assert.deepEqual((await other.outcome(count))[3], [1]);
    await r.close();
  });
});

describe('WAMP requests the router cannot fulfil get the spec ERROR, the session stays', () => {
  it('invalid URIs under loose and strict rules', async () => {
    const loose = router();
    const client = await joined(loose);
    // Loose: any component without ".", "#" or whitespace.
    assert.ok((await client.subscribe('com.Example.ÄÖ-topic')) > 0);
    for (const bad of ['com..a', 'com.a#b', 'com. a', '.com', 'com.']) {
      const request = client.nextRequest();
      client.write([SUBSCRIBE, request, {}, bad]);
      assert.equal((await client.expect(ERROR, request))[4], 'wamp.error.invalid_uri', bad);
    }
    const strict = new WampRouter({ realms: { realm1: {} }, strictUris: true });
    const strictClient = await joined(strict);
    const request = strictClient.nextRequest();
    strictClient.write([SUBSCRIBE, request, {}, 'com.Example']);
    assert.equal((await strictClient.expect(ERROR, request))[4], 'wamp.error.invalid_uri');
    assert.ok((await strictClient.subscribe('com.example_1.topic')) > 0);
    await loose.close();
    await strict.close();
  });

  it('a URI with a lone surrogate is invalid (it has no UTF-8 form), not a crash', async () => {
    const r = router();
    const client = await joined(r);
    const request = client.nextRequest();
    client.writeRaw(Buffer.from(`[32,${request},{},"com.\\ud800"]`), false);
    assert.equal((await client.expect(ERROR, request))[4], 'wamp.error.invalid_uri');
    const call = client.nextRequest();
    client.writeRaw(Buffer.from(`[48,${call},{},"com.x\\udc00.y"]`), false);
    assert.equal((await client.expect(ERROR, call))[4], 'wamp.error.invalid_uri');
    await r.close();
  });

  it('publishing or registering a reserved wamp.* URI', async () => {
    const r = router();
    const client = await joined(r);
    const request = client.nextRequest();
    client.write([REGISTER, request, {}, 'wamp.session.count']);
    assert.equal((await client.expect(ERROR, request))[4], 'wamp.error.invalid_uri');
    const publish = client.publish('wamp.session.on_join', [], { acknowledge: true });
    assert.equal((await client.expect(ERROR, publish))[4], 'wamp.error.invalid_uri');
    await r.close();
  });

  it('an unknown match policy and an invalid call timeout are invalid arguments', async () => {
    const r = router();
    const client = await joined(r);
    const request = client.nextRequest();
    client.write([SUBSCRIBE, request, { match: 'regex' }, 'com.a']);
    assert.equal((await client.expect(ERROR, request))[4], 'wamp.error.invalid_argument');
    const call = client.call('com.a', [], { timeout: -5 });
    assert.equal((await client.outcome(call))[4], 'wamp.error.invalid_argument');
    const publish = client.publish('com.a', [], { acknowledge: true, exclude: ['x'] });
    assert.equal((await client.expect(ERROR, publish))[4], 'wamp.error.invalid_argument');
    assert.equal(client.closed, null);
    await r.close();
  });

  it('a late YIELD for an invocation given up on is dropped, not a violation', async () => {
    const r = router();
    const callee = await joined(r);
    const caller = await joined(r);
    await callee.register('com.slow');
    const call = caller.call('com.slow', [], { timeout: 20 });
    const invocation = await callee.expect(INVOCATION);
    assert.equal((await caller.outcome(call))[4], 'wamp.error.timeout');
    callee.write([YIELD, invocation[1], {}, ['late']]);
    const published = callee.publish('com.x', [], { acknowledge: true });
    await callee.expect(PUBLISHED, published); // the session still works
    assert.equal(callee.closed, null);
    assert.equal(caller.drain(RESULT).length, 0);
    await r.close();
  });

  it('a challenge is answered only once, and the client may abort it', async () => {
    const r = new WampRouter({ realms: { realm1: {} }, auth: [(await import('../../src/wamp/index.js')).ticket(() => 'user')] });
    const client = connect(r);
    const challenge = await client.join('realm1', { authmethods: ['ticket'], authid: 'joe' });
    assert.equal(challenge[0], CHALLENGE);
    client.write([ABORT, {}, 'wamp.close.close_realm']);
    assert.equal((await client.closedBy()).code, 1000);
    assert.equal(r.stats.sessions, 0);
    await r.close();
  });
});

describe('a session subscribed and registered: SUBSCRIBED/EVENT basics', () => {
  it('two subscribers of one topic share one subscription ID; a repeated SUBSCRIBE gets it again', async () => {
    const r = router();
    const a = await joined(r);
    const b = await joined(r);
    const idA = await a.subscribe('com.topic');
    const idB = await b.subscribe('com.topic');
    assert.equal(idA, idB);
    assert.equal(await a.subscribe('com.topic'), idA);
    const request = a.nextRequest();
    a.write([SUBSCRIBE, request, {}, 'com.topic']);
    assert.equal((await a.expect(SUBSCRIBED, request))[2], idA);
    await r.close();
  });
});

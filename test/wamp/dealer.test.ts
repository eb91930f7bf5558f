// Remote procedure calls: basic profile, pattern-based registrations and their precedence, shared
// registrations, caller identification, progressive results, timeouts, canceling, sessions
// leaving mid-call, and the session meta procedures.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { WampRouter } from '../../src/wamp/index.js';
import {
  CALL,
  CANCEL,
  ERROR,
  GOODBYE,
  INTERRUPT,
  INVOCATION,
  REGISTER,
  RESULT,
  UNREGISTER,
  UNREGISTERED,
  YIELD,
  connect,
  joined,
  type MemoryClient,
} from './support/memory.js';

const router = (): WampRouter => new WampRouter({ realms: { realm1: {} } });

/** A callee that answers every INVOCATION with its name and the call's details. */
function serve(callee: MemoryClient, name: string): void {
  const answer = (): void => {
    for (const invocation of callee.drain(INVOCATION)) {
      callee.write([YIELD, invocation[1], {}, [name], { details: invocation[3] as Record<string, unknown>, args: invocation[4] ?? [] }]);
    }
  };
  callee.send = ((original) =>
    function (this: MemoryClient, data: Buffer, options: { binary: boolean }) {
      original.call(this, data, options);
      queueMicrotask(answer);
    })(callee.send);
}

async function callOnce(caller: MemoryClient, procedure: string, args?: unknown[], options?: Record<string, unknown>): Promise<unknown[]> {
  return caller.outcome(caller.call(procedure, args, options));
}

describe('WAMP dealer: calls', () => {
  it('routes CALL to the callee as INVOCATION and YIELD back as RESULT, args and kwargs intact', async () => {
    const r = router();
    const callee = await joined(r, 'realm1', 'wamp.2.msgpack');
    const caller = await joined(r);
    const registration = await callee.register('com.add');
    const request = caller.call('com.add', [2, 3], {}, { scale: 10 });
    const invocation = await callee.expect(INVOCATION);
    assert.equal(invocation[2], registration);
    assert.deepEqual([invocation[3], invocation[4], invocation[5]], [{}, [2, 3], { scale: 10 }]);
    callee.write([YIELD, invocation[1], {}, [50], { ok: true }]);
    assert.deepEqual(await caller.outcome(request), [RESULT, request, {}, [50], { ok: true }]);
    await r.close();
  });

  it('passes a callee ERROR through to the caller', async () => {
    const r = router();
    const callee = await joined(r);
    const caller = await joined(r);
    await callee.register('com.fail');
    const request = caller.call('com.fail');
    const invocation = await callee.expect(INVOCATION);
    callee.write([ERROR, INVOCATION, invocation[1], {}, 'com.app.error.bad', ['why'], { code: 7 }]);
    assert.deepEqual(await caller.outcome(request), [ERROR, CALL, request, {}, 'com.app.error.bad', ['why'], { code: 7 }]);
    await r.close();
  });

  it('no_such_procedure, procedure_already_exists, UNREGISTER and no_such_registration', async () => {
    const r = router();
    const a = await joined(r);
    const b = await joined(r);
    const caller = await joined(r);
    assert.equal((await callOnce(caller, 'com.none'))[4], 'wamp.error.no_such_procedure');
    const id = await a.register('com.one');
    const request = b.nextRequest();
    b.write([REGISTER, request, {}, 'com.one']);
    assert.equal((await b.expect(ERROR, request))[4], 'wamp.error.procedure_already_exists');
    const unregister = a.nextRequest();
    a.write([UNREGISTER, unregister, id]);
    await a.expect(UNREGISTERED, unregister);
    assert.equal((await callOnce(caller, 'com.one'))[4], 'wamp.error.no_such_procedure');
    const again = a.nextRequest();
    a.write([UNREGISTER, again, id]);
    assert.equal((await a.expect(ERROR, again))[4], 'wamp.error.no_such_registration');
    assert.ok((await b.register('com.one')) > 0, 'free again');
    await r.close();
  });

  it('picks one registration by the spec precedence: exact, longest prefix, best wildcard', async () => {
    const r = router();
    const caller = await joined(r);
    // The registrations and calls of the spec's example ("Calls matching multiple registrations").
    const registrations: [string, string, string][] = [
      ['1', 'a1.b2.c3.d4.e55', 'exact'],
      ['2', 'a1.b2.c3', 'prefix'],
      ['3', 'a1.b2.c3.d4', 'prefix'],
      ['4', 'a1.b2..d4.e5', 'wildcard'],
      ['5', 'a1.b2.c33..e5', 'wildcard'],
      ['6', 'a1.b2..d4.e5..g7', 'wildcard'],
      ['7', 'a1.b2..d4..f6.g7', 'wildcard'],
      ['8', 'x1.y2..d4.e5', 'wildcard'],
      ['9', 'x1.y2.z33..e5', 'wildcard'],
    ];
    for (const [name, uri, match] of registrations) {
      const callee = await joined(r);
      await callee.register(uri, { match });
      serve(callee, name);
    }
    const expected: [string, string | null][] = [
      ['a1.b2.c3.d4.e55', '1'],
      ['a1.b2.c3.d98.e74', '2'],
      ['a1.b2.c3.d4.e325', '3'],
      ['a1.b2.c55.d4.e5', '4'],
      // The spec's table says 5 here, but its own prefix rule ("com.myapp.myobject1" matches
      // "com.myapp.myobject1-mysubobject1") makes the prefix "a1.b2.c3" match "a1.b2.c33...":
      // the rule is followed (as Crossbar.io does), and 8/9 below check the wildcard ranking.
      ['a1.b2.c33.d4.e5', '2'],
      ['x1.y2.z33.d4.e5', '9'],
      ['x1.y2.z34.d4.e5', '8'],
      ['a1.b2.c88.d4.e5.f6.g7', '6'],
      ['a2.b2.c2.d2.e2', null],
    ];
    for (const [uri, name] of expected) {
      const outcome = await callOnce(caller, uri, ['x']);
      if (name === null) {
        assert.equal(outcome[4], 'wamp.error.no_such_procedure', uri);
        continue;
      }
      assert.equal(outcome[0], RESULT, uri);
      assert.deepEqual(outcome[3], [name], uri);
      const details = (outcome[4] as { details: Record<string, unknown> }).details;
      // Pattern registrations get the concrete procedure in INVOCATION.Details.procedure.
      if (name === '1') assert.equal(details.procedure, undefined);
      else assert.equal(details.procedure, uri);
    }
    await r.close();
  });

  it('shared registrations: roundrobin, first, last, random; single and a different policy are refused', async () => {
    const r = router();
    const caller = await joined(r);
    const callees: MemoryClient[] = [];
    for (const policy of ['roundrobin', 'first', 'last', 'random']) {
      for (let i = 0; i < 3; i++) {
        const callee = callees[i] ?? (await joined(r));
        callees[i] = callee;
        await callee.register(`com.${policy}`, { invoke: policy });
      }
    }
    callees.forEach((callee, i) => serve(callee, `c${i}`));
    const names = async (procedure: string, n: number): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(((await callOnce(caller, procedure)) as [number, number, object, string[]])[3][0]!);
      return out;
    };
    assert.deepEqual(await names('com.roundrobin', 7), ['c0', 'c1', 'c2', 'c0', 'c1', 'c2', 'c0']);
    assert.deepEqual(await names('com.first', 3), ['c0', 'c0', 'c0']);
    assert.deepEqual(await names('com.last', 3), ['c2', 'c2', 'c2']);
    const random = await names('com.random', 60);
    assert.deepEqual(new Set(random), new Set(['c0', 'c1', 'c2']), 'each callee is drawn in 60 calls');
    // Hot stand-by: the first callee leaves, the next one takes over.
    callees[0]!.write([GOODBYE, {}, 'wamp.close.close_realm']);
    await callees[0]!.expect(GOODBYE);
    assert.deepEqual(await names('com.first', 2), ['c1', 'c1']);
    const rotation = await names('com.roundrobin', 4);
    assert.deepEqual(new Set(rotation), new Set(['c1', 'c2']));
    assert.ok(rotation.every((name, i) => i === 0 || name !== rotation[i - 1]), `alternates: ${rotation}`);
    const other = await joined(r);
    for (const [procedure, invoke] of [
      ['com.roundrobin', 'random'],
      ['com.roundrobin', 'single'],
    ]) {
      const request = other.nextRequest();
      other.write([REGISTER, request, { invoke }, procedure]);
      assert.equal((await other.expect(ERROR, request))[4], 'wamp.error.procedure_already_exists', `${procedure} ${invoke}`);
    }
    await r.close();
  });

  it('caller identification: disclose_me, or disclose_caller on the registration', async () => {
    const r = router();
    const callee = await joined(r);
    const caller = await joined(r);
    await callee.register('com.who');
    await callee.register('com.always', { disclose_caller: true });
    serve(callee, 'callee');
    const details = async (procedure: string, options: Record<string, unknown>): Promise<Record<string, unknown>> =>
      ((await callOnce(caller, procedure, [], options))[4] as { details: Record<string, unknown> }).details;
    assert.deepEqual(await details('com.who', {}), {});
    const disclosed = await details('com.who', { disclose_me: true });
    assert.equal(disclosed.caller, caller.session);
    assert.equal(disclosed.caller_authrole, 'anonymous');
    assert.equal(typeof disclosed.caller_authid, 'string');
    assert.equal((await details('com.always', {})).caller, caller.session);
    await r.close();
  });
});

describe('WAMP dealer: progressive results, timeouts, canceling', () => {
  it('progressive YIELDs become RESULTs with progress, then the final RESULT', async () => {
    const r = router();
    const callee = await joined(r);
    const caller = await joined(r);
    await callee.register('com.stream');
    const request = caller.call('com.stream', [], { receive_progress: true });
    const invocation = await callee.expect(INVOCATION);
    assert.equal((invocation[3] as Record<string, unknown>).receive_progress, true);
    for (let i = 0; i < 3; i++) callee.write([YIELD, invocation[1], { progress: true }, [i]]);
    callee.write([YIELD, invocation[1], {}, ['done']]);
    for (let i = 0; i < 3; i++) assert.deepEqual(await caller.expect(RESULT, request), [RESULT, request, { progress: true }, [i]]);
    assert.deepEqual(await caller.expect(RESULT, request), [RESULT, request, {}, ['done']]);
    await r.close();
  });

  it('a caller that did not ask for progress gets only the final RESULT; a callee without the feature is not asked', async () => {
    const r = router();
    const callee = await joined(r);
    const plain = connect(r);
    await plain.join('realm1', { roles: { callee: {} } });
    const caller = await joined(r);
    await callee.register('com.a');
    await plain.register('com.b');
    const request = caller.call('com.a');
    const invocation = await callee.expect(INVOCATION);
    assert.equal((invocation[3] as Record<string, unknown>).receive_progress, undefined);
    callee.write([YIELD, invocation[1], { progress: true }, ['ignored']]);
    callee.write([YIELD, invocation[1], {}, ['final']]);
    assert.deepEqual(await caller.outcome(request), [RESULT, request, {}, ['final']]);
    assert.equal(caller.drain(RESULT).length, 0);
    caller.call('com.b', [], { receive_progress: true });
    assert.equal(((await plain.expect(INVOCATION))[3] as Record<string, unknown>).receive_progress, undefined);
    await r.close();
  });

  it('timeout: wamp.error.timeout, INTERRUPT killnowait to a callee that supports canceling, none otherwise', async () => {
    const r = router();
    const canceling = await joined(r);
    const plain = connect(r);
    await plain.join('realm1', { roles: { callee: {} } });
    const caller = await joined(r);
    await canceling.register('com.slow1');
    await plain.register('com.slow2');
    const first = caller.call('com.slow1', [], { timeout: 30 });
    const invocation = await canceling.expect(INVOCATION);
    assert.equal((await caller.outcome(first))[4], 'wamp.error.timeout');
    assert.deepEqual(await canceling.expect(INTERRUPT), [INTERRUPT, invocation[1], { mode: 'killnowait' }]);
    const second = caller.call('com.slow2', [], { timeout: 30 });
    await plain.expect(INVOCATION);
    assert.equal((await caller.outcome(second))[4], 'wamp.error.timeout');
    assert.equal(plain.drain(INTERRUPT).length, 0);
    await r.close();
  });

  it('a progressive result re-arms the timeout (mocked clock)', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const r = router();
    const callee = await joined(r);
    const caller = await joined(r);
    await callee.register('com.ticks');
    const request = caller.call('com.ticks', [], { timeout: 100, receive_progress: true });
    const invocation = await callee.expect(INVOCATION);
    for (let i = 0; i < 3; i++) {
      t.mock.timers.tick(60); // 180 ms in all: past the timeout, but never 100 ms without a result
      callee.write([YIELD, invocation[1], { progress: true }, [i]]);
      await caller.expect(RESULT, request);
    }
    t.mock.timers.tick(99);
    callee.write([YIELD, invocation[1], {}, ['end']]);
    assert.deepEqual(await caller.outcome(request), [RESULT, request, {}, ['end']]);
    const late = caller.call('com.ticks', [], { timeout: 100, receive_progress: true });
    await callee.expect(INVOCATION);
    t.mock.timers.tick(100);
    assert.equal((await caller.outcome(late))[4], 'wamp.error.timeout');
    await r.close();
  });

  for (const mode of ['skip', 'kill', 'killnowait'] as const) {
    it(`CANCEL with mode ${mode}`, async () => {
      const r = router();
      const callee = await joined(r);
      const caller = await joined(r);
      await callee.register('com.long');
      const request = caller.call('com.long');
      const invocation = await callee.expect(INVOCATION);
      caller.write([CANCEL, request, { mode }]);
      if (mode === 'kill') {
        assert.deepEqual(await callee.expect(INTERRUPT), [INTERRUPT, invocation[1], { mode: 'kill' }]);
        assert.equal(caller.drain(ERROR).length, 0, 'kill waits for the callee');
        callee.write([ERROR, INVOCATION, invocation[1], {}, 'wamp.error.canceled', ['stopped']]);
        assert.deepEqual(await caller.outcome(request), [ERROR, CALL, request, {}, 'wamp.error.canceled', ['stopped']]);
        return r.close();
      }
      assert.equal((await caller.outcome(request))[4], 'wamp.error.canceled');
      if (mode === 'killnowait') assert.deepEqual(await callee.expect(INTERRUPT), [INTERRUPT, invocation[1], { mode: 'killnowait' }]);
      else assert.equal(callee.drain(INTERRUPT).length, 0);
      // The callee's late answer is dropped.
      callee.write([YIELD, invocation[1], {}, ['late']]);
      assert.equal(caller.drain(RESULT).length, 0);
      await r.close();
    });
  }

  it('kill on a callee without call canceling acts as skip', async () => {
    const r = router();
    const plain = connect(r);
    await plain.join('realm1', { roles: { callee: {} } });
    const caller = await joined(r);
    await plain.register('com.long');
    const request = caller.call('com.long');
    await plain.expect(INVOCATION);
    caller.write([CANCEL, request, { mode: 'kill' }]);
    assert.equal((await caller.outcome(request))[4], 'wamp.error.canceled');
    assert.equal(plain.drain(INTERRUPT).length, 0);
    await r.close();
  });

  it('the callee leaving mid-call: the caller gets wamp.error.canceled; the caller leaving: INTERRUPT killnowait', async () => {
    const r = router();
    const callee = await joined(r);
    const caller = await joined(r);
    await callee.register('com.p');
    const request = caller.call('com.p');
    await callee.expect(INVOCATION);
    callee.close();
    assert.equal((await caller.outcome(request))[4], 'wamp.error.canceled');
    const callee2 = await joined(r);
    await callee2.register('com.p');
    const caller2 = await joined(r);
    caller2.call('com.p');
    const invocation = await callee2.expect(INVOCATION);
    caller2.close();
    assert.deepEqual(await callee2.expect(INTERRUPT), [INTERRUPT, invocation[1], { mode: 'killnowait' }]);
    assert.equal(r.stats.sessions, 2);
    await r.close();
  });
});

describe('WAMP dealer: a session calling its own procedure', () => {
  it('leaving mid-call sends it nothing after the GOODBYE reply (no INTERRUPT to itself)', async () => {
    const r = router();
    const self = await joined(r);
    await self.register('com.self');
    self.call('com.self');
    await self.expect(INVOCATION);
    self.write([GOODBYE, {}, 'wamp.close.close_realm']);
    await self.expect(GOODBYE);
    assert.deepEqual(self.inbox, []);
    await r.close();
  });
});

describe('WAMP session meta procedures', () => {
  it('wamp.session.count, list (with authrole filter), get and its no_such_session', async () => {
    const r = router();
    const a = await joined(r);
    const b = await joined(r);
    assert.deepEqual((await callOnce(a, 'wamp.session.count'))[3], [2]);
    assert.deepEqual((await callOnce(a, 'wamp.session.count', [['nobody']]))[3], [0]);
    const list = (await callOnce(a, 'wamp.session.list'))[3] as number[][];
    assert.deepEqual(new Set(list[0]), new Set([a.session, b.session]));
    const got = ((await callOnce(a, 'wamp.session.get', [b.session]))[3] as Record<string, unknown>[])[0]!;
    assert.equal(got.session, b.session);
    assert.equal(got.authrole, 'anonymous');
    assert.equal((got.transport as Record<string, unknown>).protocol, 'wamp.2.json');
    assert.equal((await callOnce(a, 'wamp.session.get', [12345]))[4], 'wamp.error.no_such_session');
    assert.equal((await callOnce(a, 'wamp.session.nope'))[4], 'wamp.error.no_such_procedure');
    await r.close();
  });

  it('wamp.session.kill ends another session with GOODBYE; its own session is no_such_session', async () => {
    const r = router();
    const a = await joined(r);
    const b = await joined(r);
    assert.equal((await callOnce(a, 'wamp.session.kill', [a.session]))[4], 'wamp.error.no_such_session');
    const outcome = await a.outcome(a.call('wamp.session.kill', [b.session], {}, { reason: 'com.app.bye', message: 'go' }));
    assert.equal(outcome[0], RESULT);
    assert.deepEqual(await b.expect(GOODBYE), [GOODBYE, { message: 'go' }, 'com.app.bye']);
    assert.deepEqual((await callOnce(a, 'wamp.session.count'))[3], [1]);
    await r.close();
  });
});

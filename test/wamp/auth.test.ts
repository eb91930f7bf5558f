// Authentication (anonymous, ticket, WAMP-CRA plain and salted, refusals) and authorization
// (role permissions on URI patterns, an authorize hook).

import { strict as assert } from 'node:assert';
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, it } from 'node:test';
import { WampRouter, anonymous, deriveCraKey, ticket, wampcra, type Authenticator } from '../../src/wamp/index.js';
import { ABORT, AUTHENTICATE, CHALLENGE, ERROR, PUBLISHED, REGISTER, SUBSCRIBE, WELCOME, connect, joined, type MemoryClient } from './support/memory.js';

/** The client side of WAMP-CRA, written from the spec here (not the router's helper). */
function sign(secret: string, challenge: string): string {
  return createHmac('sha256', secret).update(challenge).digest('base64');
}

const USERS: Record<string, { secret: string; role: string; salt?: string; iterations?: number; keylen?: number }> = {
  peter: { secret: 'secret1', role: 'user' },
  salted: { secret: deriveCraKey('password2', 'salt123', 100, 32), role: 'user', salt: 'salt123', iterations: 100, keylen: 32 },
};

function craRouter(extra: Authenticator[] = []): WampRouter {
  return new WampRouter({ realms: { realm1: {} }, auth: [wampcra((authid) => USERS[authid]), ...extra] });
}

async function challenge(client: MemoryClient, details: Record<string, unknown>): Promise<unknown[]> {
  const answer = await client.join('realm1', details);
  assert.equal(answer[0], CHALLENGE, JSON.stringify(answer));
  return answer;
}

describe('WAMP authentication', () => {
  it('anonymous by default, with the role given', async () => {
    const r = new WampRouter({ realms: { realm1: {} }, auth: [anonymous({ role: 'guest' })] });
    const welcome = await connect(r).join();
    assert.equal((welcome[2] as Record<string, unknown>).authrole, 'guest');
    await r.close();
  });

  it('WAMP-CRA: the challenge names authid, role, method, session; a correct signature is welcomed', async () => {
    const r = craRouter();
    const client = connect(r);
    const [, method, extra] = await challenge(client, { authmethods: ['wampcra'], authid: 'peter' });
    assert.equal(method, 'wampcra');
    const text = (extra as { challenge: string }).challenge;
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.equal(parsed.authid, 'peter');
    assert.equal(parsed.authrole, 'user');
    assert.equal(parsed.authmethod, 'wampcra');
    assert.equal(typeof parsed.nonce, 'string');
    assert.ok(!Number.isNaN(Date.parse(parsed.timestamp as string)));
    client.write([AUTHENTICATE, sign('secret1', text), {}]);
    const welcome = await client.expect(WELCOME);
    assert.equal(welcome[1], parsed.session, 'the session ID announced in the challenge');
    assert.deepEqual(
      [(welcome[2] as Record<string, unknown>).authid, (welcome[2] as Record<string, unknown>).authrole, (welcome[2] as Record<string, unknown>).authmethod],
      ['peter', 'user', 'wampcra'],
    );
    await r.close();
  });

  it('WAMP-CRA with a salted key: salt, iterations and keylen in the challenge; the client derives the key with PBKDF2', async () => {
    const r = craRouter();
    const client = connect(r);
    const [, , extra] = await challenge(client, { authmethods: ['wampcra'], authid: 'salted' });
    const { challenge: text, salt, iterations, keylen } = extra as { challenge: string; salt: string; iterations: number; keylen: number };
    assert.deepEqual([salt, iterations, keylen], ['salt123', 100, 32]);
    const key = pbkdf2Sync('password2', salt, iterations, keylen, 'sha256').toString('base64');
    client.write([AUTHENTICATE, sign(key, text), {}]);
    assert.equal((await client.expect(WELCOME))[0], WELCOME);
    await r.close();
  });

  it('WAMP-CRA refusals: a wrong signature, and an unknown authid (challenged alike, then refused)', async () => {
    const r = craRouter();
    const wrong = connect(r);
    const [, , extra] = await challenge(wrong, { authmethods: ['wampcra'], authid: 'peter' });
    wrong.write([AUTHENTICATE, sign('not the secret', (extra as { challenge: string }).challenge), {}]);
    const abort = await wrong.expect(ABORT);
    assert.equal(abort[2], 'wamp.error.authentication_denied');
    assert.equal((await wrong.closedBy()).code, 1000);
    const unknown = connect(r);
    const [, , unknownExtra] = await challenge(unknown, { authmethods: ['wampcra'], authid: 'mallory' });
    unknown.write([AUTHENTICATE, sign('guess', (unknownExtra as { challenge: string }).challenge), {}]);
    assert.equal((await unknown.expect(ABORT))[2], 'wamp.error.authentication_denied');
    await r.close();
  });

  it('ticket: the check decides; a refusal is authentication_denied; no authid cannot be checked', async () => {
    const r = new WampRouter({ realms: { realm1: {} }, auth: [ticket(async (authid, secret) => (secret === `${authid}-ticket` ? 'user' : false))] });
    const good = connect(r);
    assert.deepEqual(await challenge(good, { authmethods: ['ticket'], authid: 'joe' }), [CHALLENGE, 'ticket', {}]);
    good.write([AUTHENTICATE, 'joe-ticket', {}]);
    const welcome = await good.expect(WELCOME);
    assert.equal((welcome[2] as Record<string, unknown>).authid, 'joe');
    const bad = connect(r);
    await challenge(bad, { authmethods: ['ticket'], authid: 'joe' });
    bad.write([AUTHENTICATE, 'guess', {}]);
    assert.equal((await bad.expect(ABORT))[2], 'wamp.error.authentication_denied');
    const anonymousTicket = connect(r);
    assert.equal((await anonymousTicket.join('realm1', { authmethods: ['ticket'] }))[2], 'wamp.error.authentication_denied');
    await r.close();
  });

  it('a method the realm does not offer: no_matching_auth_method; anonymous is not implied once auth is set', async () => {
    const r = craRouter();
    const client = connect(r);
    assert.equal((await client.join('realm1', { authmethods: ['cryptosign'] }))[2], 'wamp.error.no_matching_auth_method');
    assert.equal((await connect(r).join('realm1'))[2], 'wamp.error.no_matching_auth_method');
    await r.close();
  });

  it("the client's order of methods decides among those offered", async () => {
    const r = craRouter([anonymous()]);
    const first = await connect(r).join('realm1', { authmethods: ['anonymous', 'wampcra'], authid: 'peter' });
    assert.equal(first[0], WELCOME);
    const second = await connect(r).join('realm1', { authmethods: ['wampcra', 'anonymous'], authid: 'peter' });
    assert.equal(second[0], CHALLENGE);
    await r.close();
  });

  it('an authenticator that throws: authentication_failed; a role the realm does not know: no_such_role', async () => {
    const broken: Authenticator = { method: 'anonymous', hello: () => Promise.reject(new Error('database down')) };
    const r1 = new WampRouter({ realms: { realm1: {} }, auth: [broken] });
    assert.equal((await connect(r1).join())[2], 'wamp.error.authentication_failed');
    await r1.close();
    const r2 = new WampRouter({ realms: { realm1: { roles: { user: [] } } }, auth: [anonymous({ role: 'visitor' })] });
    assert.equal((await connect(r2).join())[2], 'wamp.error.no_such_role');
    await r2.close();
  });

  it('a challenge not answered within authTimeout is aborted', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const r = new WampRouter({ realms: { realm1: {} }, auth: [ticket(() => 'user')], authTimeout: 1000 });
    const client = connect(r);
    await challenge(client, { authmethods: ['ticket'], authid: 'joe' });
    t.mock.timers.tick(999);
    assert.equal(client.closed, null);
    t.mock.timers.tick(1);
    assert.equal((await client.expect(ABORT))[2], 'wamp.error.authentication_failed');
    await r.close();
  });

  it('per-realm authenticators replace the router ones', async () => {
    const r = new WampRouter({ realms: { open: {}, closed: { auth: [ticket(() => 'user')] } } });
    assert.equal((await connect(r).join('open'))[0], WELCOME);
    assert.equal((await connect(r).join('closed'))[2], 'wamp.error.no_matching_auth_method');
    await r.close();
  });
});

describe('WAMP authorization', () => {
  const roles = {
    anonymous: [
      { uri: 'com.public.', match: 'prefix' as const, subscribe: true, call: true },
      { uri: 'com.public.admin.', match: 'prefix' as const },
      { uri: 'com.public..write', match: 'wildcard' as const, publish: true },
      { uri: 'com.own.proc', register: true, call: true },
    ],
  };

  it('the best-matching permission decides each action; everything else is not_authorized', async () => {
    const r = new WampRouter({ realms: { realm1: { roles } } });
    const client = await joined(r);
    const attempt = async (type: number, uri: string): Promise<string> => {
      const request = client.nextRequest();
      if (type === 16) client.write([type, request, { acknowledge: true }, uri]);
      else client.write([type, request, {}, uri]);
      const answer = await client.take((m) => (m[0] === ERROR && m[2] === request) || (m[0] !== ERROR && m[1] === request), `the answer to ${uri}`);
      return answer[0] === ERROR ? (answer[4] as string) : 'ok';
    };
    assert.equal(await attempt(SUBSCRIBE, 'com.public.news'), 'ok');
    assert.equal(await attempt(SUBSCRIBE, 'com.public.admin.secrets'), 'wamp.error.not_authorized', 'a longer prefix with nothing allowed wins');
    assert.equal(await attempt(SUBSCRIBE, 'com.private.news'), 'wamp.error.not_authorized');
    assert.equal(await attempt(16, 'com.public.news'), 'wamp.error.not_authorized', 'the prefix beats the wildcard and allows no publish');
    assert.equal(await attempt(16, 'com.public2.x.write'), 'wamp.error.not_authorized');
    assert.equal(await attempt(REGISTER, 'com.own.proc'), 'ok');
    assert.equal(await attempt(REGISTER, 'com.public.proc'), 'wamp.error.not_authorized');
    const call = client.call('com.private.proc');
    assert.equal((await client.outcome(call))[4], 'wamp.error.not_authorized');
    assert.equal(client.closed, null);
    await r.close();
  });

  it('a wildcard permission applies where no exact or prefix one matches', async () => {
    const r = new WampRouter({ realms: { realm1: { roles: { anonymous: [{ uri: 'com..write', match: 'wildcard', publish: true }] } } } });
    const client = await joined(r);
    const ok = client.publish('com.x.write', [], { acknowledge: true });
    await client.expect(PUBLISHED, ok);
    const denied = client.publish('com.x.read', [], { acknowledge: true });
    assert.equal((await client.expect(ERROR, denied))[4], 'wamp.error.not_authorized');
    await r.close();
  });

  it('an authorize hook decides instead; one that throws is authorization_failed', async () => {
    const r = new WampRouter({
      realms: {
        realm1: {
          authorize: (session, action, uri) => {
            if (uri === 'com.boom') throw new Error('policy service down');
            return session.authrole === 'anonymous' && action === 'subscribe' && uri.startsWith('com.ok');
          },
        },
      },
    });
    const client = await joined(r);
    assert.ok((await client.subscribe('com.ok.topic')) > 0);
    const denied = client.nextRequest();
    client.write([SUBSCRIBE, denied, {}, 'com.no']);
    assert.equal((await client.expect(ERROR, denied))[4], 'wamp.error.not_authorized');
    const failed = client.nextRequest();
    client.write([SUBSCRIBE, failed, {}, 'com.boom']);
    assert.equal((await client.expect(ERROR, failed))[4], 'wamp.error.authorization_failed');
    await r.close();
  });
});

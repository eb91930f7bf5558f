// permessage-deflate negotiation, both sides (RFC 7692 §5, §7.1): parameters, offers in order,
// declines, and the client's checks of the server's answer.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseExtensionHeader, type ExtensionOffer } from '../../src/protocol/extension-header.js';
import { acceptExtensions, negotiateExtensions } from '../../src/protocol/extensions.js';
import { perMessageDeflate, perMessageDeflateClient, PerMessageDeflateCodec } from '../../src/extensions/permessage-deflate/index.js';
import { readParameters } from '../../src/extensions/permessage-deflate/negotiation.js';
import type { PerMessageDeflateServerOptions } from '../../src/extensions/permessage-deflate/index.js';

function offers(header: string): ExtensionOffer[] {
  const parsed = parseExtensionHeader(header);
  assert.ok(parsed !== null, `header parses: ${header}`);
  return parsed;
}

/** The windows ws and RFC 7692 use when nothing limits them; the tests of each parameter start there. */
const FULL_WINDOWS: PerMessageDeflateServerOptions = { serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

/**
 * The server's answer to a Sec-WebSocket-Extensions request header, and the codec's agreement,
 * with 15-bit windows unless `options` say otherwise (`defaults`: the policy's own defaults).
 */
function serverAnswer(header: string, options: PerMessageDeflateServerOptions = {}, defaults = false) {
  const negotiated = negotiateExtensions(offers(header), [perMessageDeflate(defaults ? options : { ...FULL_WINDOWS, ...options })]);
  const codec = negotiated.codec as PerMessageDeflateCodec | null;
  codec?.release();
  return { header: negotiated.header, agreed: codec?.agreed ?? null };
}

describe('permessage-deflate parameters (RFC 7692 §7.1)', () => {
  it('reads every parameter of an offer', () => {
    const [offer] = offers(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits',
    );
    assert.deepEqual(readParameters(offer!, 'offer'), {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: true,
    });
  });

  it('accepts window bits 8 to 15, also as a quoted string (RFC 6455 §9.1)', () => {
    for (let bits = 8; bits <= 15; bits++) {
      const [offer] = offers(`permessage-deflate; server_max_window_bits="${bits}"; client_max_window_bits=${bits}`);
      const params = readParameters(offer!, 'offer');
      assert.equal(typeof params, 'object');
      assert.equal((params as { serverMaxWindowBits: number }).serverMaxWindowBits, bits);
      assert.equal((params as { clientMaxWindowBits: number }).clientMaxWindowBits, bits);
    }
  });

  const invalid: [string, RegExp][] = [
    ['permessage-deflate; server_max_window_bits=7', /server_max_window_bits/],
    ['permessage-deflate; server_max_window_bits=16', /server_max_window_bits/],
    ['permessage-deflate; server_max_window_bits=010', /server_max_window_bits/], // leading zero
    ['permessage-deflate; server_max_window_bits=09', /server_max_window_bits/],
    ['permessage-deflate; server_max_window_bits', /server_max_window_bits/], // value required
    ['permessage-deflate; client_max_window_bits=abc', /client_max_window_bits/],
    ['permessage-deflate; client_max_window_bits=1.5', /client_max_window_bits/],
    ['permessage-deflate; server_no_context_takeover=1', /must not have a value/],
    ['permessage-deflate; client_no_context_takeover=true', /must not have a value/],
    ['permessage-deflate; mystery', /unknown parameter mystery/],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', /more than once/],
    ['permessage-deflate; client_max_window_bits=10; client_max_window_bits=11', /more than once/],
  ];
  for (const [header, reason] of invalid) {
    it(`rejects ${header.slice('permessage-deflate; '.length)}`, () => {
      const result = readParameters(offers(header)[0]!, 'offer');
      assert.equal(typeof result, 'string');
      assert.match(result as string, reason);
    });
  }

  it('requires a value for client_max_window_bits in a response only', () => {
    const [element] = offers('permessage-deflate; client_max_window_bits');
    assert.equal(typeof readParameters(element!, 'offer'), 'object');
    assert.match(readParameters(element!, 'response') as string, /must have a value in a response/);
  });
});

describe('permessage-deflate server defaults: 13-bit windows (RFC 7692 §7.1.2)', () => {
  it("limits both windows for Chromium's default offer (client_max_window_bits without a value)", () => {
    const { header, agreed } = serverAnswer('permessage-deflate; client_max_window_bits', {}, true);
    assert.equal(header, 'permessage-deflate; server_max_window_bits=13; client_max_window_bits=13');
    assert.deepEqual(agreed, { sendNoContextTakeover: false, sendWindowBits: 13, receiveNoContextTakeover: false, receiveWindowBits: 13 });
  });

  it('announces its own window to a client that did not offer client_max_window_bits, and leaves the client 15 bits (§7.1.2.2)', () => {
    const { header, agreed } = serverAnswer('permessage-deflate', {}, true);
    assert.equal(header, 'permessage-deflate; server_max_window_bits=13');
    assert.deepEqual(agreed, { sendNoContextTakeover: false, sendWindowBits: 13, receiveNoContextTakeover: false, receiveWindowBits: 15 });
  });

  it('takes smaller windows offered by the client, and never answers more than it offered (§7.1.2.1)', () => {
    const { header, agreed } = serverAnswer('permessage-deflate; server_max_window_bits=10; client_max_window_bits=11', {}, true);
    assert.equal(header, 'permessage-deflate; server_max_window_bits=10; client_max_window_bits=11');
    assert.equal(agreed!.sendWindowBits, 10);
    assert.equal(agreed!.receiveWindowBits, 11);
    const larger = serverAnswer('permessage-deflate; server_max_window_bits=15; client_max_window_bits=15', {}, true);
    assert.equal(larger.header, 'permessage-deflate; server_max_window_bits=13; client_max_window_bits=13');
  });

  it('gives the old 15-bit behaviour back with serverMaxWindowBits / clientMaxWindowBits 15', () => {
    const { header, agreed } = serverAnswer('permessage-deflate; client_max_window_bits', FULL_WINDOWS, true);
    assert.equal(header, 'permessage-deflate');
    assert.equal(agreed!.sendWindowBits, 15);
    assert.equal(agreed!.receiveWindowBits, 15);
  });
});

describe('permessage-deflate server negotiation (RFC 7692 §5, §7.1)', () => {
  it('accepts a bare offer with an empty parameter list', () => {
    const { header, agreed } = serverAnswer('permessage-deflate');
    assert.equal(header, 'permessage-deflate');
    assert.deepEqual(agreed, { sendNoContextTakeover: false, sendWindowBits: 15, receiveNoContextTakeover: false, receiveWindowBits: 15 });
  });

  it("answers Chromium's default offer without limiting the client", () => {
    const { header, agreed } = serverAnswer('permessage-deflate; client_max_window_bits');
    assert.equal(header, 'permessage-deflate');
    assert.equal(agreed!.receiveWindowBits, 15);
  });

  it('echoes server_no_context_takeover when offered (§7.1.1.1)', () => {
    const { header, agreed } = serverAnswer('permessage-deflate; server_no_context_takeover');
    assert.equal(header, 'permessage-deflate; server_no_context_takeover');
    assert.equal(agreed!.sendNoContextTakeover, true);
  });

  it('adds server_no_context_takeover by policy even when not offered', () => {
    const { header, agreed } = serverAnswer('permessage-deflate', { serverNoContextTakeover: true });
    assert.equal(header, 'permessage-deflate; server_no_context_takeover');
    assert.equal(agreed!.sendNoContextTakeover, true);
  });

  it('makes the client_no_context_takeover hint binding by echoing it (§7.1.1.2)', () => {
    const { header, agreed } = serverAnswer('permessage-deflate; client_no_context_takeover');
    assert.equal(header, 'permessage-deflate; client_no_context_takeover');
    assert.equal(agreed!.receiveNoContextTakeover, true);
  });

  it('demands client_no_context_takeover by policy even when not offered', () => {
    const { header, agreed } = serverAnswer('permessage-deflate', { clientNoContextTakeover: true });
    assert.equal(header, 'permessage-deflate; client_no_context_takeover');
    assert.equal(agreed!.receiveNoContextTakeover, true);
  });

  it('answers server_max_window_bits with the offered value or a smaller one (§7.1.2.1)', () => {
    assert.equal(serverAnswer('permessage-deflate; server_max_window_bits=10').header, 'permessage-deflate; server_max_window_bits=10');
    const smaller = serverAnswer('permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 9 });
    assert.equal(smaller.header, 'permessage-deflate; server_max_window_bits=9');
    assert.equal(smaller.agreed!.sendWindowBits, 9);
    const offered = serverAnswer('permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 12 });
    assert.equal(offered.header, 'permessage-deflate; server_max_window_bits=8');
    assert.equal(offered.agreed!.sendWindowBits, 8);
  });

  it('announces a smaller server window of its own when none was offered', () => {
    const { header, agreed } = serverAnswer('permessage-deflate', { serverMaxWindowBits: 11 });
    assert.equal(header, 'permessage-deflate; server_max_window_bits=11');
    assert.equal(agreed!.sendWindowBits, 11);
  });

  it('limits the client window only when the client offered client_max_window_bits (§7.1.2.2)', () => {
    const limited = serverAnswer('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 });
    assert.equal(limited.header, 'permessage-deflate; client_max_window_bits=10');
    assert.equal(limited.agreed!.receiveWindowBits, 10);
    const notOffered = serverAnswer('permessage-deflate', { clientMaxWindowBits: 10 });
    assert.equal(notOffered.header, 'permessage-deflate', 'MUST NOT include client_max_window_bits');
    assert.equal(notOffered.agreed!.receiveWindowBits, 15);
    const offeredValue = serverAnswer('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 12 });
    assert.equal(offeredValue.header, 'permessage-deflate; client_max_window_bits=9');
    assert.equal(offeredValue.agreed!.receiveWindowBits, 9);
  });

  it('answers every parameter together', () => {
    const { header, agreed } = serverAnswer(
      'permessage-deflate; client_max_window_bits=12; server_max_window_bits=11; client_no_context_takeover; server_no_context_takeover',
    );
    assert.equal(
      header,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12',
    );
    assert.deepEqual(agreed, { sendNoContextTakeover: true, sendWindowBits: 11, receiveNoContextTakeover: true, receiveWindowBits: 12 });
  });

  it('declines an invalid offer and takes the next one, in the client order (§5)', () => {
    const { header } = serverAnswer(
      'permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=10, permessage-deflate',
    );
    assert.equal(header, 'permessage-deflate; server_max_window_bits=10');
  });

  it('declines an offer with a duplicate parameter and takes the next one', () => {
    const { header } = serverAnswer('permessage-deflate; client_max_window_bits; client_max_window_bits, permessage-deflate; server_no_context_takeover');
    assert.equal(header, 'permessage-deflate; server_no_context_takeover');
  });

  it('declines when every offer is invalid, and the handshake goes on without it', () => {
    const { header, agreed } = serverAnswer('permessage-deflate; x=1, permessage-deflate; server_max_window_bits');
    assert.equal(header, '');
    assert.equal(agreed, null);
  });

  it('lets the policy decline offers, considering them in order', () => {
    const requireNoContext = (offer: { clientNoContextTakeover: boolean }) => offer.clientNoContextTakeover;
    assert.equal(serverAnswer('permessage-deflate', { acceptOffer: requireNoContext }).header, '');
    assert.equal(
      serverAnswer('permessage-deflate, permessage-deflate; client_no_context_takeover', { acceptOffer: requireNoContext }).header,
      'permessage-deflate; client_no_context_takeover',
    );
  });

  it('ignores other extensions next to it', () => {
    assert.equal(serverAnswer('x-webkit-deflate-frame, permessage-deflate').header, 'permessage-deflate');
    assert.equal(serverAnswer('x-webkit-deflate-frame').header, '');
  });

  it('checks its options', () => {
    assert.throws(() => perMessageDeflate({ serverMaxWindowBits: 7 }), /serverMaxWindowBits must be an integer from 8 to 15/);
    assert.throws(() => perMessageDeflate({ clientMaxWindowBits: 16 }), /clientMaxWindowBits/);
    assert.throws(() => perMessageDeflate({ level: 10 }), /level/);
    assert.throws(() => perMessageDeflate({ memLevel: 0 }), /memLevel/);
    assert.throws(() => perMessageDeflate({ threshold: -1 }), /threshold/);
    assert.throws(() => perMessageDeflate({ contextIdleTimeout: Number.NaN }), /contextIdleTimeout/);
    assert.throws(() => perMessageDeflate({ contextIdleTimeout: -1 }), RangeError);
    assert.throws(() => perMessageDeflate({ serverMaxWindowBits: 12.5 }), RangeError);
    assert.throws(() => perMessageDeflateClient({ serverMaxWindowBits: 16 }), RangeError);
    assert.throws(() => perMessageDeflateClient({ clientMaxWindowBits: 7 }), RangeError);
  });

  it('refuses unknown options with a TypeError, naming ws options with what to use instead', () => {
    const unknown = (options: object) => options as PerMessageDeflateServerOptions;
    assert.throws(() => perMessageDeflate(unknown({ windowBits: 12 })), { name: 'TypeError', message: /unknown option "windowBits"/ });
    assert.throws(() => perMessageDeflate(unknown({ zlibDeflateOptions: { level: 3 } })), { name: 'TypeError', message: /Use level and memLevel/ });
    assert.throws(() => perMessageDeflateClient(unknown({ acceptOffer: () => true })), { name: 'TypeError', message: /perMessageDeflateClient\(\): unknown option "acceptOffer"/ });
    assert.throws(() => perMessageDeflate(unknown({ concurrencyLimit: 10 })), TypeError);
  });
});

describe('permessage-deflate client negotiation (RFC 7692 §5, §7.1)', () => {
  it('offers client_max_window_bits without a value by default, as browsers do', () => {
    assert.equal(perMessageDeflateClient().offer(), 'permessage-deflate; client_max_window_bits');
  });

  it('offers every parameter it is given', () => {
    const offer = perMessageDeflateClient({
      clientNoContextTakeover: true,
      serverNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 11,
    }).offer();
    assert.equal(
      offer,
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
    );
    assert.equal(perMessageDeflateClient({ clientMaxWindowBits: false }).offer(), 'permessage-deflate');
    assert.throws(() => perMessageDeflateClient({ clientMaxWindowBits: 16 }), /clientMaxWindowBits/);
    assert.throws(() => perMessageDeflateClient({ serverMaxWindowBits: 7 }), /serverMaxWindowBits/);
  });

  function clientAccepts(response: string, options = {}) {
    const negotiated = acceptExtensions(response, [perMessageDeflateClient(options)]);
    const codec = negotiated.codec as PerMessageDeflateCodec;
    codec.release();
    return codec.agreed;
  }

  it('takes the parameters of a valid response', () => {
    assert.deepEqual(clientAccepts('permessage-deflate'), {
      sendNoContextTakeover: false,
      sendWindowBits: 15,
      receiveNoContextTakeover: false,
      receiveWindowBits: 15,
    });
    assert.deepEqual(
      clientAccepts('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10'),
      { sendNoContextTakeover: true, sendWindowBits: 10, receiveNoContextTakeover: true, receiveWindowBits: 9 },
    );
  });

  it('keeps its own client_no_context_takeover promise even if the server does not echo it', () => {
    assert.equal(clientAccepts('permessage-deflate', { clientNoContextTakeover: true }).sendNoContextTakeover, true);
  });

  it('uses the window it offered when the server does not answer client_max_window_bits', () => {
    assert.equal(clientAccepts('permessage-deflate', { clientMaxWindowBits: 11 }).sendWindowBits, 11);
  });

  const invalid: [string, object, RegExp][] = [
    ['permessage-deflate; mystery', {}, /unknown parameter mystery/],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}, /more than once/],
    ['permessage-deflate; server_max_window_bits=16', {}, /server_max_window_bits/],
    ['permessage-deflate; server_max_window_bits', {}, /server_max_window_bits/],
    ['permessage-deflate; client_max_window_bits', {}, /must have a value in a response/],
    ['permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: false }, /client_max_window_bits was not offered/],
    ['permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 }, /exceeds the offered 10/],
    ['permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 }, /exceeds the offered 10/],
    ['permessage-deflate', { serverMaxWindowBits: 10 }, /server_max_window_bits was offered but not accepted/],
    ['permessage-deflate', { serverNoContextTakeover: true }, /server_no_context_takeover was offered but not accepted/],
    ['permessage-deflate; client_no_context_takeover=1', {}, /must not have a value/],
  ];
  for (const [response, options, reason] of invalid) {
    it(`fails on ${response} after offering ${JSON.stringify(options)}`, () => {
      assert.throws(() => acceptExtensions(response, [perMessageDeflateClient(options)]), reason);
    });
  }

  it('fails when the server accepts permessage-deflate twice', () => {
    assert.throws(() => acceptExtensions('permessage-deflate, permessage-deflate', [perMessageDeflateClient()]), /twice/);
  });

  it('has no codec when the server declines', () => {
    assert.equal(acceptExtensions(undefined, [perMessageDeflateClient()]).codec, null);
  });
});

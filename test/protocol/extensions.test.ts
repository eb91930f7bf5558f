// Extension negotiation (RFC 6455 §9.1): the server picks from the client's offers and never echoes
// unknown ones; the client accepts only what it offered, each once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { acceptExtensions, negotiateExtensions, type ClientExtension, type ServerExtension } from '../../src/protocol/extensions.js';
import { parseExtensionHeader, type ExtensionOffer } from '../../src/protocol/extension-header.js';
import { FakeCodec } from './support/fake-codec.js';

function offers(header: string): ExtensionOffer[] {
  const parsed = parseExtensionHeader(header);
  assert.ok(parsed !== null, `test header must parse: ${header}`);
  return parsed;
}

/** A server extension that accepts its first offer without duplicate parameters (or none, if `declineAll`). */
class FakeServerExtension implements ServerExtension {
  readonly calls: ExtensionOffer[][] = [];
  readonly codec = new FakeCodec();
  constructor(
    readonly name: string,
    private readonly declineAll = false,
  ) {}
  accept(list: ExtensionOffer[]): { response: string; codec: FakeCodec } | null {
    this.calls.push(list);
    if (this.declineAll) return null;
    const chosen = list.find((offer) => !offer.duplicateParams);
    if (!chosen) return null;
    const params = [...chosen.params].map(([k, v]) => (v === true ? `; ${k}` : `; ${k}=${v}`)).join('');
    return { response: `${this.name}${params}`, codec: this.codec };
  }
}

class FakeClientExtension implements ClientExtension {
  readonly responses: ExtensionOffer[] = [];
  readonly codec = new FakeCodec();
  constructor(
    readonly name: string,
    private readonly rejectParam: string | null = null,
  ) {}
  offer(): string {
    return `${this.name}; level=1, ${this.name}`;
  }
  accept(response: ExtensionOffer): FakeCodec {
    this.responses.push(response);
    if (this.rejectParam !== null && response.params.has(this.rejectParam)) {
      throw new Error(`Unsupported parameter ${this.rejectParam}`);
    }
    return this.codec;
  }
}

describe('negotiateExtensions (server side, RFC 6455 §9.1)', () => {
  it('accepts nothing when the client offers nothing or the server supports nothing', () => {
    const ext = new FakeServerExtension('x-fake');
    assert.deepEqual(negotiateExtensions([], [ext]), { header: '', codec: null });
    assert.deepEqual(negotiateExtensions(offers('x-fake'), []), { header: '', codec: null });
    assert.equal(ext.calls.length, 0);
  });

  it('declines unknown extensions by leaving them out, never echoing them', () => {
    const ext = new FakeServerExtension('x-fake');
    const result = negotiateExtensions(offers('x-unknown; a=1, x-fake; b, x-other'), [ext]);
    assert.equal(result.header, 'x-fake; b');
    assert.equal(result.codec, ext.codec);
    assert.ok(!result.header.includes('unknown') && !result.header.includes('other'));
  });

  it('answers nothing when only unknown extensions are offered', () => {
    const ext = new FakeServerExtension('x-fake');
    assert.deepEqual(negotiateExtensions(offers('x-unknown, x-other; p=2'), [ext]), { header: '', codec: null });
    assert.equal(ext.calls.length, 0);
  });

  it("hands the extension all of its offers, in the client's order", () => {
    const ext = new FakeServerExtension('x-fake');
    negotiateExtensions(offers('x-fake; a=1; a=2, x-unknown, x-fake; b=3, X-Fake'), [ext]);
    assert.equal(ext.calls.length, 1);
    const list = ext.calls[0]!;
    assert.equal(list.length, 3, 'names are matched case-insensitively');
    assert.equal(list[0]!.duplicateParams, true);
    assert.deepEqual([...list[1]!.params], [['b', '3']]);
    assert.equal(list[2]!.params.size, 0);
  });

  it('an extension that declines every offer leaves the response empty', () => {
    const ext = new FakeServerExtension('x-fake', true);
    assert.deepEqual(negotiateExtensions(offers('x-fake'), [ext]), { header: '', codec: null });
    assert.equal(ext.calls.length, 1);
  });

  it('only one RSV1 extension is accepted: the first supported one that accepts', () => {
    const first = new FakeServerExtension('x-first');
    const second = new FakeServerExtension('x-second');
    const both = negotiateExtensions(offers('x-second, x-first'), [first, second]);
    assert.equal(both.header, 'x-first');
    assert.equal(both.codec, first.codec);
    assert.equal(second.calls.length, 0);

    const declining = new FakeServerExtension('x-first', true);
    const fallback = negotiateExtensions(offers('x-second, x-first'), [declining, second]);
    assert.equal(fallback.header, 'x-second');
    assert.equal(fallback.codec, second.codec);
  });
});

describe('acceptExtensions (client side, RFC 6455 §9.1)', () => {
  it('no Sec-WebSocket-Extensions header (or an empty one) means no extension', () => {
    const ext = new FakeClientExtension('x-fake');
    assert.deepEqual(acceptExtensions(undefined, [ext]), { header: '', codec: null });
    assert.deepEqual(acceptExtensions('', [ext]), { header: '', codec: null });
    assert.deepEqual(acceptExtensions([], [ext]), { header: '', codec: null });
    assert.equal(ext.responses.length, 0);
  });

  it('accepts an offered extension and returns its codec and the header', () => {
    const ext = new FakeClientExtension('x-fake');
    const result = acceptExtensions('x-fake; level=1', [ext]);
    assert.equal(result.codec, ext.codec);
    assert.equal(result.header, 'x-fake; level=1');
    assert.equal(ext.responses.length, 1);
    assert.deepEqual([...ext.responses[0]!.params], [['level', '1']]);
  });

  it('joins a header that arrived as several lines', () => {
    const a = new FakeClientExtension('x-a');
    const b = new FakeClientExtension('x-b');
    const result = acceptExtensions(['x-a', 'x-b; q'], [a, b]);
    assert.equal(result.header, 'x-a, x-b; q');
    assert.equal(a.responses.length, 1);
    assert.equal(b.responses.length, 1);
  });

  it('a server answering with an extension that was not offered is an error', () => {
    const ext = new FakeClientExtension('x-fake');
    assert.throws(() => acceptExtensions('x-other', [ext]), /x-other.*not offered/);
    assert.throws(() => acceptExtensions('x-fake, x-other', [ext]), /not offered/);
    assert.throws(() => acceptExtensions('x-fake', []), /not offered/);
  });

  it('a server accepting the same extension twice is an error', () => {
    const ext = new FakeClientExtension('x-fake');
    assert.throws(() => acceptExtensions('x-fake, x-fake; level=1', [ext]), /twice/);
    assert.throws(() => acceptExtensions(['x-fake', 'X-FAKE'], [ext]), /twice/);
  });

  it('a malformed response header is an error', () => {
    const ext = new FakeClientExtension('x-fake');
    for (const bad of ['x-fake;', 'x-fake; =1', '"x-fake"', 'x-fake; a="b c"']) {
      assert.throws(() => acceptExtensions(bad, [ext]), /Invalid Sec-WebSocket-Extensions/, bad);
    }
  });

  it("the extension's own validation error propagates", () => {
    const ext = new FakeClientExtension('x-fake', 'bogus');
    assert.throws(() => acceptExtensions('x-fake; bogus', [ext]), /Unsupported parameter bogus/);
  });
});

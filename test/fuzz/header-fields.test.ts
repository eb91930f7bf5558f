// Property-based fuzzing of the header-field parsers the handshakes rely on:
// Sec-WebSocket-Extensions (RFC 6455 §9.1), Upgrade (RFC 9110 §7.8) and HTTP2-Settings
// (RFC 7540 §3.2.1). Each never throws, agrees with a reference written the plain way on any
// input, round-trips what its serialiser (or the RFC's syntax) produces, and rejects the rest.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatExtension, formatExtensionHeader, parseExtensionHeader, type ExtensionOffer } from '../../src/protocol/extension-header.js';
import { parseUpgradeHeader, type UpgradeOffer } from '../../src/upgrade/upgrade-header.js';
import { decodeHttp2Settings } from '../../src/upgrade/h2c-frames.js';
import { check, fc, headerishString, ows, TCHARS, token } from './support/fuzz.js';

const isToken = (s: string): boolean => s.length > 0 && [...s].every((c) => TCHARS.includes(c));
const trimOWS = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');

// ------------------------------------------------------------------- Sec-WebSocket-Extensions

/**
 * RFC 6455 §9.1 the plain way. Inside a valid header, commas, semicolons and "=" only ever
 * separate (a quoted value may hold tchars and escaped tchars only), so splitting on them is exact.
 */
function referenceExtensions(value: string): ExtensionOffer[] | null {
  const out: ExtensionOffer[] = [];
  for (const element of value.split(',')) {
    if (trimOWS(element) === '') continue; // RFC 9110 §5.6.1.2: empty elements are ignored
    const [first, ...params] = element.split(';');
    const name = trimOWS(first!);
    if (!isToken(name)) return null;
    const offer: ExtensionOffer = { name: name.toLowerCase(), params: new Map(), duplicateParams: false };
    for (const param of params) {
      const eq = param.indexOf('=');
      const key = trimOWS(eq === -1 ? param : param.slice(0, eq)).toLowerCase();
      if (!isToken(key)) return null;
      let paramValue: string | true = true;
      if (eq !== -1) {
        const raw = trimOWS(param.slice(eq + 1));
        // token / quoted-string (RFC 9110 §5.6.4) whose unescaped content is a token (§9.1).
        const quoted = /^"((?:[^"\\]|\\.)*)"$/s.exec(raw);
        const content = quoted === null ? raw : quoted[1]!.replace(/\\(.)/gs, '$1');
        if (!isToken(content)) return null;
        paramValue = content;
      }
      if (offer.params.has(key)) offer.duplicateParams = true;
      else offer.params.set(key, paramValue);
    }
    out.push(offer);
  }
  return out;
}

interface ExtensionModel {
  name: string;
  params: [string, string | true][];
}

const extensionModel: fc.Arbitrary<ExtensionModel> = fc.record({
  name: token,
  params: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom('server_no_context_takeover', 'client_max_window_bits', 'A', 'a')), fc.oneof(fc.constant<true>(true), token)), { maxLength: 4 }),
});

/** What parsing a header made from the model must give. */
function expectedOffers(list: ExtensionModel[]): ExtensionOffer[] {
  return list.map(({ name, params }) => {
    const offer: ExtensionOffer = { name: name.toLowerCase(), params: new Map(), duplicateParams: false };
    for (const [key, value] of params) {
      const k = key.toLowerCase();
      if (offer.params.has(k)) offer.duplicateParams = true;
      else offer.params.set(k, value);
    }
    return offer;
  });
}

/** Writes the model with the variations the syntax allows: OWS, empty elements, quoted values. */
const looseExtensionHeader = fc
  .tuple(fc.array(extensionModel, { maxLength: 4 }), fc.array(fc.tuple(ows, ows, ows, fc.boolean(), fc.boolean(), fc.boolean()), { minLength: 40, maxLength: 40 }))
  .map(([list, style]) => {
    let k = 0;
    const next = (): [string, string, string, boolean, boolean, boolean] => style[k++ % style.length]!;
    const elements = list.map(({ name, params }) => {
      let out = name;
      for (const [key, value] of params) {
        const [a, b, c, quote, escape] = next();
        out += `${a};${b}${key}`;
        if (value !== true) {
          const text = escape ? [...value].map((ch) => `\\${ch}`).join('') : value;
          out += `${c}=${c}${quote || escape ? `"${text}"` : text}`;
        }
      }
      return out;
    });
    const [a, b, , , empty] = next();
    return { list, header: `${empty ? ' ,' : ''}${elements.join(`${a},${b}`)}${empty ? ', ' : ''}` };
  });

describe('Sec-WebSocket-Extensions parser fuzz (RFC 6455 §9.1)', () => {
  it('never throws and agrees with the reference on any string', () => {
    // Valid headers with one syntax-breaking piece inserted: the near-valid inputs where parsers err.
    const damaged = fc
      .tuple(looseExtensionHeader, fc.nat(), fc.constantFrom('""', '"', '\\', ';', '=', ',', ' x', '=x', ';x=', '; x=""', ';x= ""', '"x"', '\\x', '\\ ', 'é', '\0'))
      .map(([{ header }, at, piece]) => header.slice(0, at % (header.length + 1)) + piece + header.slice(at % (header.length + 1)));
    check(
      fc.property(fc.oneof(headerishString(40), looseExtensionHeader.map((h) => h.header), damaged), (value) => {
        assert.deepEqual(parseExtensionHeader(value), referenceExtensions(value));
      }),
      3000,
    );
  });

  it('round-trips what formatExtensionHeader writes', () => {
    check(
      fc.property(fc.array(extensionModel, { maxLength: 5 }), (list) => {
        assert.deepEqual(parseExtensionHeader(formatExtensionHeader(list)), expectedOffers(list));
      }),
      1000,
    );
  });

  it('reads the same offers however the header is spaced, quoted, escaped or split into lines', () => {
    check(
      fc.property(looseExtensionHeader, fc.nat(), ({ list, header }, at) => {
        const expected = expectedOffers(list);
        assert.deepEqual(parseExtensionHeader(header), expected);
        // Repeated header lines are one list (RFC 9110 §5.3): split at any element boundary.
        const parts = header.split(',');
        const cut = at % (parts.length + 1);
        assert.deepEqual(parseExtensionHeader([parts.slice(0, cut).join(','), parts.slice(cut).join(',')]), expected);
      }),
      1000,
    );
  });

  it('rejects the whole header when any line is malformed', () => {
    check(
      fc.property(fc.array(headerishString(20), { maxLength: 3 }), (lines) => {
        const each = lines.map((line) => parseExtensionHeader(line));
        const expected = each.includes(null) ? null : each.flatMap((offers) => offers!);
        assert.deepEqual(parseExtensionHeader(lines), expected);
      }),
      1000,
    );
  });

  it('formatExtension refuses names and values that are not tokens (no header injection)', () => {
    check(
      fc.property(headerishString(10), headerishString(10), (name, value) => {
        const nameOk = isToken(name);
        const valueOk = isToken(value);
        const format = (): string => formatExtension(name, [['p', value]]);
        if (nameOk && valueOk) assert.equal(format(), `${name}; p=${value}`);
        else assert.throws(format, TypeError);
        if (!nameOk) assert.throws(() => formatExtension('x', [[name, true]]), TypeError);
      }),
      1000,
    );
  });
});

// ------------------------------------------------------------------------------------ Upgrade

/** RFC 9110 §7.8 the plain way: `#protocol`, protocol = token ["/" token]; first offer of each wins. */
function referenceUpgrade(lines: string[]): UpgradeOffer[] {
  const out: UpgradeOffer[] = [];
  const seen = new Set<string>();
  for (const element of lines.join(',').split(',')) {
    const raw = trimOWS(element);
    const match = /^([^/]+)(?:\/(.*))?$/s.exec(raw);
    if (match === null || !isToken(match[1]!) || (match[2] !== undefined && !isToken(match[2]))) continue;
    const offer = { name: match[1]!.toLowerCase(), version: match[2] ?? '', raw };
    if (seen.has(`${offer.name}/${offer.version}`)) continue;
    seen.add(`${offer.name}/${offer.version}`);
    out.push(offer);
  }
  return out;
}

const protocolOffer = fc.tuple(fc.oneof(token, fc.constantFrom('websocket', 'WebSocket', 'h2c', 'HTTP')), fc.option(token, { nil: undefined }));

describe('Upgrade header parser fuzz (RFC 9110 §7.8)', () => {
  it('never throws and agrees with the reference on any lines', () => {
    check(
      fc.property(fc.oneof(headerishString(40), fc.array(headerishString(20), { maxLength: 3 })), (value) => {
        const lines = typeof value === 'string' ? [value] : value;
        assert.deepEqual(parseUpgradeHeader(value), referenceUpgrade(lines));
      }),
      3000,
    );
  });

  it('round-trips any list of protocols, spaced any way, with malformed elements skipped around them', () => {
    const junk = fc.constantFrom('', ' ', 'a b', '/x', 'x/', 'a/b/c', '"q"', 'é', '(c)', 'x/ y');
    check(
      fc.property(fc.array(fc.tuple(protocolOffer, ows, ows, fc.option(junk, { nil: undefined })), { maxLength: 6 }), (items) => {
        const parts: string[] = [];
        const expected: UpgradeOffer[] = [];
        const seen = new Set<string>();
        for (const [[name, version], before, after, bad] of items) {
          if (bad !== undefined) parts.push(bad);
          const raw = version === undefined ? name : `${name}/${version}`;
          parts.push(`${before}${raw}${after}`);
          const key = `${name.toLowerCase()}/${version ?? ''}`;
          if (!seen.has(key)) {
            seen.add(key);
            expected.push({ name: name.toLowerCase(), version: version ?? '', raw });
          }
        }
        assert.deepEqual(parseUpgradeHeader(parts.join(',')), expected);
      }),
      1000,
    );
  });
});

// ------------------------------------------------------------------------------ HTTP2-Settings

/** A SETTINGS payload (RFC 9113 §6.5.1): 16-bit identifier, 32-bit value, any number of them. */
const settingsPayload = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 8 })
  .map((settings) => {
    const out = Buffer.alloc(settings.length * 6);
    settings.forEach(([id, value], i) => {
      out.writeUInt16BE(id, i * 6);
      out.writeUInt32BE(value, i * 6 + 2);
    });
    return out;
  });

const base64urlChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');

describe('HTTP2-Settings decoder fuzz (RFC 7540 §3.2.1)', () => {
  it('round-trips every SETTINGS payload through base64url without padding', () => {
    check(
      fc.property(settingsPayload, fc.constantFrom('', ' ', '\t'), (payload, space) => {
        const decoded = decodeHttp2Settings(`${space}${payload.toString('base64url')}${space}`);
        assert.ok(decoded !== null);
        assert.deepEqual([...decoded], [...payload]);
      }),
      1000,
    );
  });

  it('accepts exactly the base64url strings that encode whole settings, and nothing else', () => {
    const candidate = fc.oneof(
      fc.string({ unit: base64urlChar, maxLength: 40 }),
      fc.string({ unit: fc.oneof({ weight: 8, arbitrary: base64urlChar }, { weight: 1, arbitrary: fc.constantFrom('=', '+', '/', ' ', '.', '\0', 'é') }), maxLength: 40 }),
      settingsPayload.map((p) => p.toString('base64')), // standard alphabet and padding: not base64url
    );
    check(
      fc.property(candidate, (value) => {
        const decoded = decodeHttp2Settings(value);
        const text = value.trim();
        // token68 in the base64url alphabet, no padding (RFC 7540 §3.2.1, RFC 4648 §5), decoding
        // to whole 6-octet settings: 8 characters make 6 octets, so exactly the multiples of 8.
        const valid = /^[A-Za-z0-9_-]*$/.test(text) && text.length % 8 === 0;
        if (!valid) {
          assert.equal(decoded, null, JSON.stringify(value));
          return;
        }
        assert.ok(decoded !== null, JSON.stringify(value));
        assert.equal(decoded.length % 6, 0);
        assert.equal(decoded.toString('base64url'), text, 'the decoding is exact (no bits dropped)');
      }),
      3000,
    );
  });

  it('refuses a header sent more than once, or not at all', () => {
    check(
      fc.property(fc.array(settingsPayload.map((p) => p.toString('base64url')), { minLength: 2, maxLength: 3 }), (values) => {
        assert.equal(decodeHttp2Settings(values), null);
      }),
      200,
    );
    assert.equal(decodeHttp2Settings(undefined), null);
  });
});

// The Upgrade header field (RFC 9110 §7.8): protocol-name ["/" protocol-version], in order.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isProtocolName, parseUpgradeHeader } from '../../src/upgrade/upgrade-header.js';
import { requestHeadWithoutUpgrade, switchingProtocols } from '../../src/upgrade/router.js';
import type { IncomingMessage } from 'node:http';

describe('parseUpgradeHeader', () => {
  it('keeps the client order and lowercases names, keeping the raw element', () => {
    assert.deepEqual(parseUpgradeHeader('h2c, WebSocket, foo/2'), [
      { name: 'h2c', version: '', raw: 'h2c' },
      { name: 'websocket', version: '', raw: 'WebSocket' },
      { name: 'foo', version: '2', raw: 'foo/2' },
    ]);
  });

  it('reads repeated header lines as one list', () => {
    assert.deepEqual(
      parseUpgradeHeader(['a', 'b/1.0, c']).map((offer) => `${offer.name}|${offer.version}`),
      ['a|', 'b|1.0', 'c|'],
    );
  });

  it('skips empty and malformed elements but keeps the valid ones around them', () => {
    assert.deepEqual(
      parseUpgradeHeader(' , websocket ,, bad name, /1, x/, y/1/2, "q", h2c ').map((offer) => offer.raw),
      ['websocket', 'h2c'],
    );
  });

  it('reads a lone element (no comma) by the same rules', () => {
    assert.deepEqual(parseUpgradeHeader(' WebSocket\t'), [{ name: 'websocket', version: '', raw: 'WebSocket' }]);
    assert.deepEqual(parseUpgradeHeader('foo/2'), [{ name: 'foo', version: '2', raw: 'foo/2' }]);
    for (const bad of ['bad name', '/1', 'x/', 'y/1/2', '"q"', ' ', 'é']) assert.deepEqual(parseUpgradeHeader(bad), [], bad);
  });

  it('drops exact repeats, and returns [] for an absent header', () => {
    assert.deepEqual(parseUpgradeHeader('websocket, WEBSOCKET').length, 1);
    assert.deepEqual(parseUpgradeHeader(undefined), []);
    assert.deepEqual(parseUpgradeHeader(''), []);
  });

  it('isProtocolName accepts tokens only', () => {
    assert.equal(isProtocolName('websocket'), true);
    assert.equal(isProtocolName('h2c'), true);
    assert.equal(isProtocolName('a/b'), false);
    assert.equal(isProtocolName(''), false);
    assert.equal(isProtocolName('a b'), false);
  });
});

describe('switchingProtocols', () => {
  it('names the chosen protocol in Upgrade, with Connection: Upgrade (RFC 9110 §7.8)', () => {
    assert.equal(
      switchingProtocols('h2c', { 'X-Extra': 'yes' }),
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nX-Extra: yes\r\n\r\n',
    );
  });

  it('refuses an invalid token or header injection', () => {
    assert.throws(() => switchingProtocols('a b'), TypeError);
    assert.throws(() => switchingProtocols('x', { 'X-Bad': 'a\r\nInjected: 1' }), TypeError);
  });
});

describe('requestHeadWithoutUpgrade', () => {
  it('rebuilds the head as received, minus the upgrade connection option', () => {
    const req = {
      method: 'POST',
      url: '/form?x=1',
      httpVersion: '1.1',
      rawHeaders: ['Host', 'example', 'Connection', 'keep-alive, Upgrade', 'Upgrade', 'foo', 'Content-Length', '3'],
    } as unknown as IncomingMessage;
    assert.equal(
      requestHeadWithoutUpgrade(req),
      'POST /form?x=1 HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\nUpgrade: foo\r\nContent-Length: 3\r\n\r\n',
    );
  });

  it('drops a Connection header that named only upgrade', () => {
    const req = { method: 'GET', url: '/', httpVersion: '1.1', rawHeaders: ['Connection', 'Upgrade', 'Upgrade', 'h2c'] } as unknown as IncomingMessage;
    assert.equal(requestHeadWithoutUpgrade(req), 'GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n');
  });
});

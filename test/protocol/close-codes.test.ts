// Close status codes (RFC 6455 §7.4 and the IANA registry, §11.7).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, isValidCloseCode } from '../../src/protocol/close-codes.js';

/** Written from the RFC text, range by range. */
function mayBeSent(code: number): boolean {
  if (code < 1000) return false; // §7.4.2: 0-999 are not used
  if (code <= 1003) return true; // 1000-1003 assigned
  if (code <= 1006) return false; // 1004 reserved, 1005/1006 never on the wire (§7.4.1)
  if (code <= 1014) return true; // 1007-1011 (§7.4.1), 1012-1014 (IANA registry)
  if (code <= 2999) return false; // 1015 never on the wire; the rest reserved for the protocol / extensions
  return code <= 4999; // 3000-3999 registered, 4000-4999 private use; above: undefined
}

describe('isValidCloseCode (RFC 6455 §7.4)', () => {
  it('matches the RFC over the whole 16-bit range', () => {
    for (let code = 0; code <= 0xffff; code++) {
      assert.equal(isValidCloseCode(code), mayBeSent(code), `code ${code}`);
    }
  });

  it('accepts the assigned and application codes', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
      assert.equal(isValidCloseCode(code), true, `code ${code}`);
    }
  });

  it('rejects reserved, never-sent and out-of-range codes', () => {
    for (const code of [-1, 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535, 65536, 1000.5, NaN]) {
      assert.equal(isValidCloseCode(code), false, `code ${code}`);
    }
  });

  it('names the registered codes with their numbers', () => {
    assert.deepEqual(
      { ...CloseCode },
      {
        Normal: 1000,
        GoingAway: 1001,
        ProtocolError: 1002,
        UnsupportedData: 1003,
        NoStatus: 1005,
        Abnormal: 1006,
        InvalidPayload: 1007,
        PolicyViolation: 1008,
        MessageTooBig: 1009,
        MandatoryExtension: 1010,
        InternalError: 1011,
        ServiceRestart: 1012,
        TryAgainLater: 1013,
        BadGateway: 1014,
        TlsHandshake: 1015,
      },
    );
    for (const code of [CloseCode.NoStatus, CloseCode.Abnormal, CloseCode.TlsHandshake]) {
      assert.equal(isValidCloseCode(code), false, `${code} must never be sent`);
    }
  });
});

// RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number Registry" (§11.7).
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Never on the wire: "no status code was present" (§7.1.5). */
  NoStatus: 1005,
  /** Never on the wire: the connection closed without a close frame (§7.1.5). */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  /** Never on the wire: TLS handshake failure. */
  TlsHandshake: 1015,
} as const;

/**
 * May this code appear in a close frame? 1000–1003 and 1007–1014 are assigned; 1004 is reserved;
 * 1005, 1006 and 1015 must never be sent (§7.4.1); 1016–2999 are unassigned or reserved for
 * extensions (§7.4.2); 3000–3999 are registered by libraries, 4000–4999 private use.
 */
export function isValidCloseCode(code: number): boolean {
  // Integers only: the code is a 16-bit field (§5.5.1), so 1000.5 is no code at all.
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

// RFC 6455 §5.2 / §11.8: frame opcodes. 0x3–0x7 and 0xB–0xF are reserved.
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** RFC 6455 §5.5: control frames have the high bit of the opcode set. */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

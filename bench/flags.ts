// `--flag value` arguments of the in-process bench tools (handshake-cost, heap-per-connection):
// one reader, so that both take values, counts and choices alike.

export interface Flag {
  readonly name: string;
  /** The next argument, the flag's value. */
  value(): string;
  /** The value as a whole number, clamped to [min, max]. */
  count(min: number, max: number): number;
  /** The value, which must be one of `choices`. */
  oneOf<T extends string>(choices: readonly T[]): T;
}

/** Hands every flag to `take`; one that `take` does not know (it returns false) is an error. */
export function readFlags(argv: readonly string[], take: (flag: Flag) => boolean): void {
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    const flag: Flag = {
      name,
      value,
      count: (min, max) => Math.max(min, Math.min(max, Math.floor(Number(value())))),
      oneOf: <T extends string>(choices: readonly T[]): T => {
        const v = value();
        if (!(choices as readonly string[]).includes(v)) {
          throw new Error(`${name}: ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}, not ${v}`);
        }
        return v as T;
      },
    };
    if (!take(flag)) throw new Error(`unknown option ${name}`);
  }
}

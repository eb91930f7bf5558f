// `--name N` on the command line of the standalone bench scripts (wamp.ts, pubsub-scale.ts).

/** The positive number after `--name`, or `fallback` when the flag is absent. */
export function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} wants a positive number`);
  return value;
}

// Options objects are checked by name: a misspelt or foreign option (a `ws` user's verifyClient,
// say) would otherwise be ignored in silence, and with it the protection it was meant to give.

/**
 * Throws a TypeError naming the first option of `options` that is not in `known`, with the
 * Upshift equivalent from `hints` when there is one. `where` names the call (e.g. "connect()").
 */
export function checkOptionNames(
  where: string,
  options: object | undefined,
  known: ReadonlySet<string>,
  hints: Readonly<Record<string, string>> = {},
): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') throw new TypeError(`${where}: options must be an object`);
  for (const name of Object.keys(options)) {
    if (known.has(name)) continue;
    const hint = Object.hasOwn(hints, name) ? ` ${hints[name]}` : '';
    throw new TypeError(`${where}: unknown option "${name}".${hint}`);
  }
}

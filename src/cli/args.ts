// Command-line parsing for `upshift`: each command declares its flags once; the same table drives
// parsing, value checks and the help text. Anything not declared is a usage error (exit 2), so a
// misspelt flag never silently changes nothing.

export type FlagType = 'boolean' | 'string' | 'integer' | 'size' | 'seconds' | 'list';

export interface FlagSpec {
  /** Long name without dashes, e.g. 'max-payload'; parsed into `flags.maxPayload`. */
  name: string;
  short?: string;
  type: FlagType;
  /** Placeholder in the help, e.g. 'PATH'. */
  value?: string;
  help: string;
  default?: string | number | boolean | string[];
  /** Allowed values of a string flag. */
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  /** One line: 'upshift serve [dir] [options] [-- program args…]'. */
  usage: string;
  summary: string;
  /** Paragraphs printed after the flags. */
  details?: string;
  flags: FlagSpec[];
  /** Positional arguments, in order; the last one may be optional. */
  positionals: { name: string; optional: boolean }[];
  /** Whether arguments after `--` are collected (serve: the --exec program). */
  rest?: boolean;
}

export interface ParsedArgs {
  flags: Record<string, unknown>;
  positionals: string[];
  rest: string[];
}

/** A mistake on the command line: printed with a pointer to --help, exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'boolean', help: 'Show this help' };

export function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** '64', '16k', '1MiB' → bytes (binary multiples). */
export function parseSize(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) return null;
  const unit = SIZE_UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** '10' or '10s' → 10, '500ms' → 0.5, '2m' → 120 (seconds). */
export function parseSeconds(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) return null;
  const value = Number(match[1]);
  const scale = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] ?? 's']!;
  return value * scale;
}

function convert(spec: FlagSpec, raw: string, shown: string, command: string): unknown {
  switch (spec.type) {
    case 'string':
      if (spec.choices !== undefined && !spec.choices.includes(raw)) {
        throw new UsageError(`${shown} must be one of ${spec.choices.join(', ')}, got "${raw}"`, command);
      }
      return raw;
    case 'list':
      return raw;
    case 'integer': {
      if (!/^\d+$/.test(raw)) throw new UsageError(`${shown} needs a whole number, got "${raw}"`, command);
      return Number(raw);
    }
    case 'size': {
      const bytes = parseSize(raw);
      if (bytes === null) throw new UsageError(`${shown} needs a size in bytes (e.g. 512, 64k, 16m), got "${raw}"`, command);
      return bytes;
    }
    case 'seconds': {
      const seconds = parseSeconds(raw);
      if (seconds === null) throw new UsageError(`${shown} needs a duration (e.g. 10, 10s, 500ms), got "${raw}"`, command);
      return seconds;
    }
    default:
      throw new Error(`unreachable: ${spec.type}`);
  }
}

/** Parses `argv` (the arguments after the command name) against `spec`. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const flags: Record<string, unknown> = {};
  const positionals: string[] = [];
  let rest: string[] = [];
  const all = [...spec.flags, HELP_FLAG];
  const byLong = new Map(all.map((flag) => [flag.name, flag]));
  const byShort = new Map(all.filter((flag) => flag.short !== undefined).map((flag) => [flag.short!, flag]));
  const command = spec.name;

  const set = (flag: FlagSpec, value: string | undefined, shown: string, next: () => string | undefined): void => {
    const key = camel(flag.name);
    if (flag.type === 'boolean') {
      if (value !== undefined) throw new UsageError(`${shown} takes no value`, command);
      flags[key] = true;
      return;
    }
    const raw = value ?? next();
    if (raw === undefined) throw new UsageError(`${shown} needs a value${flag.value ? ` (${flag.value})` : ''}`, command);
    const converted = convert(flag, raw, shown, command);
    if (flag.type === 'list') flags[key] = [...((flags[key] as string[] | undefined) ?? []), converted as string];
    else flags[key] = converted;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = (): string | undefined => (i + 1 < argv.length ? argv[++i] : undefined);
    if (arg === '--') {
      if (!spec.rest) throw new UsageError(`unexpected "--": ${command} takes no program arguments`, command);
      rest = argv.slice(i + 1);
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const flag = byLong.get(name);
      if (flag === undefined) throw new UsageError(`unknown option --${name}`, command);
      set(flag, eq === -1 ? undefined : arg.slice(eq + 1), `--${name}`, next);
    } else if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      // Short flags: -k, -H 'Name: value', -Hvalue; booleans may be grouped (-hk).
      for (let j = 1; j < arg.length; j++) {
        const flag = byShort.get(arg[j]!);
        if (flag === undefined) throw new UsageError(`unknown option -${arg[j]}`, command);
        if (flag.type === 'boolean') {
          set(flag, undefined, `-${arg[j]}`, next);
          continue;
        }
        set(flag, j + 1 < arg.length ? arg.slice(j + 1) : undefined, `-${arg[j]}`, next);
        break;
      }
    } else {
      positionals.push(arg);
    }
  }
  if (flags.help === true) return { flags, positionals, rest };
  for (const flag of spec.flags) {
    const key = camel(flag.name);
    if (flags[key] === undefined && flag.default !== undefined) flags[key] = flag.default;
  }
  const required = spec.positionals.filter((p) => !p.optional).length;
  if (positionals.length > spec.positionals.length) {
    throw new UsageError(`unexpected argument "${positionals[spec.positionals.length]}"`, command);
  }
  if (positionals.length < required) {
    throw new UsageError(`missing ${spec.positionals[positionals.length]!.name}`, command);
  }
  return { flags, positionals, rest };
}

/** The help text of one command, from its table. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage}`, '', spec.summary, '', 'Options:'];
  const rows = [...spec.flags, HELP_FLAG].map((flag) => {
    const short = flag.short !== undefined ? `-${flag.short}, ` : '    ';
    const value = flag.type === 'boolean' ? '' : ` ${flag.value ?? 'VALUE'}`;
    let help = flag.help;
    if (flag.choices !== undefined) help += ` (${flag.choices.join('|')})`;
    if (flag.default !== undefined && flag.default !== false) help += ` [default: ${String(flag.default)}]`;
    if (flag.type === 'list') help += ' (repeatable)';
    return [`  ${short}--${flag.name}${value}`, help] as const;
  });
  const width = Math.min(34, Math.max(...rows.map(([left]) => left.length)) + 2);
  for (const [left, help] of rows) {
    lines.push(left.length + 2 > width ? `${left}\n${' '.repeat(width)}${help}` : left.padEnd(width) + help);
  }
  if (spec.details !== undefined) lines.push('', spec.details.trimEnd());
  return lines.join('\n') + '\n';
}

#!/usr/bin/env node
// `upshift`: the command-line tool (package.json "bin"). Exit statuses: 0 success, 1 failure
// (a refused handshake, a port in use, an abnormal close), 2 a usage error.

import { formatHelp, parseArgs, UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { VERSION } from './version.js';

interface Command {
  summary: string;
  load(): Promise<{ spec: CommandSpec; run(args: ParsedArgs): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'Static files and WebSocket endpoints (echo, broadcast, topics, exec); dashboard',
    load: async () => {
      const { SERVE_SPEC, serve } = await import('./serve.js');
      return {
        spec: SERVE_SPEC,
        run: async (args) => {
          const server = await serve(args);
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals): void => {
            // A second signal: the user does not want to wait for the closing handshakes.
            if (++signals > 1) process.exit(1);
            void server.shutdown(signal);
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
          return server.done;
        },
      };
    },
  },
  connect: {
    summary: 'Interactive WebSocket client, or a pipe for scripts (stdin lines → messages → stdout)',
    load: async () => {
      const { CONNECT_SPEC, runConnect } = await import('./connect.js');
      return { spec: CONNECT_SPEC, run: runConnect };
    },
  },
  bench: {
    summary: 'Load generator for an echo endpoint: msg/s, MB/s, latency percentiles',
    load: async () => {
      const { BENCH_SPEC, runBench } = await import('./bench.js');
      return { spec: BENCH_SPEC, run: runBench };
    },
  },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 4;
  return [
    'Usage: upshift <command> [options]',
    '',
    'WebSockets from the terminal: serve, connect, bench. HTTP/1.1, HTTP/2 (RFC 8441), TLS, permessage-deflate.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'upshift <command> --help shows its options; upshift --version its version.',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined && COMMANDS[rest[0]] !== undefined) {
      process.stdout.write(formatHelp((await COMMANDS[rest[0]]!.load()).spec));
      return 0;
    }
    process.stdout.write(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`upshift: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')}; see upshift --help)\n`);
    return 2;
  }
  const { spec, run } = await command.load();
  try {
    const args = parseArgs(spec, rest);
    if (args.flags.help === true) {
      process.stdout.write(formatHelp(spec));
      return 0;
    }
    return await run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`upshift ${name}: ${error.message}\nSee: upshift ${name} --help\n`);
      return 2;
    }
    process.stderr.write(`upshift ${name}: ${(error as Error).message}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Let pending writes to stdout (a pipe) finish before leaving.
process.exitCode = code;
if (process.stdout.writableLength > 0) process.stdout.once('drain', () => process.exit(code));
else process.exit(code);

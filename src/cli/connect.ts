// `upshift connect URL`: a WebSocket client for the terminal, like wscat or websocat.
//
// Interactive (stdin is a TTY): a readline prompt with history; incoming messages are printed
// above the prompt (the line being typed is cleared, the message printed, the prompt and the
// typed text redrawn), so they never garble the input. Commands start with "/".
//
// Pipe mode (stdin is not a TTY, or --pipe): each stdin line is a message, each message received
// is a stdout line; end of input closes with 1000 (unless --keep-open). The exit status tells how
// the connection ended: 0 after a 1000 or 1001 close, 1 otherwise.

import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface, clearScreenDown, cursorTo, moveCursor, type Interface } from 'node:readline';
import { connect, type ClientOptions, type WebSocketConnection } from '../index.js';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';

export const CONNECT_SPEC: CommandSpec = {
  name: 'connect',
  usage: 'upshift connect URL [options]',
  summary: 'Open a WebSocket to URL (ws://, wss://, http(s):// also accepted) and talk to it.',
  positionals: [{ name: 'URL', optional: false }],
  flags: [
    { name: 'header', short: 'H', type: 'list', value: "'NAME: VALUE'", help: 'Extra request header' },
    { name: 'subprotocol', short: 's', type: 'list', value: 'NAME', help: 'Offer this subprotocol' },
    { name: 'origin', type: 'string', value: 'ORIGIN', help: 'Origin header' },
    { name: 'deflate', type: 'boolean', help: 'Offer permessage-deflate (RFC 7692)' },
    { name: 'http2', type: 'boolean', help: 'Over HTTP/2 (RFC 8441): wss:// via ALPN, ws:// with prior knowledge' },
    { name: 'insecure', short: 'k', type: 'boolean', help: "Accept any TLS certificate (self-signed ones, e.g. serve --tls)" },
    { name: 'ca', type: 'string', value: 'FILE', help: 'Trust this CA certificate (PEM)' },
    { name: 'binary-as', type: 'string', value: 'FORMAT', help: 'How binary messages are shown', choices: ['hex', 'base64', 'raw'], default: 'hex' },
    { name: 'pipe', type: 'boolean', help: 'Pipe mode even on a terminal: stdin lines → messages, messages → stdout lines' },
    { name: 'binary', type: 'boolean', help: 'Pipe mode: send stdin lines as binary messages' },
    { name: 'keep-open', type: 'boolean', help: 'Pipe mode: stay connected after the end of stdin until the server closes' },
    { name: 'history', type: 'string', value: 'FILE', help: 'Interactive: keep the input history in FILE' },
    { name: 'timeout', type: 'seconds', value: 'SECONDS', help: 'Opening handshake timeout', default: 10 },
    { name: 'ping-interval', type: 'seconds', value: 'SECONDS', help: 'Ping the server when quiet this long (0: never)', default: 0 },
    { name: 'max-payload', type: 'size', value: 'SIZE', help: 'Largest message accepted' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'No status lines (connected, closed) on stderr' },
  ],
  details: `Interactive commands:
  /ping [data]             send a ping (the pong is shown with its round-trip time)
  /close [code [reason]]   start the closing handshake (default 1000)
  /binary <hex>            send a binary message, e.g. /binary 00ff10
  /quit                    close with 1000 and leave (also Ctrl-D, Ctrl-C)
  //text                   send a line that starts with "/"

Examples:
  upshift connect ws://127.0.0.1:8080/echo
  upshift connect wss://localhost:8443/echo -k --http2 -s chat -H 'Authorization: Bearer x'
  printf 'a\\nb\\n' | upshift connect ws://127.0.0.1:8080/echo     # prints a and b, exits 0`,
};

interface ConnectFlags {
  header?: string[] | undefined;
  subprotocol?: string[] | undefined;
  origin?: string | undefined;
  deflate?: boolean | undefined;
  http2?: boolean | undefined;
  insecure?: boolean | undefined;
  ca?: string | undefined;
  binaryAs: 'hex' | 'base64' | 'raw';
  pipe?: boolean | undefined;
  binary?: boolean | undefined;
  keepOpen?: boolean | undefined;
  history?: string | undefined;
  timeout: number;
  pingInterval: number;
  maxPayload?: number | undefined;
  quiet?: boolean | undefined;
}

export function parseHeaders(lines: readonly string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon <= 0 ? '' : line.slice(0, colon).trim();
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new UsageError(`-H needs 'Name: value', got "${line}"`, 'connect');
    const value = line.slice(colon + 1).trim();
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return headers;
}

/** Exit status for a close code: 0 for a normal closure or going away (RFC 6455 §7.4.1). */
export function exitStatusFor(code: number): number {
  return code === 1000 || code === 1001 ? 0 : 1;
}

function showBinary(data: Buffer, format: ConnectFlags['binaryAs']): string {
  return format === 'base64' ? data.toString('base64') : data.toString('hex');
}

export function clientOptions(flags: ConnectFlags): ClientOptions {
  const options: ClientOptions = {
    headers: parseHeaders(flags.header ?? []),
    handshakeTimeout: flags.timeout * 1000,
    pingInterval: flags.pingInterval * 1000,
  };
  if (flags.subprotocol !== undefined) options.protocols = flags.subprotocol;
  if (flags.origin !== undefined) options.origin = flags.origin;
  if (flags.deflate) options.perMessageDeflate = true;
  if (flags.http2) options.http2 = true;
  if (flags.maxPayload !== undefined) options.maxPayload = flags.maxPayload;
  if (flags.insecure || flags.ca !== undefined) {
    options.tls = { rejectUnauthorized: !flags.insecure };
    if (flags.ca !== undefined) options.tls.ca = readFileSync(flags.ca);
  }
  return options;
}

export async function runConnect(args: ParsedArgs): Promise<number> {
  const flags = args.flags as unknown as ConnectFlags;
  const url = args.positionals[0]!;
  const options = clientOptions(flags);
  const ws = await connect(url, options);
  const status = (line: string): void => {
    if (!flags.quiet) process.stderr.write(`${line}\n`);
  };
  const transport = flags.http2 ? 'HTTP/2' : 'HTTP/1.1';
  const details = [transport, ws.protocol ? `subprotocol ${ws.protocol}` : null, ws.extensions || null].filter(Boolean).join(', ');
  ws.on('error', () => {}); // protocol errors end in 'close' with their code
  const interactive = !flags.pipe && process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (interactive) return interactiveSession(ws, url, details, flags);
  status(`connected to ${url} (${details})`);
  return pipeSession(ws, flags, status);
}

function pipeSession(ws: WebSocketConnection, flags: ConnectFlags, status: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const out = process.stdout;
    ws.on('message', (data, isBinary) => {
      let ok: boolean;
      if (!isBinary) ok = out.write(Buffer.concat([data, Buffer.from('\n')]));
      else if (flags.binaryAs === 'raw') ok = out.write(data);
      else ok = out.write(showBinary(data, flags.binaryAs) + '\n');
      // Backpressure: stop reading the socket while stdout (a slow pipe) is full.
      if (!ok) {
        ws.pause();
        out.once('drain', () => ws.resume());
      }
    });
    const input = createInterface({ input: process.stdin, terminal: false, crlfDelay: Infinity });
    input.on('line', (line) => {
      if (ws.readyState !== 1) return;
      if (!ws.send(flags.binary ? Buffer.from(line) : line, { binary: flags.binary === true })) {
        input.pause();
        ws.once('drain', () => input.resume());
      }
    });
    input.once('close', () => {
      if (!flags.keepOpen && ws.readyState === 1) ws.close(1000);
    });
    process.once('SIGINT', () => (ws.readyState === 1 ? ws.close(1000) : ws.terminate()));
    ws.once('close', (code, reason) => {
      input.close();
      process.stdin.destroy();
      status(`closed: ${code}${reason ? ` ${reason}` : ''}`);
      resolve(exitStatusFor(code));
    });
  });
}

function interactiveSession(ws: WebSocketConnection, url: string, details: string, flags: ConnectFlags): Promise<number> {
  return new Promise((resolve) => {
    const out = process.stdout;
    const color = process.env.NO_COLOR === undefined;
    const paint = (code: string, text: string): string => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
    let history: string[] = [];
    if (flags.history !== undefined) {
      try {
        // readline wants the newest entry first.
        history = readFileSync(flags.history, 'utf8').split('\n').filter(Boolean).reverse();
      } catch {
        // No history yet.
      }
    }
    const rl: Interface = createInterface({ input: process.stdin, output: out, terminal: true, history, historySize: 1000, prompt: '> ' });

    /** Prints a line above the prompt without garbling what is being typed. */
    const print = (line: string): void => {
      // Go to the first row of the prompt (typed text may wrap), clear it all, print, redraw.
      moveCursor(out, 0, -rl.getCursorPos().rows);
      cursorTo(out, 0);
      clearScreenDown(out);
      out.write(line + '\n');
      if (!closed) rl.prompt(true);
    };
    let closed = false;
    const pings: number[] = [];

    ws.on('message', (data, isBinary) => {
      print(isBinary ? paint('36', `< [binary ${data.length} B] ${showBinary(data, flags.binaryAs === 'raw' ? 'hex' : flags.binaryAs)}`) : paint('32', `< ${data.toString('utf8')}`));
    });
    ws.on('pong', (data) => {
      const sent = pings.shift();
      const rtt = sent === undefined ? '' : ` (${(performance.now() - sent).toFixed(1)} ms)`;
      print(paint('2', `< pong${rtt}${data.length > 0 ? ` ${data.toString('utf8')}` : ''}`));
    });
    ws.once('close', (code, reason) => {
      closed = true;
      print(paint(exitStatusFor(code) === 0 ? '2' : '31', `closed: ${code}${reason ? ` ${reason}` : ''}`));
      if (flags.history !== undefined) {
        try {
          writeFileSync(flags.history, [...(rl as unknown as { history: string[] }).history].reverse().join('\n') + '\n');
        } catch {
          // A history that cannot be saved is no reason to fail.
        }
      }
      rl.close();
      resolve(exitStatusFor(code));
    });

    const error = (text: string): void => print(paint('31', text));
    const quit = (): void => {
      if (ws.readyState === 1) ws.close(1000);
      else if (ws.readyState !== 3) ws.terminate();
    };
    rl.on('line', (line) => {
      if (closed) return;
      if (line.startsWith('/') && !line.startsWith('//')) {
        const [command, ...words] = line.trim().split(/\s+/);
        try {
          switch (command) {
            case '/ping': {
              pings.push(performance.now());
              ws.ping(line.trim().slice('/ping'.length).trim());
              break;
            }
            case '/close': {
              const code = words[0] === undefined ? 1000 : Number(words[0]);
              if (!Number.isInteger(code)) throw new Error(`/close takes a numeric code, got "${words[0]}"`);
              ws.close(code, words.slice(1).join(' ') || undefined);
              break;
            }
            case '/binary': {
              const hex = words.join('');
              if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error('/binary takes hex bytes, e.g. /binary 48 65 6c 6c 6f');
              ws.send(Buffer.from(hex, 'hex'), { binary: true });
              break;
            }
            case '/quit':
            case '/exit':
              quit();
              return;
            case '/help':
              print(CONNECT_SPEC.details!.split('\n\n')[0]!);
              break;
            default:
              throw new Error(`unknown command ${command} (/help lists them; //text sends a line starting with /)`);
          }
        } catch (e) {
          error((e as Error).message);
        }
      } else {
        ws.send(line.startsWith('//') ? line.slice(1) : line);
      }
      rl.prompt();
    });
    rl.on('SIGINT', quit);
    rl.on('close', () => {
      if (!closed) quit();
    });
    out.write(paint('2', `connected to ${url} (${details}); /help for commands, Ctrl-D to leave`) + '\n');
    rl.prompt();
  });
}

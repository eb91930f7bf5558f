// Static files for `upshift serve [dir]`, on HTTP/1.1 and HTTP/2 (Node's compatibility API):
// content types, validators and conditional requests (RFC 9110 §8.8, §13), single byte ranges
// (RFC 9110 §14), caching directives (RFC 9111 §5.2), index.html and directory listings. Nothing
// outside the root is served: not by `..`, encoded or not, and not through a symbolic link.

import { createReadStream, promises as fs, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { extname, join, resolve, sep } from 'node:path';
import { escapeHtml } from './html.js';

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;

export interface StaticOptions {
  /** Seconds for Cache-Control max-age; 0 → "no-cache" (always revalidate, cheap with ETags). */
  maxAge: number;
  /** Serve names starting with a dot (.git, .env); default: they are 404. */
  dotfiles: boolean;
  /** List directories without an index.html. */
  listings: boolean;
}

const TEXT = '; charset=utf-8';
const TYPES: Record<string, string> = {
  '.html': 'text/html' + TEXT,
  '.htm': 'text/html' + TEXT,
  '.css': 'text/css' + TEXT,
  '.js': 'text/javascript' + TEXT,
  '.mjs': 'text/javascript' + TEXT,
  '.cjs': 'text/javascript' + TEXT,
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain' + TEXT,
  '.md': 'text/markdown' + TEXT,
  '.csv': 'text/csv' + TEXT,
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.bmp': 'image/bmp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * A validator from size and modification time (RFC 9110 §8.8.3), strong as nginx's is: a file
 * rewritten with the same size within one millisecond would keep it, which is accepted here.
 */
export function etagOf(stats: Stats): string {
  return `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
}

/** RFC 9110 §13.1.2: If-None-Match matches with the weak comparison; "*" matches any. */
function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === opaque);
}

export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * RFC 9110 §14.1.2 / §14.2: one `bytes=` range (first-last, first-, -suffix). Several ranges, or
 * a header that does not parse, are ignored (the whole file is sent): the RFC allows it and it
 * spares multipart/byteranges.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (match === null) return { kind: 'full' };
  const [, first, last] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    // A suffix: the last N bytes (§14.1.2); a zero-length suffix cannot be satisfied.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'full' }; // invalid: ignored (§14.1.1)
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

function plain(res: AnyResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(text + '\n');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length), ...headers });
  res.end(body);
}

export class StaticFiles {
  readonly #root: string;
  #realRoot: string | null = null;
  readonly #options: StaticOptions;

  constructor(root: string, options: StaticOptions) {
    this.#root = resolve(root);
    this.#options = options;
  }

  get root(): string {
    return this.#root;
  }

  async handle(req: AnyRequest, res: AnyResponse): Promise<void> {
    try {
      await this.#serve(req, res);
    } catch (error) {
      if (!res.headersSent) plain(res, 500, 'Internal Server Error');
      else res.destroy?.(error as Error);
    }
  }

  async #serve(req: AnyRequest, res: AnyResponse): Promise<void> {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') return plain(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    const url = req.url ?? '/';
    const rawPath = url.split('?')[0]!;
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      return plain(res, 400, 'Bad Request: malformed percent-encoding');
    }
    if (!path.startsWith('/') || path.includes('\0')) return plain(res, 400, 'Bad Request');
    const segments = path.split('/');
    // Refuse `..` outright (even where it would stay inside the root) and, unless asked, dot files.
    if (segments.some((s) => s === '..' || s.includes('\\'))) return plain(res, 403, 'Forbidden');
    if (!this.#options.dotfiles && segments.some((s) => s.startsWith('.') && s !== '')) return plain(res, 404, 'Not Found');
    let file = join(this.#root, ...segments);
    if (file !== this.#root && !file.startsWith(this.#root + sep)) return plain(res, 403, 'Forbidden');

    let stats = await fs.stat(file).catch(() => null);
    if (stats === null) return plain(res, 404, 'Not Found');
    if (!(await this.#inside(file))) return plain(res, 403, 'Forbidden');
    if (stats.isDirectory()) {
      if (!rawPath.endsWith('/')) {
        const query = url.includes('?') ? url.slice(url.indexOf('?')) : '';
        return plain(res, 301, 'Moved Permanently', { Location: rawPath + '/' + query });
      }
      const index = join(file, 'index.html');
      const indexStats = await fs.stat(index).catch(() => null);
      if (indexStats !== null && indexStats.isFile()) {
        file = index;
        stats = indexStats;
      } else if (this.#options.listings) {
        return this.#listing(file, path, req, res);
      } else {
        return plain(res, 404, 'Not Found');
      }
    }
    if (!stats.isFile()) return plain(res, 404, 'Not Found');
    this.#sendFile(file, stats, req, res);
  }

  /** Whether `file`, after symbolic links are followed, is still under the root. */
  async #inside(file: string): Promise<boolean> {
    this.#realRoot ??= await fs.realpath(this.#root);
    const real = await fs.realpath(file).catch(() => null);
    return real !== null && (real === this.#realRoot || real.startsWith(this.#realRoot + sep));
  }

  #cacheControl(): string {
    return this.#options.maxAge > 0 ? `public, max-age=${this.#options.maxAge}` : 'no-cache';
  }

  #sendFile(file: string, stats: Stats, req: AnyRequest, res: AnyResponse): void {
    const etag = etagOf(stats);
    const lastModified = stats.mtime.toUTCString();
    const headers: Record<string, string> = {
      'Content-Type': contentType(file),
      ETag: etag,
      'Last-Modified': lastModified,
      'Cache-Control': this.#cacheControl(),
      'Accept-Ranges': 'bytes',
      'X-Content-Type-Options': 'nosniff',
    };
    // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    let notModified = false;
    if (typeof inm === 'string') notModified = noneMatch(inm, etag);
    else if (typeof ims === 'string') {
      const since = Date.parse(ims);
      // HTTP dates have whole seconds.
      notModified = !Number.isNaN(since) && Math.floor(stats.mtimeMs / 1000) * 1000 <= since;
    }
    if (notModified) {
      // RFC 9110 §15.4.5: a 304 carries the validators and caching fields a 200 would have.
      const { 'Content-Type': _type, 'Accept-Ranges': _ranges, 'X-Content-Type-Options': _nosniff, ...kept } = headers;
      res.writeHead(304, kept);
      res.end();
      return;
    }
    let range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, stats.size);
    // RFC 9110 §13.1.5: If-Range with a stale validator means "send it all".
    const ifRange = req.headers['if-range'];
    if (range.kind !== 'full' && typeof ifRange === 'string') {
      // An entity tag must match strongly (a weak one never does); a date must be Last-Modified itself.
      const fresh = ifRange.startsWith('"') || ifRange.startsWith('W/') ? ifRange === etag : ifRange === lastModified;
      if (!fresh) range = { kind: 'full' };
    }
    if (range.kind === 'unsatisfiable') {
      return plain(res, 416, 'Range Not Satisfiable', { 'Content-Range': `bytes */${stats.size}`, 'Accept-Ranges': 'bytes' });
    }
    let start = 0;
    let end = stats.size - 1;
    let status = 200;
    if (range.kind === 'partial') {
      ({ start, end } = range);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${stats.size}`;
    }
    headers['Content-Length'] = String(Math.max(0, end - start + 1));
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || stats.size === 0) {
      res.end();
      return;
    }
    const stream = createReadStream(file, { start, end });
    stream.on('error', (error) => res.destroy?.(error));
    res.on('close', () => stream.destroy());
    stream.pipe(res as NodeJS.WritableStream);
  }

  async #listing(dir: string, path: string, req: AnyRequest, res: AnyResponse): Promise<void> {
    const entries = (await fs.readdir(dir, { withFileTypes: true }))
      .filter((e) => this.#options.dotfiles || !e.name.startsWith('.'))
      .sort((a, b) => Number(b.isDirectory()) - Number(a.isDirectory()) || a.name.localeCompare(b.name));
    const items = entries.map((e) => {
      const name = e.name + (e.isDirectory() ? '/' : '');
      return `<li><a href="${escapeHtml(encodeURIComponent(e.name) + (e.isDirectory() ? '/' : ''))}">${escapeHtml(name)}</a></li>`;
    });
    if (path !== '/') items.unshift('<li><a href="../">../</a></li>');
    const title = `Index of ${escapeHtml(path)}`;
    const body = Buffer.from(
      `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
        `<style>body{font:15px system-ui,sans-serif;margin:2em}li{line-height:1.6}</style></head>` +
        `<body><h1>${title}</h1><ul>${items.join('')}</ul></body></html>\n`,
    );
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(body.length), 'Cache-Control': 'no-cache' });
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  }
}

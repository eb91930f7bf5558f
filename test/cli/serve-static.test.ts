// `upshift serve DIR` as a process, seen by curl: content types, byte ranges (RFC 9110 §14),
// conditional requests (§13), caching headers, directories, nothing outside the root, and the
// WebSocket endpoint next to the files (426 for a plain GET, 101 for a handshake by hand).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildPeer } from '../peers/support/peers.js';
import { run, startServe, toolSkip, type Served } from './support/cli.js';

const CURL = '/usr/bin/curl';
const skip = toolSkip(CURL, 'apt-get install curl');

interface Response {
  status: number;
  headers: Map<string, string>;
  body: string;
}

function parse(text: string): Response {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end >= 0, `no header block in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) headers.set(line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim());
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(statusLine!)![1]), headers, body: text.slice(end + 4) };
}

async function curl(args: string[]): Promise<Response> {
  return (await curlMany([args]))[0]!;
}

/**
 * Several requests in one curl process (--next between them: each its own headers), answers
 * split by their Content-Length; HEAD requests (-I) and 304s have no body.
 */
async function curlMany(requests: string[][]): Promise<Response[]> {
  const args = requests.flatMap((request, i) => [...(i > 0 ? ['--next'] : []), '-sS', '-i', '--max-time', '5', ...request]);
  const result = await run(CURL, args, 15_000, 'latin1');
  assert.equal(result.code, 0, `curl ${args.join(' ')}: ${result.stderr}`);
  const responses: Response[] = [];
  let rest = result.stdout;
  for (const request of requests) {
    const end = rest.indexOf('\r\n\r\n');
    assert.ok(end >= 0, `no header block in ${JSON.stringify(rest.slice(0, 200))}`);
    const head = parse(rest.slice(0, end + 4));
    const length = request.includes('-I') || head.status === 304 ? 0 : Number(head.headers.get('content-length') ?? rest.length - end - 4);
    responses.push({ ...head, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return responses;
}

/** 1000 bytes: "0000 0001 0002 …" so any range can be checked by eye. */
const DATA = Array.from({ length: 200 }, (_, i) => String(i).padStart(4, '0') + ' ').join('');

describe('serve: static files and the WebSocket endpoint against curl', { skip, timeout: 60_000 }, () => {
  let dir: string;
  let outside: string;
  let served: Served;
  let base: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upshift-site-'));
    outside = mkdtempSync(join(tmpdir(), 'upshift-outside-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>home</title>\n');
    writeFileSync(join(dir, 'data.txt'), DATA);
    writeFileSync(join(dir, 'style.css'), 'body{}\n');
    writeFileSync(join(dir, 'blob.unknownext'), 'x');
    writeFileSync(join(dir, 'empty.txt'), '');
    writeFileSync(join(dir, '.secret'), 'password\n');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'a b.txt'), 'spaced\n');
    writeFileSync(join(outside, 'private.txt'), 'outside the root\n');
    symlinkSync(outside, join(dir, 'escape'));
    served = await startServe([dir, '--echo', '/echo', '-q']);
    base = served.base;
  });

  after(async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  test('index.html, content types, validators and no-cache by default', async () => {
    const [home, css, text, unknown, empty] = await curlMany([[`${base}/`], [`${base}/style.css`], [`${base}/data.txt`], [`${base}/blob.unknownext`], [`${base}/empty.txt`]]);
    assert.equal(home!.status, 200);
    assert.equal(home!.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(home!.body, '<!doctype html><title>home</title>\n');
    assert.equal(home!.headers.get('cache-control'), 'no-cache');
    assert.match(home!.headers.get('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(!Number.isNaN(Date.parse(home!.headers.get('last-modified') ?? '')));
    assert.equal(css!.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal(text!.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(unknown!.headers.get('content-type'), 'application/octet-stream');
    assert.equal(empty!.status, 200);
    assert.equal(empty!.headers.get('content-length'), '0');
  });

  test('byte ranges: 206 with Content-Range, suffix and open ranges, 416 past the end', async () => {
    const [middle, suffix, open, clipped, past, multi] = (await curlMany([
      ['-H', 'Range: bytes=10-19', `${base}/data.txt`],
      ['-H', 'Range: bytes=-5', `${base}/data.txt`],
      ['-H', 'Range: bytes=990-', `${base}/data.txt`],
      ['-H', 'Range: bytes=998-5000', `${base}/data.txt`],
      ['-H', 'Range: bytes=1000-', `${base}/data.txt`],
      ['-H', 'Range: bytes=0-1,5-6', `${base}/data.txt`],
    ])) as Response[] as [Response, Response, Response, Response, Response, Response];
    assert.equal(middle.status, 206);
    assert.equal(middle.headers.get('content-range'), 'bytes 10-19/1000');
    assert.equal(middle.headers.get('content-length'), '10');
    assert.equal(middle.body, DATA.slice(10, 20));
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers.get('content-range'), 'bytes 995-999/1000');
    assert.equal(suffix.body, DATA.slice(995));
    assert.equal(open.body, DATA.slice(990));
    assert.equal(clipped.headers.get('content-range'), 'bytes 998-999/1000');
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), 'bytes */1000');
    // Several ranges are answered with the whole file (allowed by RFC 9110 §14.2).
    assert.equal(multi.status, 200);
    assert.equal(multi.body, DATA);
  });

  test('conditional requests: 304 for a matching ETag or date, If-Range with a stale tag sends it all', async () => {
    const first = await curl([`${base}/data.txt`]);
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    const [byTag, other, byDate, oldDate, fresh, stale] = (await curlMany([
      ['-H', `If-None-Match: "nope", ${etag}`, `${base}/data.txt`],
      ['-H', 'If-None-Match: "other"', `${base}/data.txt`],
      ['-H', `If-Modified-Since: ${lastModified}`, `${base}/data.txt`],
      ['-H', 'If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT', `${base}/data.txt`],
      ['-H', 'Range: bytes=0-3', '-H', `If-Range: ${etag}`, `${base}/data.txt`],
      ['-H', 'Range: bytes=0-3', '-H', 'If-Range: "stale"', `${base}/data.txt`],
    ])) as [Response, Response, Response, Response, Response, Response];
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body, '');
    assert.equal(byTag.headers.get('etag'), etag);
    assert.equal(byTag.headers.get('cache-control'), 'no-cache');
    assert.equal(other.status, 200);
    assert.equal(byDate.status, 304);
    assert.equal(oldDate.status, 200);
    assert.equal(fresh.status, 206);
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, 1000);
  });

  test('nothing outside the root: .., encoded .., symbolic links; dot files hidden', async () => {
    const statuses = (
      await curlMany([
        ['--path-as-is', `${base}/../../../../etc/passwd`],
        ['--path-as-is', `${base}/%2e%2e/%2e%2e/etc/passwd`],
        ['--path-as-is', `${base}/sub/..%2f..%2fetc/passwd`],
        [`${base}/escape/private.txt`],
        [`${base}/.secret`],
        [`${base}/%00`],
        [`${base}/%E0%A4%A`],
      ])
    ).map((r) => r.status);
    assert.deepEqual(statuses, [403, 403, 403, 403, 404, 400, 400]);
  });

  test('directories: redirect to the slash, listing with escaped links; HEAD and POST', async () => {
    const [redirect, listing, file, head, post] = (await curlMany([
      [`${base}/sub?x=1`],
      [`${base}/sub/`],
      [`${base}/sub/a%20b.txt`],
      ['-I', `${base}/data.txt`],
      ['-X', 'POST', `${base}/data.txt`],
    ])) as [Response, Response, Response, Response, Response];
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/sub/?x=1');
    assert.equal(listing.status, 200);
    assert.match(listing.body, /<a href="a%20b\.txt">a b\.txt<\/a>/);
    assert.equal(file.body, 'spaced\n');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '1000');
    assert.equal(head.body, '');
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  test('the WebSocket path: 426 for a plain GET, 101 for a handshake by hand', async () => {
    const plain = await curl([`${base}/echo`]);
    assert.equal(plain.status, 426);
    assert.equal(plain.headers.get('upgrade'), 'websocket');
    // The connection stays open after the 101: curl runs under stdbuf so its header lines arrive
    // at once, and is stopped when the header block is complete.
    const STDBUF = '/usr/bin/stdbuf';
    const unbuffered = existsSync(STDBUF);
    const client = new ChildPeer(unbuffered ? STDBUF : CURL, [
      ...(unbuffered ? ['-o0', CURL] : []),
      '-sS', '-i', '-N', '--max-time', '3',
      '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket',
      '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '-H', 'Sec-WebSocket-Version: 13',
      `${base}/echo`,
    ]);
    try {
      const lines: string[] = [];
      for (let line = await client.nextLine(5000); line !== ''; line = await client.nextLine(5000)) lines.push(line);
      const response = parse(lines.join('\r\n') + '\r\n\r\n');
      assert.equal(response.status, 101);
      // RFC 6455 §1.3: the sample key's accept value.
      assert.equal(response.headers.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    } finally {
      await client.stop();
    }
  });
});

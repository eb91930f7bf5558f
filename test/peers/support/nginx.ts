// nginx as a reverse proxy for the peer tests: a generated configuration in a temporary
// directory (pid file, error log, temp paths all inside it), a free port (another one when that
// is taken), `daemon off` and a single process, spawned as a child and killed by its PID.
// Loopback only.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptsConnections, freePort, withTimeout } from './peers.js';

export const NGINX = '/usr/sbin/nginx';

/** One `location` block: a path prefix proxied to an upstream port with the WebSocket headers. */
export interface NginxRoute {
  path: string;
  upstreamPort: number;
  /** proxy_read_timeout (nginx syntax, e.g. '1s'). Default: '1h'. */
  readTimeout?: string;
}

/**
 * The WebSocket proxy configuration documented in docs/proxy.md: HTTP/1.1 to the upstream, the
 * hop-by-hop Upgrade and Connection headers passed on explicitly (RFC 9110 §7.6.1: a proxy drops
 * them otherwise), the client's Host, X-Forwarded-For/-Proto, and a read timeout above the
 * server's ping interval.
 */
export function nginxConfig(dir: string, port: number, routes: readonly NginxRoute[]): string {
  const locations = routes
    .map(
      (route) => `
    location ${route.path} {
      proxy_pass http://127.0.0.1:${route.upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout ${route.readTimeout ?? '1h'};
      proxy_send_timeout 1h;
    }`,
    )
    .join('\n');
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
  worker_connections 1024;
}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }
  server {
    listen 127.0.0.1:${port};
${locations}
  }
}
`;
}

export interface RunningNginx {
  port: number;
  pid: number;
  /** ws://127.0.0.1:port + path */
  url(path?: string): string;
  errorLog(): string;
  /** Kills the process by its PID (TERM, then KILL) and removes the temporary directory. */
  stop(): Promise<void>;
}

/**
 * Starts nginx in front of the routes; resolves once it accepts connections on its port. Two
 * starters may draw the same free port (freePort): when nginx cannot bind it, it is started again
 * on another.
 */
export async function startNginx(routes: readonly NginxRoute[]): Promise<RunningNginx> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNginxOnce(routes);
    } catch (error) {
      if (attempt === 3 || !/address already in use/i.test(String(error))) throw error;
    }
  }
}

async function startNginxOnce(routes: readonly NginxRoute[]): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, routes));
  const errorLog = (): string => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');

  let output = '';
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const exited = once(child, 'exit');
  let startedUp = false;
  const failed = Promise.race([exited, once(child, 'error')]).then(() => {
    if (!startedUp) throw new Error(`nginx exited at startup: ${output}\n${errorLog()}`);
  });
  failed.catch(() => {}); // awaited below while starting; exits later are stop()'s business
  // Ready once its port accepts connections (polled: nginx tells nothing when it is listening).
  const listening = (async () => {
    while (!startedUp && !(await acceptsConnections(port))) await new Promise((resolve) => setTimeout(resolve, 20));
  })();
  try {
    await withTimeout(Promise.race([listening, failed]), 10_000, 'nginx to listen');
  } catch (error) {
    child.kill('SIGKILL');
    await withTimeout(exited, 3000, 'nginx to exit after SIGKILL').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    startedUp = true; // also ends the poll
  }

  return {
    port,
    pid: child.pid!,
    url: (path = '/') => `ws://127.0.0.1:${port}${path}`,
    errorLog,
    async stop(): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM'); // nginx: fast shutdown
        try {
          await withTimeout(exited, 3000, 'nginx to exit');
        } catch {
          child.kill('SIGKILL');
          await withTimeout(exited, 3000, 'nginx to exit after SIGKILL');
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

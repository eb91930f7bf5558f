// `serve --tls`: a throwaway self-signed certificate for local use, made with the openssl command
// (node:crypto makes keys but not certificates). It names localhost, 127.0.0.1 and ::1, lasts a
// day, and lives in a temporary directory removed when the server stops.

import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificate {
  cert: Buffer;
  key: Buffer;
  /** Where the certificate was written (for `upshift connect --ca FILE`). */
  certFile: string;
  /** SHA-256 fingerprint, colon-separated hex. */
  fingerprint: string;
  /** Removes the temporary files (generated certificates only). */
  dispose(): void;
}

export function loadCertificate(certFile: string, keyFile: string): Certificate {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  return { cert, key, certFile, fingerprint: new X509Certificate(cert).fingerprint256, dispose: () => {} };
}

export function selfSignedCertificate(openssl = 'openssl'): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const run = spawnSync(
    openssl,
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '-keyout', keyFile, '-out', certFile,
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (run.error !== undefined || run.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = run.error !== undefined ? run.error.message : run.stderr.trim();
    throw new Error(`--tls needs the openssl command to make a certificate (apt-get install openssl), or pass --cert and --key: ${why}`);
  }
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const fingerprint = new X509Certificate(cert).fingerprint256;
  return { cert, key, certFile, fingerprint, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

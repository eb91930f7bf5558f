// The package's version, read from package.json (three levels up from dist/src/cli/).
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const json = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return json.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const VERSION = readVersion();

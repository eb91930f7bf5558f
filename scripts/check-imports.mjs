#!/usr/bin/env node
// Checks the imports between the modules under src/: no import cycles, and no import that goes up
// the layering (HELPERS.md, README "Layout"):
//
//   util < protocol < connection, extensions < upgrade < server, client < index < demo
//
// A module may import from its own top-level folder or from a folder of a LOWER rank; two folders
// of the same rank (connection and extensions, server and client) may not import each other.
// Every static import, re-export and import() counts, `import type` too: a layer that needs a
// higher layer's types still depends on it. TypeScript's own scanner finds them (comments and
// strings are not mistaken for imports).
//
// Known violations can be listed in scripts/import-allowlist.txt (one line as printed below);
// they are reported but do not fail the check. An allow-list line that matches nothing any more
// fails it, so the list only ever shrinks.
//
// Usage: node scripts/check-imports.mjs [--root DIR] [--allowlist FILE]
//   (defaults: src and scripts/import-allowlist.txt, relative to the repository root)

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ts = createRequire(import.meta.url)('typescript');

/** Rank of each top-level folder under the root (files directly in it are 'index'). */
const RANKS = new Map([
  ['util', 0],
  ['protocol', 1],
  // Topics and broker adapters: pure bookkeeping plus broker clients; no WebSocket knowledge.
  ['pubsub', 1],
  ['connection', 2],
  ['extensions', 2],
  ['upgrade', 3],
  ['server', 4],
  ['client', 4],
  // Applications of the API: the WAMP router and the command-line tool.
  ['wamp', 5],
  ['index', 6],
  ['demo', 7],
  ['cli', 7],
]);

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir, out) {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.(ts|mts)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The file a relative specifier names (./x.js is ./x.ts in the sources), or null. */
function resolveSpecifier(from, specifier) {
  if (!specifier.startsWith('.')) return null; // node: built-ins and packages are not layers
  const target = resolve(dirname(from), specifier);
  const candidates = [target, target.replace(/\.js$/, '.ts'), target.replace(/\.mjs$/, '.mts'), `${target}.ts`, join(target, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? null;
}

/** Strongly connected components of more than one file, or a file importing itself (Tarjan). */
function stronglyConnected(files, imports) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  let next = 0;
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
  };
  for (const start of files) {
    if (index.has(start)) continue;
    // Iterative, so that a long import chain cannot overflow the stack.
    const work = [[start, [...imports.get(start)], 0]];
    visit(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [v, targets] = frame;
      if (frame[2] < targets.length) {
        const w = targets[frame[2]++];
        if (!index.has(w)) {
          visit(w);
          work.push([w, [...imports.get(w)], 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v), index.get(w)));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(v)));
      }
      if (low.get(v) === index.get(v)) {
        const component = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1 || imports.get(v).has(v)) found.push(component);
      }
    }
  }
  return found;
}

/**
 * Checks the modules under `root` against the allow-list file. Returns the lines to print and the
 * number of failures (findings not allowed, stale allow-list lines, files outside any layer).
 */
export function checkImports(root = join(repo, 'src'), allowlistPath = join(repo, 'scripts', 'import-allowlist.txt')) {
  const base = dirname(root); // names are printed relative to the root's parent: src/…
  const name = (file) => relative(base, file).split(sep).join('/');
  const layerOf = (file) => {
    const parts = relative(root, file).split(sep);
    return parts.length === 1 ? 'index' : parts[0];
  };

  const files = walk(root, []);
  const problems = [];
  const imports = new Map();
  for (const file of files) {
    const layer = layerOf(file);
    if (!RANKS.has(layer)) problems.push(`unknown layer: ${name(file)} is in '${layer}', which has no rank in scripts/check-imports.mjs`);
    const targets = new Set();
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      const target = resolveSpecifier(file, fileName);
      if (target === null) {
        if (fileName.startsWith('.')) problems.push(`unresolved: ${name(file)} imports '${fileName}'`);
      } else if (!target.startsWith(root + sep)) {
        problems.push(`outside: ${name(file)} imports ${name(target)}, outside ${name(root)}/`);
      } else {
        targets.add(target);
      }
    }
    imports.set(file, targets);
  }

  // Layering: an import goes to the same folder or to a lower rank.
  const violations = [];
  for (const [file, targets] of imports) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (from === to || !RANKS.has(from) || !RANKS.has(to)) continue;
      if (RANKS.get(to) >= RANKS.get(from)) violations.push(`layer: ${name(file)} -> ${name(target)} (${from} may not import ${to})`);
    }
  }
  const cycles = stronglyConnected(files, imports).map((component) => `cycle: ${component.map(name).sort().join(' <-> ')}`);
  const findings = [...cycles.sort(), ...violations.sort()];

  const allowed = new Set(
    existsSync(allowlistPath)
      ? readFileSync(allowlistPath, 'utf8')
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line !== '' && !line.startsWith('#'))
      : [],
  );
  const allowlistName = relative(process.cwd(), allowlistPath) || allowlistPath;

  const lines = [...problems];
  let failures = problems.length;
  for (const finding of findings) {
    if (allowed.has(finding)) {
      lines.push(`${finding}   [allowed by ${allowlistName}]`);
    } else {
      lines.push(finding);
      failures++;
    }
  }
  for (const entry of allowed) {
    if (!findings.includes(entry)) {
      lines.push(`stale allow-list entry (fixed? delete the line from ${allowlistName}): ${entry}`);
      failures++;
    }
  }
  const allowedCount = findings.filter((f) => allowed.has(f)).length;
  lines.push(`imports: ${files.length} modules under ${name(root)}/, ${findings.length} cycle/layering finding(s) (${allowedCount} allowed), ${failures} failure(s)`);
  return { lines, failures };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (flag) => (args.includes(flag) ? resolve(args[args.indexOf(flag) + 1]) : undefined);
  const { lines, failures } = checkImports(option('--root'), option('--allowlist'));
  for (const line of lines) console.log(line);
  process.exit(failures > 0 ? 1 : 0);
}

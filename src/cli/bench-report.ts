// `bench --html FILE`: one self-contained page (inline SVG, no script, nothing fetched) with the
// run's parameters, its summary, and charts of throughput and latency over time.

import { escapeHtml } from './html.js';

export interface BenchInterval {
  /** Seconds since the start of the window, at the end of the interval. */
  t: number;
  msgs_per_s: number;
  mb_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  open: number;
}

export interface BenchResult {
  url: string;
  connections: number;
  threads: number;
  size: number;
  binary: boolean;
  in_flight: number;
  rate: number;
  deflate: boolean;
  http2: boolean;
  duration_s: number;
  /** Echoes received inside the window. */
  messages: number;
  /** Messages sent (all phases). */
  sent: number;
  msgs_per_s: number;
  /** Payload MB (10^6 bytes) per second, one direction. */
  mb_per_s: number;
  latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  handshake_ms: { p50: number; p99: number; max: number };
  errors: number;
  error_detail: { handshake: number; closed: number; mismatch: number; samples: string[] };
  open_at_end: number;
  close_codes: Record<string, number>;
  intervals: BenchInterval[];
}


/** A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least `value`. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

interface Line {
  label: string;
  color: string;
  values: number[];
}

/** A line chart as an SVG element: x is seconds into the run, y from 0 to a nice maximum. */
export function svgChart(title: string, unit: string, times: number[], lines: Line[]): string {
  const width = 720;
  const height = 260;
  const left = 64;
  const right = 16;
  const top = 34;
  const bottom = 36;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const maxT = Math.max(...times, 0.001);
  const maxY = niceMax(Math.max(0, ...lines.flatMap((l) => l.values)));
  const x = (t: number): number => left + (t / maxT) * plotW;
  const y = (v: number): number => top + plotH - (v / maxY) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="${left}" y="20" font-size="14" font-weight="600">${escapeHtml(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${Number(v.toPrecision(3))}</text>`);
  }
  parts.push(`<text x="14" y="${top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${escapeHtml(unit)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const t = (maxT * i) / 5;
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - 16}" font-size="11" text-anchor="middle">${Number(t.toFixed(1))} s</text>`);
  }
  lines.forEach((line, n) => {
    const points = line.values.map((v, i) => `${x(times[i]!).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${line.color}" stroke-width="2" points="${points}"/>`);
    parts.push(`<rect x="${width - right - 150 + n * 75}" y="10" width="12" height="3" fill="${line.color}"/>`);
    parts.push(`<text x="${width - right - 134 + n * 75}" y="15" font-size="11">${escapeHtml(line.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function benchHtml(r: BenchResult): string {
  const times = r.intervals.map((i: BenchInterval) => i.t);
  const l = r.latency_ms;
  const rows: [string, string][] = [
    ['URL', r.url],
    ['connections', `${r.connections} (${r.threads} thread${r.threads === 1 ? '' : 's'})`],
    ['message', `${r.size} B ${r.binary ? 'binary' : 'text'}`],
    ['load', r.rate > 0 ? `${r.rate} msg/s scheduled, at most ${r.in_flight} in flight per connection` : `${r.in_flight} in flight per connection`],
    ['transport', `${r.http2 ? 'HTTP/2 (RFC 8441)' : 'HTTP/1.1'}${r.deflate ? ', permessage-deflate' : ''}`],
    ['window', `${r.duration_s} s`],
    ['throughput', `${r.msgs_per_s.toLocaleString('en-US')} msg/s, ${r.mb_per_s} MB/s each way`],
    ['latency', `p50 ${l.p50} ms · p90 ${l.p90} ms · p99 ${l.p99} ms · p99.9 ${l.p999} ms · max ${l.max} ms`],
    ['errors', `${r.errors}${r.errors > 0 ? ` — ${r.error_detail.samples.join('; ')}` : ''}`],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>upshift bench ${escapeHtml(r.url)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin-bottom:20px}
th{text-align:left;padding:3px 14px 3px 0;color:#666;font-weight:500}td{padding:3px 0}svg{display:block;margin:10px 0 24px;font-family:system-ui,sans-serif;max-width:100%;height:auto}</style>
</head><body>
<h1>upshift bench</h1>
<table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
${svgChart('Throughput', 'messages per second', times, [{ label: 'msg/s', color: '#1f77b4', values: r.intervals.map((i) => i.msgs_per_s) }])}
${svgChart('Round-trip latency', 'milliseconds', times, [
  { label: 'p50', color: '#2ca02c', values: r.intervals.map((i) => i.p50_ms) },
  { label: 'p99', color: '#d62728', values: r.intervals.map((i) => i.p99_ms) },
])}
</body></html>
`;
}

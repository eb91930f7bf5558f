// `serve --dashboard` and `--metrics`: a live page at /_upshift/ (one self-contained HTML file,
// charts drawn on canvas, no CDN), its feed at /_upshift/live (a WebSocket sending a StatsSnapshot
// as JSON every second), and the same figures as Prometheus text at /_upshift/metrics
// (exposition format 0.0.4). The dashboard's own connections are not counted.

import type { WebSocketConnection, WebSocketServer } from '../index.js';
import type { StatsSnapshot, StatsSource } from './metrics.js';
import type { AnyRequest, AnyResponse } from './static.js';

/** Reserved for the dashboard: no endpoint or static file is served under it. */
export const DASHBOARD_PREFIX = '/_upshift';
export const DASHBOARD_LIVE_PATH = `${DASHBOARD_PREFIX}/live`;
export const METRICS_PATH = `${DASHBOARD_PREFIX}/metrics`;

export interface DashboardOptions {
  page: boolean;
  metrics: boolean;
  /** Feed period, ms. */
  interval: number;
}

export class Dashboard {
  readonly #source: StatsSource;
  readonly #options: DashboardOptions;
  readonly #viewers = new Set<WebSocketConnection>();
  #timer: NodeJS.Timeout | null = null;

  constructor(source: StatsSource, options: DashboardOptions) {
    this.#source = source;
    this.#options = options;
  }

  /** Answers requests under DASHBOARD_PREFIX; false for every other path. */
  handleRequest(req: AnyRequest, res: AnyResponse): boolean {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path !== DASHBOARD_PREFIX && !path.startsWith(DASHBOARD_PREFIX + '/')) return false;
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}): void => {
      const bytes = Buffer.from(body);
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-store', ...headers });
      if (req.method === 'HEAD') res.end();
      else res.end(bytes);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
    } else if (this.#options.page && path === DASHBOARD_PREFIX) {
      send(301, 'text/plain; charset=utf-8', 'Moved Permanently\n', { Location: `${DASHBOARD_PREFIX}/` });
    } else if (this.#options.page && path === `${DASHBOARD_PREFIX}/`) {
      send(200, 'text/html; charset=utf-8', DASHBOARD_PAGE, {
        // The page needs nothing from elsewhere: say so (its script and style are inline).
        'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src data:",
      });
    } else if (this.#options.metrics && path === METRICS_PATH) {
      send(200, 'text/plain; version=0.0.4; charset=utf-8', prometheusText(this.#source.snapshot()));
    } else {
      send(404, 'text/plain; charset=utf-8', 'Not Found\n');
    }
    return true;
  }

  /** The live feed: attach to each WebSocketServer mounted at DASHBOARD_LIVE_PATH. */
  attach(wss: WebSocketServer): void {
    wss.on('connection', (ws) => {
      this.#viewers.add(ws);
      ws.send(JSON.stringify(this.#source.snapshot()));
      ws.once('close', () => {
        this.#viewers.delete(ws);
        if (this.#viewers.size === 0 && this.#timer !== null) {
          clearInterval(this.#timer);
          this.#timer = null;
        }
      });
      this.#timer ??= setInterval(() => this.#push(), this.#options.interval);
    });
  }

  #push(): void {
    const json = JSON.stringify(this.#source.snapshot());
    // A viewer that does not keep up skips snapshots rather than queueing them.
    for (const ws of this.#viewers) if (ws.bufferedAmount < 256 * 1024) ws.send(json);
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}

// ------------------------------------------------------------------ Prometheus

function label(value: string): string {
  // Exposition format: backslash, double quote and line feed are escaped in label values.
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function prometheusText(s: StatsSnapshot): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [labels: string, value: number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  const endpoint = (e: StatsSnapshot['endpoints'][number]): string => `{kind="${label(e.kind)}",path="${label(e.path)}"}`;
  metric('upshift_uptime_seconds', 'gauge', 'Seconds since the server started.', [['', s.uptime / 1000]]);
  metric('upshift_connections_open', 'gauge', 'WebSocket connections open now.', s.endpoints.map((e) => [endpoint(e), e.open]));
  metric(
    'upshift_transport_connections_open',
    'gauge',
    'WebSocket connections open now, by transport (http/1.1, h2, h2c).',
    Object.entries(s.connections.byTransport).map(([transport, n]) => [`{transport="${label(transport)}"}`, n]),
  );
  metric('upshift_connections_accepted_total', 'counter', 'WebSocket handshakes accepted.', s.endpoints.map((e) => [endpoint(e), e.accepted]));
  metric(
    'upshift_handshakes_refused_total',
    'counter',
    'WebSocket handshakes refused, by HTTP status.',
    Object.entries(s.handshakes.refusedByStatus).map(([status, n]) => [`{status="${status}"}`, n]),
  );
  metric(
    'upshift_handshakes_refused_by_stage_total',
    'counter',
    'WebSocket handshakes refused, by the step that refused them (request, policy, verify, response, listener).',
    Object.entries(s.handshakes.refusedByStage).map(([stage, n]) => [`{stage="${stage}"}`, n]),
  );
  metric('upshift_messages_received_total', 'counter', 'Messages received.', s.endpoints.map((e) => [endpoint(e), e.messagesIn]));
  metric('upshift_messages_sent_total', 'counter', 'Messages sent.', s.endpoints.map((e) => [endpoint(e), e.messagesOut]));
  metric('upshift_payload_bytes_received_total', 'counter', 'Payload bytes received (before framing).', s.endpoints.map((e) => [endpoint(e), e.bytesIn]));
  metric('upshift_payload_bytes_sent_total', 'counter', 'Payload bytes sent (before framing and compression).', s.endpoints.map((e) => [endpoint(e), e.bytesOut]));
  if (s.topics.length > 0) {
    metric('upshift_topic_published_total', 'counter', 'Messages published, by topic.', s.topics.map((t) => [`{topic="${label(t.topic)}"}`, t.published]));
    metric('upshift_topic_delivered_total', 'counter', 'Copies delivered to subscribers, by topic.', s.topics.map((t) => [`{topic="${label(t.topic)}"}`, t.delivered]));
    metric('upshift_topic_subscribers', 'gauge', 'Subscribers, by topic or filter.', s.topics.map((t) => [`{topic="${label(t.topic)}"}`, t.subscribers]));
  }
  return out.join('\n') + '\n';
}

// ------------------------------------------------------------------ the page

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Upshift dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#182029; --text:#e6edf3; --dim:#8b98a5; --in:#4fc3f7; --out:#ffb74d; --conn:#81c784; --bad:#e57373; }
  * { box-sizing: border-box; }
  body { margin: 0; padding: 20px; background: var(--bg); color: var(--text); font: 14px/1.4 system-ui, sans-serif; }
  h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 14px; margin: 0 0 8px; color: var(--dim); font-weight: 600; }
  #status { color: var(--dim); margin-bottom: 16px; } #status.live::before { content: "● "; color: var(--conn); } #status.down::before { content: "● "; color: var(--bad); }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin-bottom: 14px; }
  .card, .panel { background: var(--panel); border-radius: 8px; padding: 12px 14px; }
  .card .label { color: var(--dim); font-size: 12px; } .card .value { font-size: 24px; font-variant-numeric: tabular-nums; margin-top: 2px; }
  .card .sub { color: var(--dim); font-size: 12px; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 10px; margin-bottom: 14px; }
  canvas { width: 100%; height: 160px; display: block; }
  .legend span { margin-right: 12px; font-size: 12px; } .legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
  .tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 10px; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 3px 6px; border-bottom: 1px solid #253040; } th { color: var(--dim); font-weight: 500; }
  th:first-child, td:first-child, td.text { text-align: left; } td.reason { text-align: left; color: var(--bad); }
  .empty { color: var(--dim); }
</style>
</head>
<body>
<h1>Upshift</h1>
<div id="status" class="down">connecting…</div>
<div class="cards">
  <div class="card"><div class="label">Open connections</div><div class="value" id="open">–</div><div class="sub" id="accepted">–</div></div>
  <div class="card"><div class="label">Messages in / s</div><div class="value" id="messages-in-rate">–</div><div class="sub"><span id="messages-in">–</span> total</div></div>
  <div class="card"><div class="label">Messages out / s</div><div class="value" id="messages-out-rate">–</div><div class="sub"><span id="messages-out">–</span> total</div></div>
  <div class="card"><div class="label">Bytes in / s</div><div class="value" id="bytes-in-rate">–</div><div class="sub"><span id="bytes-in">–</span> total</div></div>
  <div class="card"><div class="label">Bytes out / s</div><div class="value" id="bytes-out-rate">–</div><div class="sub"><span id="bytes-out">–</span> total</div></div>
  <div class="card"><div class="label">Handshakes refused</div><div class="value" id="refused">–</div><div class="sub">uptime <span id="uptime">–</span></div></div>
</div>
<div class="charts">
  <div class="panel"><h2>Connections</h2><canvas id="chart-connections"></canvas><div class="legend"><span><i style="background:var(--conn)"></i>open</span></div></div>
  <div class="panel"><h2>Messages per second</h2><canvas id="chart-messages"></canvas><div class="legend"><span><i style="background:var(--in)"></i>in</span><span><i style="background:var(--out)"></i>out</span></div></div>
  <div class="panel"><h2>Payload bytes per second</h2><canvas id="chart-bytes"></canvas><div class="legend"><span><i style="background:var(--in)"></i>in</span><span><i style="background:var(--out)"></i>out</span></div></div>
</div>
<div class="tables">
  <div class="panel"><h2>Endpoints</h2><table><thead><tr><th>path</th><th>kind</th><th>open</th><th>accepted</th><th>msg in</th><th>msg out</th><th>bytes in</th><th>bytes out</th></tr></thead><tbody id="endpoints"></tbody></table></div>
  <div class="panel"><h2>Topics</h2><table><thead><tr><th>topic / filter</th><th>subscribers</th><th>published</th><th>delivered</th></tr></thead><tbody id="topics"></tbody></table></div>
  <div class="panel"><h2>Recent handshake refusals</h2><table><thead><tr><th>time</th><th>status</th><th>path</th><th>from</th><th>refused by</th><th>reason</th></tr></thead><tbody id="refusals"></tbody></table></div>
</div>
<script>
"use strict";
const HISTORY = 120;
const series = { open: [], msgIn: [], msgOut: [], bytesIn: [], bytesOut: [] };
let previous = null;
const $ = (id) => document.getElementById(id);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
function count(n) { return n >= 1e9 ? (n / 1e9).toFixed(2) + "G" : n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n)); }
function bytes(n) { const u = ["B", "kB", "MB", "GB", "TB"]; let i = 0; while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; } return (i ? n.toFixed(1) : Math.round(n)) + " " + u[i]; }
function duration(ms) { const s = Math.floor(ms / 1000); return s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"; }
function push(list, value) { list.push(value); if (list.length > HISTORY) list.shift(); }
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function fill(id, rows, columns, empty) {
  const body = $(id); body.replaceChildren();
  if (rows.length === 0) { const tr = document.createElement("tr"); const td = cell(empty, "empty text"); td.colSpan = columns; tr.append(td); body.append(tr); return; }
  for (const row of rows) { const tr = document.createElement("tr"); tr.append(...row); body.append(tr); }
}
function draw(canvas, lines, format) {
  const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * ratio || canvas.height !== h * ratio) { canvas.width = w * ratio; canvas.height = h * ratio; }
  const g = canvas.getContext("2d"); g.setTransform(ratio, 0, 0, ratio, 0, 0); g.clearRect(0, 0, w, h);
  const left = 56, top = 8, bottom = 18, plotW = w - left - 6, plotH = h - top - bottom;
  let max = 1; for (const l of lines) for (const v of l.values) if (v > max) max = v;
  max *= 1.1;
  g.font = "11px system-ui, sans-serif"; g.fillStyle = css("--dim"); g.strokeStyle = "#253040"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) { const y = top + plotH - (plotH * i) / 4; g.beginPath(); g.moveTo(left, y); g.lineTo(left + plotW, y); g.stroke(); g.fillText(format((max * i) / 4), 2, y + 4); }
  g.fillText(HISTORY + " s ago", left, h - 4); g.fillText("now", left + plotW - 20, h - 4);
  for (const l of lines) {
    g.strokeStyle = css(l.color); g.lineWidth = 2; g.beginPath();
    l.values.forEach((v, i) => { const x = left + plotW - ((l.values.length - 1 - i) * plotW) / (HISTORY - 1), y = top + plotH - (v / max) * plotH; i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  }
}
function render(s) {
  const seconds = previous ? Math.max(0.001, (s.time - previous.time) / 1000) : 0;
  const rate = (now, before) => (previous ? Math.max(0, now - before) / seconds : 0);
  const r = {
    msgIn: rate(s.messages.in, previous?.messages.in), msgOut: rate(s.messages.out, previous?.messages.out),
    bytesIn: rate(s.bytes.in, previous?.bytes.in), bytesOut: rate(s.bytes.out, previous?.bytes.out),
  };
  if (previous) { push(series.open, s.connections.open); for (const k of ["msgIn", "msgOut", "bytesIn", "bytesOut"]) push(series[k], r[k]); }
  previous = s;
  $("open").textContent = count(s.connections.open); $("accepted").textContent = count(s.connections.accepted) + " accepted";
  $("messages-in-rate").textContent = count(r.msgIn); $("messages-out-rate").textContent = count(r.msgOut);
  $("bytes-in-rate").textContent = bytes(r.bytesIn); $("bytes-out-rate").textContent = bytes(r.bytesOut);
  $("messages-in").textContent = count(s.messages.in); $("messages-out").textContent = count(s.messages.out);
  $("bytes-in").textContent = bytes(s.bytes.in); $("bytes-out").textContent = bytes(s.bytes.out);
  $("refused").textContent = count(s.handshakes.refused); $("uptime").textContent = duration(s.uptime);
  fill("endpoints", s.endpoints.map((e) => [cell(e.path), cell(e.kind, "text"), cell(count(e.open)), cell(count(e.accepted)), cell(count(e.messagesIn)), cell(count(e.messagesOut)), cell(bytes(e.bytesIn)), cell(bytes(e.bytesOut))]), 8, "no endpoints");
  fill("topics", s.topics.map((t) => [cell(t.topic), cell(count(t.subscribers)), cell(count(t.published)), cell(count(t.delivered))]), 4, "no topics yet");
  fill("refusals", s.refusals.map((x) => [cell(new Date(x.time).toLocaleTimeString()), cell(String(x.status)), cell(x.path, "text"), cell(x.remote, "text"), cell(x.stage + " (" + x.transport + ")", "text"), cell(x.reason, "reason")]), 6, "none");
  draw($("chart-connections"), [{ color: "--conn", values: series.open }], count);
  draw($("chart-messages"), [{ color: "--in", values: series.msgIn }, { color: "--out", values: series.msgOut }], count);
  draw($("chart-bytes"), [{ color: "--in", values: series.bytesIn }, { color: "--out", values: series.bytesOut }], bytes);
}
function connect() {
  const socket = new WebSocket(new URL("live", location.href.replace(/^http/, "ws")));
  socket.onopen = () => { $("status").textContent = "live"; $("status").className = "live"; };
  socket.onmessage = (event) => render(JSON.parse(event.data));
  socket.onclose = () => { $("status").textContent = "disconnected, retrying…"; $("status").className = "down"; previous = null; setTimeout(connect, 2000); };
}
connect();
</script>
</body>
</html>
`;

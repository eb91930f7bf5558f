// The demo page: a text box whose messages go to /echo and come back.
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Upshift echo</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #log { border: 1px solid #ccc; min-height: 12rem; padding: .5rem; white-space: pre-wrap; }
  .in { color: #05a; } .out { color: #555; } .info { color: #888; font-style: italic; }
</style>
</head>
<body>
<h1>Upshift echo</h1>
<p>Status: <span id="status">connecting…</span></p>
<form id="form"><input id="text" autocomplete="off" placeholder="Type a message" autofocus> <button>Send</button></form>
<div id="log"></div>
<script>
  const log = document.getElementById('log');
  const status = document.getElementById('status');
  function line(text, kind) {
    const div = document.createElement('div');
    div.className = kind;
    div.textContent = text;
    log.append(div);
  }
  const url = new URL('/echo', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, ['echo']);
  ws.onopen = () => { status.textContent = 'open (subprotocol: ' + (ws.protocol || 'none') + ')'; };
  ws.onmessage = (event) => line('← ' + event.data, 'in');
  ws.onclose = (event) => { status.textContent = 'closed (' + event.code + ')'; };
  ws.onerror = () => line('connection error', 'info');
  document.getElementById('form').onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById('text');
    if (ws.readyState !== WebSocket.OPEN || input.value === '') return;
    ws.send(input.value);
    line('→ ' + input.value, 'out');
    input.value = '';
  };
</script>
</body>
</html>
`;

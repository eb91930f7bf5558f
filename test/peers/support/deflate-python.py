"""permessage-deflate peer for Upshift's interop tests, on python-websockets 10.x (Debian 12).

  deflate-python.py server OPTIONS_JSON
      An echo server on 127.0.0.1 and a free port with ServerPerMessageDeflateFactory(**OPTIONS).
      Prints {"port"} once listening, then {"event": "connection", "extensions"} per connection
      (the Sec-WebSocket-Extensions it answered) and {"event": "closed", "code"}.
  deflate-python.py client OPTIONS_JSON URL
      Connects with ClientPerMessageDeflateFactory(**OPTIONS), prints {"event": "open",
      "extensions"} (the server's answer), sends a fixed set of text and binary messages to an echo
      server, checks every echo byte for byte and in order, closes with 1000, and prints
      {"ok": true, "count", "bytes", "published"} or {"error"}. Text messages starting with
      "published:" (the server's broadcasts and publishes between the echoes) are not echoes:
      "published" lists their SHA-256 digests, in order.

JSON lines on stdout; stops when stdin closes, or after a bounded lifetime.
"""

import asyncio
import hashlib
import json
import os
import sys
import threading

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

LIFETIME = 120  # seconds; the test stops the process long before
TIMEOUT = 20


def emit(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def json_text(size, seed=0):
    parts = []
    length = 0
    i = seed
    while length < size:
        line = json.dumps({"id": i, "user": "user%d" % (i % 31), "n": (i * 7919) % 1000}) + "\n"
        parts.append(line)
        length += len(line)
        i += 1
    return "".join(parts)[:size]


def messages():
    repeated = json_text(3000, 7)
    return [
        json_text(10),
        repeated,
        repeated,
        "",
        os.urandom(40000),
        "a\u00e9\u20ac\U0001f600" * 500,
        json_text(300000, 3),
        repeated,
        json_text(1024 * 1024 + 3, 11),
    ]


async def stdin_closed():
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(closed.set)), daemon=True).start()
    try:
        await asyncio.wait_for(closed.wait(), LIFETIME)
    except asyncio.TimeoutError:
        pass


async def echo(ws, path=None):
    emit({"event": "connection", "extensions": ws.response_headers.get("Sec-WebSocket-Extensions")})
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    emit({"event": "closed", "code": ws.close_code})


async def serve(options):
    async with websockets.serve(
        echo,
        "127.0.0.1",
        0,
        compression=None,
        extensions=[ServerPerMessageDeflateFactory(**options)],
        max_size=None,
        ping_interval=None,
    ) as server:
        emit({"port": server.sockets[0].getsockname()[1], "version": websockets.__version__})
        await stdin_closed()


async def client(options, url):
    ws = await asyncio.wait_for(
        websockets.connect(
            url,
            compression=None,
            extensions=[ClientPerMessageDeflateFactory(**options)],
            max_size=None,
            ping_interval=None,
        ),
        TIMEOUT,
    )
    emit({"event": "open", "extensions": ws.response_headers.get("Sec-WebSocket-Extensions")})
    sent = messages()
    for message in sent:
        await asyncio.wait_for(ws.send(message), TIMEOUT)
    total = 0
    published = []
    for index, message in enumerate(sent):
        echoed = await asyncio.wait_for(ws.recv(), TIMEOUT)
        while isinstance(echoed, str) and echoed.startswith("published:"):
            published.append(hashlib.sha256(echoed.encode("utf-8")).hexdigest())
            echoed = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if echoed != message:
            emit({"error": "echo %d differs (type %s, %d bytes)" % (index, type(echoed).__name__, len(echoed))})
            await ws.close(1011)
            return
        total += len(message.encode("utf-8") if isinstance(message, str) else message)
    await asyncio.wait_for(ws.close(1000), TIMEOUT)
    emit({"ok": True, "count": len(sent), "bytes": total, "published": published, "close_code": ws.close_code})


def main():
    mode = sys.argv[1]
    options = json.loads(sys.argv[2])
    if mode == "server":
        asyncio.run(serve(options))
    else:
        try:
            asyncio.run(client(options, sys.argv[3]))
        except Exception as error:  # reported to the test, which fails with it
            emit({"error": "%s: %s" % (type(error).__name__, error)})


if __name__ == "__main__":
    main()

"""A python-websockets echo server on 127.0.0.1 and a free port, for Upshift's client tests.

Prints JSON lines on stdout: {"port"} once listening, then {"event": "connection", "path",
"subprotocol"} and {"event": "closed", "code", "reason"} per connection. Text messages starting
with "cmd:" are commands instead of being echoed:
  cmd:close CODE REASON   the server closes with that code and reason
  cmd:ping HEX            the server pings with that payload, then sends "pong:HEX" once answered
  cmd:fragments           the server sends "one two three" in three frames, then b"\\x01\\x02\\x03" in two
Stops when stdin closes, or after a bounded lifetime. Written for websockets 10.x (Debian 12).
"""

import asyncio
import json
import sys
import threading

import websockets

LIFETIME = 120  # seconds; the test kills the process long before


def emit(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


async def handler(ws, path=None):
    emit({"event": "connection", "path": getattr(ws, "path", path), "subprotocol": ws.subprotocol})
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("cmd:"):
                words = message[4:].split(" ", 2)
                if words[0] == "close":
                    await ws.close(int(words[1]), words[2] if len(words) > 2 else "")
                elif words[0] == "ping":
                    waiter = await ws.ping(bytes.fromhex(words[1]))
                    await asyncio.wait_for(waiter, 10)
                    await ws.send("pong:" + words[1])
                elif words[0] == "fragments":
                    await ws.send(["one ", "two ", "three"])
                    await ws.send([b"\x01\x02", b"\x03"])
                continue
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    emit({"event": "closed", "code": ws.close_code, "reason": ws.close_reason})


async def main():
    loop = asyncio.get_running_loop()
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["echo", "chat"],
        max_size=None,
        compression=None,
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        emit({"port": port, "version": websockets.__version__})
        # A daemon thread waits for stdin to close, so that no wait outlives the process.
        stdin_closed = asyncio.Event()
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stdin_closed.set)), daemon=True
        ).start()
        try:
            await asyncio.wait_for(stdin_closed.wait(), LIFETIME)
        except asyncio.TimeoutError:
            pass


if __name__ == "__main__":
    asyncio.run(main())

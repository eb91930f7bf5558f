"""A python-websockets client driven by JSON lines on stdin; one JSON answer per line on stdout.

Requests: {"op": "connect", "url", "subprotocols"?}, {"op": "send", "text"? | "b64"?, "fragments"?},
{"op": "recv"}, {"op": "ping", "hex"}, {"op": "close", "code", "reason"}, {"op": "wait_closed"}.
Received messages are answered with their type, length and SHA-256, not their bytes.
Written for websockets 10.x (Debian 12) and later; every wait is bounded.
"""

import asyncio
import base64
import hashlib
import json
import sys

import websockets

TIMEOUT = 10


def answer(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def closed_info(ws):
    return {"code": ws.close_code, "reason": ws.close_reason}


def payload_of(request):
    if "text" in request:
        return request["text"]
    return base64.b64decode(request["b64"])


async def handle(ws, request):
    op = request["op"]
    if op == "connect":
        ws = await asyncio.wait_for(
            websockets.connect(
                request["url"],
                subprotocols=request.get("subprotocols"),
                max_size=None,
                compression=None,
                ping_interval=None,
            ),
            TIMEOUT,
        )
        return ws, {"ok": True, "subprotocol": ws.subprotocol}
    if op == "send":
        if "fragments" in request:
            # An iterable sends one message in several frames (RFC 6455 §5.4).
            parts = [payload_of(part) for part in request["fragments"]]
            await asyncio.wait_for(ws.send(parts), TIMEOUT)
        else:
            await asyncio.wait_for(ws.send(payload_of(request)), TIMEOUT)
        return ws, {"ok": True}
    if op == "recv":
        data = await asyncio.wait_for(ws.recv(), TIMEOUT)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        kind = "text" if isinstance(data, str) else "binary"
        return ws, {"type": kind, "length": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    if op == "ping":
        # The waiter resolves when a pong with the same payload arrives.
        waiter = await ws.ping(bytes.fromhex(request["hex"]))
        await asyncio.wait_for(waiter, TIMEOUT)
        return ws, {"ok": True}
    if op == "close":
        await asyncio.wait_for(ws.close(request["code"], request.get("reason", "")), TIMEOUT)
        return ws, closed_info(ws)
    if op == "wait_closed":
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        return ws, closed_info(ws)
    raise ValueError("unknown op " + op)


async def main():
    loop = asyncio.get_running_loop()
    ws = None
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        request = json.loads(line)
        try:
            ws, result = await handle(ws, request)
        except Exception as error:  # reported to the test, which decides
            result = {"error": type(error).__name__, "message": str(error)}
        answer(result)
    if ws is not None:
        await asyncio.wait_for(ws.close(), TIMEOUT)


if __name__ == "__main__":
    answer({"ready": True, "version": websockets.__version__})
    asyncio.run(main())

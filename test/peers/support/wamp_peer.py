#!/usr/bin/env python3
# A WAMP peer for Upshift's router tests: Autobahn|Python (asyncio), driven by JSON lines on stdin
# and answering with JSON lines on stdout. Written for these tests; the WAMP client is Autobahn's.
#
# Usage: wamp_peer.py <url> <realm> <json|msgpack> [authmethod authid secret]
# Prints {"joined": session} once the session is open, or {"closed": reason} if it never opens.
# Commands (one JSON object per line; each answered with one line carrying the same "id"):
#   {"id": 1, "op": "register", "procedure": "com.x", "reply": "py", "options": {...}}
#       the procedure returns [reply, *args], or yields progress for each arg when asked
#   {"id": 2, "op": "call", "procedure": "com.x", "args": [...], "kwargs": {...}, "progress": true}
#       answers {"result": [args, kwargs], "progress": [[args]...]} or {"error": uri}
#   {"id": 3, "op": "subscribe", "topic": "com.t", "options": {...}}
#       then every event is printed as {"event": topic, "args": [...], "kwargs": {...}, "details": {...}}
#   {"id": 4, "op": "publish", "topic": "com.t", "args": [...], "kwargs": {...}, "options": {...}}
#   {"id": 5, "op": "leave"}

import asyncio
import base64
import json
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions, SubscribeOptions

URL, REALM, SERIALIZER = sys.argv[1], sys.argv[2], sys.argv[3]
AUTH = sys.argv[4:7] if len(sys.argv) >= 7 else None


def plain(value):
    """JSON-safe: bytes become {"bytes": base64}."""
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def wire(value):
    """The reverse of plain(): {"bytes": base64} becomes bytes."""
    if isinstance(value, dict):
        if list(value.keys()) == ["bytes"]:
            return base64.b64decode(value["bytes"])
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Peer(ApplicationSession):
    def onConnect(self):
        if AUTH is None:
            self.join(REALM)
        else:
            self.join(REALM, authmethods=[AUTH[0]], authid=AUTH[1])

    def onChallenge(self, challenge):
        method, _, secret = AUTH
        if challenge.method == "ticket":
            return secret
        if challenge.method == "wampcra":
            key = secret
            if "salt" in challenge.extra:
                key = auth.derive_key(secret, challenge.extra["salt"], challenge.extra["iterations"], challenge.extra["keylen"])
            return auth.compute_wcs(key, challenge.extra["challenge"])
        raise Exception("unexpected challenge " + challenge.method)

    def onJoin(self, details):
        out({"joined": details.session, "authrole": details.authrole})
        # asyncio keeps only weak references to tasks: hold them, or a waiting one is collected.
        self.tasks = set()
        self.keep(self.commands())

    def keep(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def commands(self):
        loop = asyncio.get_event_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                break
            self.keep(self.run(json.loads(line)))

    async def run(self, c):
        op, cid = c["op"], c["id"]
        try:
            if op == "register":
                reply = c.get("reply", "py")

                async def endpoint(*args, **kwargs):
                    details = kwargs.pop("details", None)
                    if details is not None and details.progress is not None:
                        for arg in args:
                            details.progress(arg)
                    return [reply] + list(args)

                options = RegisterOptions(details_arg="details", **c.get("options", {}))
                registration = await self.register(endpoint, c["procedure"], options=options)
                out({"id": cid, "registration": registration.id})
            elif op == "call":
                progress = []
                options = CallOptions(on_progress=(lambda *a, **k: progress.append(plain(list(a))))) if c.get("progress") else None
                args = wire(c.get("args", []))
                kwargs = wire(c.get("kwargs", {}))
                if options is not None:
                    result = await self.call(c["procedure"], *args, options=options, **kwargs)
                else:
                    result = await self.call(c["procedure"], *args, **kwargs)
                out({"id": cid, "result": plain(result if not hasattr(result, "results") else [result.results, result.kwresults]), "progress": progress})
            elif op == "subscribe":
                topic = c["topic"]

                def handler(*args, **kwargs):
                    details = kwargs.pop("details", None)
                    out({"event": topic, "args": plain(list(args)), "kwargs": plain(kwargs), "publisher": getattr(details, "publisher", None), "topic": getattr(details, "topic", None)})

                options = SubscribeOptions(details_arg="details", **c.get("options", {}))
                subscription = await self.subscribe(handler, topic, options=options)
                out({"id": cid, "subscription": subscription.id})
            elif op == "publish":
                options = PublishOptions(acknowledge=True, **c.get("options", {}))
                publication = await self.publish(c["topic"], *wire(c.get("args", [])), options=options, **wire(c.get("kwargs", {})))
                out({"id": cid, "publication": publication.id})
            elif op == "leave":
                out({"id": cid, "left": True})
                self.leave()
        except ApplicationError as error:
            out({"id": cid, "error": error.error, "args": plain(list(error.args))})
        except Exception as error:  # noqa: BLE001 - report anything to the test
            out({"id": cid, "exception": repr(error)})

    def onLeave(self, details):
        out({"left": details.reason})
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


if __name__ == "__main__":
    serializers = [MsgPackSerializer()] if SERIALIZER == "msgpack" else [JsonSerializer()]
    runner = ApplicationRunner(URL, REALM, serializers=serializers)
    try:
        runner.run(Peer)
    except Exception as error:  # noqa: BLE001
        out({"closed": repr(error)})

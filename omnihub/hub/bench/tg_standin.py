"""A Telegram Bot API stand-in that enforces the flood limits (flood.py), for the
outbound benchmark.

Run as `python -m omnihub.hub.bench.tg_standin --port P --token T`. It answers
`POST /bot<T>/<method>` as the Bot API does: sendMessage (and the other send methods)
are admitted or refused with 429 and `parameters.retry_after`; any other method is
answered `{"ok": true, "result": true}`. `GET /stats` returns what it accepted
(chat and arrival time on the machine's monotonic clock, shared with the bench
process) and how many it refused, by which limit. It runs in its own process so its
arrival stamps don't wait behind the bench's own work.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
from aiohttp import web

from omnihub.hub.bench.bare import new_loop, ready
from omnihub.hub.bench.flood import FloodPolicy

SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendLocation",
                          "sendContact", "sendVoice", "sendVideo", "sendAudio"})
POLICY = web.AppKey("policy", FloodPolicy)


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def method(request: web.Request) -> web.Response:
    now = time.monotonic()
    name = request.match_info["method"]
    params = orjson.loads(await request.read() or b"{}") \
        if request.content_type == "application/json" else dict(await request.post())
    if name not in SEND_METHODS:
        return _json({"ok": True, "result": True})
    policy = request.app[POLICY]
    chat_id = str(params.get("chat_id"))
    retry_after = policy.admit(chat_id, now)
    if retry_after is not None:
        return _json({"ok": False, "error_code": 429,
                      "description": f"Too Many Requests: retry after {retry_after}",
                      "parameters": {"retry_after": retry_after}}, status=429)
    chat = int(chat_id) if chat_id.lstrip("-").isdigit() else 0
    return _json({"ok": True, "result": {
        "message_id": len(policy.accepted), "date": int(time.time()),
        "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
        "text": params.get("text", "")}})


async def stats(request: web.Request) -> web.Response:
    policy = request.app[POLICY]
    return _json({"accepted": policy.accepted, "refused_bot": policy.refused_bot,
                  "refused_chat": policy.refused_chat})


def make_app(token: str, policy: FloodPolicy) -> web.Application:
    app = web.Application()
    app[POLICY] = policy
    app.router.add_post(f"/bot{token}/{{method}}", method)
    app.router.add_get("/stats", stats)
    app.router.add_get("/readyz", ready)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--per-second", type=float, default=30.0)
    parser.add_argument("--per-chat-per-second", type=float, default=1.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    policy = FloodPolicy(per_second=args.per_second,
                         per_chat_per_second=args.per_chat_per_second)
    web.run_app(make_app(args.token, policy), host="127.0.0.1", port=args.port,
                access_log=None, print=None, loop=new_loop(args.loop))


if __name__ == "__main__":
    main()

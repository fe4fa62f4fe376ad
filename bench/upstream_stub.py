"""A minimal OpenAI-compatible upstream for benchmarks and tests: fixed replies, no model.

It answers /v1/chat/completions and /v1/completions, streamed or not, with `--tokens` tokens of
"tok" (fewer if the request's `max_tokens` says so), optionally `--delay` seconds apart, and
reports usage (on streams only when `stream_options.include_usage` is set), unless `--no-usage`.
It does as little as possible, so that the gateway's own overhead is what shows. The tests use it
too, as a deterministic upstream.

    python bench/upstream_stub.py --port 9001 --tokens 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

PROMPT_TOKENS = 10


def make_app(tokens: int = 16, report_usage: bool = True, delay_s: float = 0.0) -> Any:
    """The ASGI app; `delay_s` waits before each token (a slow engine, for load and crash tests)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if scope["method"] == "GET" and path.endswith("/models"):
            await _json(send, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
            return
        request = json.loads(body or b"{}")
        chat = path.endswith("/chat/completions")
        created = int(time.time())
        n = min(tokens, int(request.get("max_tokens") or tokens))
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": n, "total_tokens": PROMPT_TOKENS + n}
        if not request.get("stream"):
            if delay_s:
                await asyncio.sleep(delay_s * n)
            if chat:
                message = {"role": "assistant", "content": "tok " * n}
                choice = {"index": 0, "message": message, "finish_reason": "length"}
            else:
                choice = {"index": 0, "text": "tok " * n, "finish_reason": "length"}
            reply: dict[str, Any] = {"id": "stub-1", "object": "chat.completion" if chat else "text_completion",
                                     "created": created, "model": request.get("model", "stub"), "choices": [choice]}
            if report_usage:
                reply["usage"] = usage
            await _json(send, reply)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        obj = "chat.completion.chunk" if chat else "text_completion"
        for i in range(n):
            if delay_s:
                await asyncio.sleep(delay_s)
            piece = {"delta": {"content": "tok "}} if chat else {"text": "tok "}
            chunk = {"id": "stub-1", "object": obj, "created": created, "model": "stub",
                     "choices": [{"index": 0, **piece, "finish_reason": "length" if i == n - 1 else None}]}
            await send({"type": "http.response.body", "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                        "more_body": True})
        if report_usage and (request.get("stream_options") or {}).get("include_usage"):
            final = {"id": "stub-1", "object": obj, "created": created, "model": "stub", "choices": [], "usage": usage}
            await send({"type": "http.response.body", "body": b"data: " + json.dumps(final).encode() + b"\n\n",
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    return app


async def _json(send: Any, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each token")
    parser.add_argument("--no-usage", action="store_true")
    args = parser.parse_args()
    uvicorn.run(make_app(args.tokens, not args.no_usage, args.delay), host=args.host, port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

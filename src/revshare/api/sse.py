"""The SSE writer: OpenAI's `data: {...}` stream events, the usage chunk, the record trailer, and
the response that sends them (`EventStream`).

`OPENAI_WIRE` is what the serving core writes bodies, errors and events with, so the exact bytes
a client receives (and an Idempotency-Key replays) are decided here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from revshare.api.disconnect import ClientGone, cancel_on_disconnect
from revshare.api.errors import REFUSAL_STATUS, engine_error_body, engine_error_status, error_body
from revshare.engines import json_wire
from revshare.engines.base import EngineError
from revshare.metering.refusal import Refusal

__all__ = ["OPENAI_WIRE", "EventStream", "OpenAIWire", "WireJSONResponse", "sse_event", "stream_trailer"]

_CHUNK_OBJECT = {"chat.completions": "chat.completion.chunk", "completions": "text_completion"}


def sse_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json_wire.dumps(payload) + b"\n\n"


def stream_trailer(endpoint: str, response_id: str, model: str, record_id: str, seq: int | None,
                   usage: dict[str, Any] | None, created: int) -> bytes:
    """The end of a stream: the usage chunk (when asked), the record's name, [DONE]."""
    out = b""
    if usage is not None:
        out += sse_event({
            "id": response_id, "object": _CHUNK_OBJECT[endpoint], "created": created,
            "model": model, "choices": [], "usage": usage,
            "revshare": {"record_id": record_id, "seq": seq},
        })
    # Every stream names its record before [DONE], in an SSE comment that clients skip.
    out += b": revshare " + json.dumps({"record_id": record_id, "seq": seq}).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


class OpenAIWire:
    """`revshare.serving.run.Wire` in OpenAI's formats."""

    trailer = staticmethod(stream_trailer)

    def error(self, exc: EngineError) -> tuple[int, str]:
        return engine_error_body(exc)

    def event(self, payload: dict[str, Any]) -> bytes:
        return sse_event(payload)

    def stream_error(self, exc: EngineError | Refusal) -> bytes:
        if isinstance(exc, Refusal):
            return sse_event(error_body(REFUSAL_STATUS[exc.kind], exc.message, exc.kind.value, exc.param))
        return sse_event(error_body(engine_error_status(exc), exc.message, exc.code, exc.param))


OPENAI_WIRE = OpenAIWire()


class WireJSONResponse(JSONResponse):
    """A whole reply's JSON, compact UTF-8 as Starlette's `JSONResponse` writes it, encoded by
    orjson (`engines.json_wire`)."""

    def render(self, content: Any) -> bytes:
        return json_wire.dumps(content)


class EventStream(Response):
    """A `text/event-stream` answer sent straight from its events, one ASGI message each.

    Starlette's `StreamingResponse` runs every stream in a task group with a second task that
    waits for the client to leave: about a sixth of the event loop's time for a short stream
    (docs/BENCHMARKS.md). Here a stream that ends within `api.disconnect.WATCH_AFTER_S` starts
    nothing, and a longer one is watched as a whole answer is: the client leaving cancels the
    stream where it waits, its generator records what was produced (`serving.run`) and stops the
    engine. A server that refuses a send (the client left) ends it the same way.
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        # As `StreamingResponse` does: no body, so no Content-Length among the headers.
        self.events = events
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        events = self.events
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async with cancel_on_disconnect(receive):
                async for event in events:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientGone:
            pass  # the stream was cancelled where it waited, and recorded
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

"""The SSE writer: OpenAI's `data: {...}` stream events, the usage chunk, the record trailer.

`OPENAI_WIRE` is what the serving core writes bodies, errors and events with, so the exact bytes
a client receives (and an Idempotency-Key replays) are decided here.
"""

from __future__ import annotations

import json
from typing import Any

from revshare.api.errors import REFUSAL_STATUS, engine_error_body, engine_error_status, error_body
from revshare.engines.base import EngineError
from revshare.metering.refusal import Refusal

__all__ = ["OPENAI_WIRE", "OpenAIWire", "sse_event", "stream_trailer"]

_CHUNK_OBJECT = {"chat.completions": "chat.completion.chunk", "completions": "text_completion"}


def sse_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


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

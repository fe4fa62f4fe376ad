"""OpenAI's Responses objects and typed stream events, written from a chat completion's body and chunks.

    response_object(chat_body, request) -> the `response` object of a whole answer
    ResponsesWire(request)              -> `serving.run.Wire` for one streamed Responses call

A stream goes: `response.created`, `response.in_progress`, `response.output_item.added`,
`response.content_part.added`, one `response.output_text.delta` per chunk with text, then
`response.output_text.done`, `response.content_part.done`, `response.output_item.done` and
`response.completed` (or `response.incomplete` when max_output_tokens cut it short) with the
usage, each with its `sequence_number`. The record's name follows in an SSE comment, as on
chat streams. A failure after the first byte is an `error` event.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from revshare.api.errors import REFUSAL_STATUS, engine_error_body, engine_error_status
from revshare.engines.base import EngineError
from revshare.metering.refusal import Refusal
from revshare.serving.run import Trailer

__all__ = ["ResponsesWire", "response_object", "responses_usage"]


class Asked(Protocol):
    """What a response object repeats of its request."""

    model: str
    instructions: str | None
    max_output_tokens: int | None
    temperature: float | None
    top_p: float | None
    user: str | None


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """A chat `usage` (the record's tokens) as Responses names it."""
    if usage is None:
        return None
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return {"input_tokens": usage["prompt_tokens"], "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": usage["completion_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["total_tokens"]}


def _message(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}] if status != "in_progress" else []}


def _shell(response_id: str, model: str, asked: Asked, created: int, status: str) -> dict[str, Any]:
    return {"id": response_id, "object": "response", "created_at": created, "status": status, "model": model,
            "output": [], "usage": None, "error": None, "incomplete_details": None, "instructions": asked.instructions,
            "max_output_tokens": asked.max_output_tokens, "temperature": asked.temperature, "top_p": asked.top_p,
            "parallel_tool_calls": False, "tool_choice": "none", "tools": [], "store": False, "metadata": {},
            "previous_response_id": None, "text": {"format": {"type": "text"}}, "truncation": "disabled",
            "user": asked.user}


def response_object(chat: dict[str, Any], asked: Asked) -> dict[str, Any]:
    """The Responses answer to a chat completion body (its id already `resp_<record id>`)."""
    choice = (chat.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    cut = choice.get("finish_reason") == "length"
    out = _shell(chat["id"], chat["model"], asked, int(chat.get("created") or time.time()),
                 "incomplete" if cut else "completed")
    out["output"] = [_message("msg_" + chat["id"].removeprefix("resp_"), text, "incomplete" if cut else "completed")]
    out["usage"] = responses_usage(chat.get("usage"))
    if cut:
        out["incomplete_details"] = {"reason": "max_output_tokens"}
    return out


def _sse(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


class ResponsesWire:
    """`revshare.serving.run.Wire` for one Responses stream: chat chunks in, typed events out."""

    def __init__(self, asked: Asked) -> None:
        self.asked = asked
        self.sequence = 0
        self.text: list[str] = []
        self.finish: str | None = None
        self.opened = False
        self.created = int(time.time())
        self.trailer: Trailer = self._trailer  # `Wire.trailer`: the end of the stream

    def _next(self, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self.sequence
        self.sequence += 1
        return _sse(payload)

    def _item(self, response_id: str) -> str:
        return "msg_" + response_id.removeprefix("resp_")

    def _open(self, response_id: str, model: str) -> bytes:
        self.opened = True
        shell = _shell(response_id, model, self.asked, self.created, "in_progress")
        item = self._item(response_id)
        return b"".join([
            self._next({"type": "response.created", "response": shell}),
            self._next({"type": "response.in_progress", "response": shell}),
            self._next({"type": "response.output_item.added", "output_index": 0,
                        "item": _message(item, "", "in_progress")}),
            self._next({"type": "response.content_part.added", "item_id": item, "output_index": 0,
                        "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ])

    def error(self, exc: EngineError) -> tuple[int, str]:
        return engine_error_body(exc)

    def event(self, payload: dict[str, Any]) -> bytes:
        out = b"" if self.opened else self._open(payload["id"], payload["model"])
        choice = (payload.get("choices") or [{}])[0]
        self.finish = choice.get("finish_reason") or self.finish
        delta = (choice.get("delta") or {}).get("content")
        if delta:
            self.text.append(delta)
            out += self._next({"type": "response.output_text.delta", "item_id": self._item(payload["id"]),
                               "output_index": 0, "content_index": 0, "delta": delta, "logprobs": []})
        return out

    def stream_error(self, exc: EngineError | Refusal) -> bytes:
        if isinstance(exc, Refusal):
            status, code, param = REFUSAL_STATUS[exc.kind], exc.kind.value, exc.param
        else:
            status, code, param = engine_error_status(exc), exc.code, exc.param
        return self._next({"type": "error", "code": code, "message": exc.message, "param": param, "status": status})

    def _trailer(self, endpoint: str, response_id: str, model: str, record_id: str, seq: int | None,
                usage: dict[str, Any] | None, created: int) -> bytes:
        out = b"" if self.opened else self._open(response_id, model)
        item, text = self._item(response_id), "".join(self.text)
        cut = self.finish == "length"
        status = "incomplete" if cut else "completed"
        final = _shell(response_id, model, self.asked, self.created, status)
        final["output"] = [_message(item, text, status)]
        final["usage"] = responses_usage(usage)
        if cut:
            final["incomplete_details"] = {"reason": "max_output_tokens"}
        part = {"type": "output_text", "text": text, "annotations": []}
        out += b"".join([
            self._next({"type": "response.output_text.done", "item_id": item, "output_index": 0, "content_index": 0,
                        "text": text, "logprobs": []}),
            self._next({"type": "response.content_part.done", "item_id": item, "output_index": 0,
                        "content_index": 0, "part": part}),
            self._next({"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]}),
            self._next({"type": f"response.{status}", "response": final}),
        ])
        return out + b": revshare " + json.dumps({"record_id": record_id, "seq": seq}).encode() + b"\n\n"

"""Issue 17 item 3 and issue 11 item 6 on the embedded engine: a client's mistake is a 400 that
says what is wrong, never llama.cpp's text and never an engine failure (502); nothing is charged."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from revshare.records.record import Outcome
from tests.support.servers import Running

pytestmark = pytest.mark.engine

MODEL = "gemma-3-270m"
CHAT = "/v1/chat/completions"
TOOL_TURN = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
]


def post(gw: Running, body: dict[str, Any], path: str = CHAT) -> httpx.Response:
    return httpx.post(gw.url + path, json=body, headers={"Authorization": f"Bearer {gw.keys['demo']}"}, timeout=120)


def error_of(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert "Traceback" not in error["message"]
    return error


def _uncharged_rejection(gw: Running, r: httpx.Response) -> None:
    record_id = r.headers.get("x-revshare-record-id")
    if record_id is not None:  # it reached the engine: recorded as the client's mistake, free
        record = gw.record(record_id)
        assert record.outcome is Outcome.REJECTED and record.amount == 0


@pytest.mark.parametrize("stream", [False, True])
def test_an_assistant_turn_with_tool_calls_and_no_content_is_served(embedded_gateway: Running, stream: bool) -> None:
    for messages in (TOOL_TURN, [TOOL_TURN[0], {k: v for k, v in TOOL_TURN[1].items() if k != "content"}]):
        r = post(embedded_gateway, {"model": MODEL, "messages": messages, "max_tokens": 2, "stream": stream})
        assert r.status_code == 200, r.text
        if stream:
            assert "data: [DONE]" in r.text and '"error"' not in r.text


@pytest.mark.parametrize("stream", [False, True])
def test_a_user_message_without_content_is_a_400_not_an_engine_error(embedded_gateway: Running, stream: bool) -> None:
    for message in ({"role": "user", "content": None}, {"role": "user"}):
        r = post(embedded_gateway, {"model": MODEL, "messages": [message], "max_tokens": 2, "stream": stream})
        error = error_of(r)
        assert error["param"] == "messages[0].content" and error["code"] != "engine_error"


def test_content_parts_reach_the_model_as_their_text(embedded_gateway: Running) -> None:
    plain = post(embedded_gateway, {"model": MODEL, "max_tokens": 1, "messages": [
        {"role": "user", "content": "Name three colours."}]})
    parts = post(embedded_gateway, {"model": MODEL, "max_tokens": 1, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Name three colours."}]}]})
    assert plain.status_code == parts.status_code == 200, parts.text
    assert parts.json()["usage"]["prompt_tokens"] == plain.json()["usage"]["prompt_tokens"]


def test_an_image_for_a_text_only_model_is_a_400(embedded_gateway: Running) -> None:
    r = post(embedded_gateway, {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]})
    error = error_of(r)
    assert error["param"] == "messages[0].content[1]" and "text" in error["message"]
    _uncharged_rejection(embedded_gateway, r)


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_over_the_context_is_context_length_exceeded(embedded_gateway: Running, stream: bool) -> None:
    body = {"model": MODEL, "max_tokens": 2, "stream": stream, "messages": [{"role": "user", "content": "word " * 5000}]}
    r = post(embedded_gateway, body)
    error = error_of(r)
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert "2048" in error["message"] and "Requested tokens" not in error["message"]
    _uncharged_rejection(embedded_gateway, r)
    text = post(embedded_gateway, {"model": MODEL, "max_tokens": 2, "stream": stream, "prompt": "word " * 5000},
                "/v1/completions")
    error = error_of(text)
    assert error["code"] == "context_length_exceeded" and error["param"] == "prompt"


@pytest.mark.parametrize(("path", "body"), [
    (CHAT, {"messages": [{"role": "user", "content": "hi"}], "logprobs": True}),
    (CHAT, {"messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 2, "stream": True}),
    ("/v1/completions", {"prompt": "hi", "logprobs": 1}),
])
def test_logprobs_are_refused_clearly(embedded_gateway: Running, path: str, body: dict[str, Any]) -> None:
    r = post(embedded_gateway, {"model": MODEL, "max_tokens": 1, **body}, path)
    error = error_of(r)
    assert error["param"] == "logprobs" and error["code"] == "unsupported_parameter"
    assert "logits_all" not in error["message"]
    _uncharged_rejection(embedded_gateway, r)


def test_logprobs_false_is_fine(embedded_gateway: Running) -> None:
    r = post(embedded_gateway, {"model": MODEL, "max_tokens": 1, "logprobs": False,
                                "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text


def test_logit_bias_beyond_the_vocabulary_is_a_400(embedded_gateway: Running) -> None:
    body = {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
    r = post(embedded_gateway, {**body, "logit_bias": {"2000000000": 5}})
    error = error_of(r)
    assert error["param"] == "logit_bias" and "vocabulary" in error["message"]
    _uncharged_rejection(embedded_gateway, r)
    ok = post(embedded_gateway, {**body, "logit_bias": {"1": -100, "2": 5.5}})
    assert ok.status_code == 200, ok.text


def test_a_stream_error_body_is_json(embedded_gateway: Running) -> None:
    r = post(embedded_gateway, {"model": MODEL, "max_tokens": 2, "stream": True, "logprobs": True,
                                "messages": [{"role": "user", "content": "hi"}]})
    assert r.headers["content-type"].startswith("application/json")
    json.loads(r.text)


FUNCTION = {"type": "function", "function": {"name": "weather"}}


@pytest.mark.parametrize(("extra", "status", "param"), [
    ({"tools": [FUNCTION], "tool_choice": "auto"}, 400, "tool_choice"),  # the model cannot choose: refused
    ({"tools": [FUNCTION], "tool_choice": {"type": "function", "function": {"name": "weather"}}}, 200, None),
    ({"tools": [FUNCTION], "tool_choice": {"type": "function", "function": {"name": "other"}}}, 400,
     "tool_choice.function.name"),
    ({"tools": [{"type": "custom", "custom": {"name": "grep"}}]}, 400, "tools[0]"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}],
      "tool_choice": {"type": "function", "function": {"name": "f"}}}, 400, "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": 5}}}],
      "tool_choice": {"type": "function", "function": {"name": "f"}}}, 400, "tools[0].function.parameters"),
    ({"seed": -5}, 200, None),
    ({"seed": 2**63 - 1}, 200, None),
    ({"response_format": {"type": "json_object"}}, 200, None),
    ({"stop": ["\n", "."]}, 200, None),
])
def test_tools_and_sampling_never_reach_llama_cpp_in_a_shape_it_breaks_on(
        embedded_gateway: Running, extra: dict[str, Any], status: int, param: str | None) -> None:
    r = post(embedded_gateway, {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}],
                                **extra})
    assert r.status_code == status, r.text
    if param is not None:
        assert r.json()["error"]["param"] == param
        _uncharged_rejection(embedded_gateway, r)

"""Honest parameters: docs/API.md's table "Parameters by engine" against the request models and the
embedded engine, and what it promises (tool calls, JSON schema, seed, system text) with the openai SDK."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from revshare.api.protocol import ChatCompletionRequest, CompletionRequest
from revshare.config import parse_catalog
from revshare.engines.base import GenerationRequest
from revshare.engines.upstream import UpstreamEngine
from revshare.records.record import Outcome
from tests.support.catalogs import catalog_dict
from tests.support.servers import Running

MODEL = "gemma-3-270m"
HI = [{"role": "user", "content": "hi"}]
API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"
FUNCTION = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                            "required": ["city"]}}}
CALL_IT = {"type": "function", "function": {"name": "get_weather"}}
SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"},
                                          "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}},
          "required": ["name", "age", "tags"]}


def table(heading: str) -> dict[str, tuple[str, str]]:
    """The rows after `heading` in docs/API.md: parameter -> (embedded, upstream)."""
    text = API_MD.read_text()
    start = text.index(heading)
    rows: dict[str, tuple[str, str]] = {}
    for line in text[start:].splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if len(cells) == 3 else None
        if match:
            rows[match[1]] = (cells[1], cells[2])
    return rows


CHAT = table("`POST /v1/chat/completions` (and")
TEXT = table("`POST /v1/completions`:")

# For each row: a body that works (200) and, where the table says a value is refused, one that is
# refused (400 naming the parameter) on the embedded engine.
CHAT_OK: dict[str, dict[str, Any]] = {
    "model": {}, "messages": {"messages": [{"role": "developer", "content": "Be brief."}, *HI]},
    "max_tokens": {"max_tokens": 2}, "max_completion_tokens": {"max_completion_tokens": 2},
    "temperature": {"temperature": 0.5}, "top_p": {"top_p": 0.5}, "n": {"n": 1}, "stream": {"stream": False},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True, "include_obfuscation": False}},
    "stop": {"stop": ["\n"]}, "seed": {"seed": 3}, "presence_penalty": {"presence_penalty": 0.5},
    "frequency_penalty": {"frequency_penalty": 0.5}, "logit_bias": {"logit_bias": {"10": -100}},
    "user": {"user": "u1"}, "logprobs": {"logprobs": False}, "top_logprobs": None,
    "response_format": {"response_format": {"type": "json_object"}},
    "tools": {"tools": [FUNCTION], "tool_choice": CALL_IT}, "tool_choice": {"tools": [FUNCTION], "tool_choice": "none"},
    "parallel_tool_calls": {"parallel_tool_calls": False}, "metadata": None, "store": {"store": False},
}
CHAT_REFUSED: dict[str, dict[str, Any]] = {
    "messages": {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, {
        "type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
    "n": {"n": 2}, "logprobs": {"logprobs": True}, "top_logprobs": {"top_logprobs": 2},
    "response_format": {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "string", "pattern": "(("}}}},
    "tools": {"tools": [{"type": "custom", "custom": {"name": "grep"}}]},
    "tool_choice": {"tools": [FUNCTION], "tool_choice": "auto"}, "metadata": {"metadata": {"team": "x"}},
    "store": {"store": True},
}
UPSTREAM = {"top_logprobs": {"logprobs": True, "top_logprobs": 2}}  # valid on the wire; the embedded refuses it
TEXT_OK: dict[str, dict[str, Any]] = {
    "model": {}, "prompt": {"prompt": ["The sky is"]}, "max_tokens": {"max_tokens": 2},
    "temperature": {"temperature": 0.5}, "top_p": {"top_p": 0.5}, "n": {"n": 1}, "stream": {"stream": False},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True}}, "stop": {"stop": "."},
    "seed": {"seed": 1}, "presence_penalty": {"presence_penalty": 1}, "frequency_penalty": {"frequency_penalty": 1},
    "logit_bias": {"logit_bias": {"10": 5}}, "user": {"user": "u"}, "echo": {"echo": True}, "logprobs": None,
    "suffix": None, "best_of": {"best_of": 1},
}
TEXT_REFUSED: dict[str, dict[str, Any]] = {
    "n": {"n": 3}, "logprobs": {"logprobs": 1}, "suffix": {"suffix": " end."}, "best_of": {"best_of": 2},
}


@pytest.mark.parametrize(("rows", "model"), [(CHAT, ChatCompletionRequest), (TEXT, CompletionRequest)])
def test_the_table_names_every_request_parameter_once(rows: dict[str, tuple[str, str]], model: Any) -> None:
    assert set(rows) == set(model.model_fields)


@pytest.mark.parametrize(("rows", "ok", "refused"), [(CHAT, CHAT_OK, CHAT_REFUSED), (TEXT, TEXT_OK, TEXT_REFUSED)])
def test_each_row_has_its_examples(rows: dict[str, tuple[str, str]], ok: dict[str, Any],
                                   refused: dict[str, Any]) -> None:
    for name, (embedded, _) in rows.items():
        kind = embedded.split(":")[0].split(" ")[0]
        assert kind in ("supported", "partly", "refused"), (name, embedded)
        assert (name in refused) == (kind in ("partly", "refused")), name
        assert ok[name] is not None or kind == "refused", name


def test_what_the_table_says_an_upstream_receives_it_does() -> None:
    raw = catalog_dict(engines=[{"id": "up", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}])
    catalog = parse_catalog(raw)
    engine = UpstreamEngine(catalog.engines[0])
    for rows, ok, refused, request, endpoint in (
            (CHAT, CHAT_OK, CHAT_REFUSED, ChatCompletionRequest, "chat.completions"),
            (TEXT, TEXT_OK, TEXT_REFUSED, CompletionRequest, "completions")):
        base = {"model": MODEL, **({"messages": HI} if endpoint == "chat.completions" else {"prompt": "x"})}
        for name, (_, upstream) in rows.items():
            if not upstream.startswith("passed through"):
                continue
            example = UPSTREAM.get(name) or refused.get(name) or ok[name]
            body = request.model_validate({**base, **example}).engine_params()
            sent = engine._body(GenerationRequest(endpoint, catalog.models[0], body), stream=False)
            assert sent[name] == example[name], name


def _post(gw: Running, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/{path}", json=body, headers={"Authorization": f"Bearer {gw.keys['demo']}"},
                      timeout=120)


@pytest.mark.engine
@pytest.mark.parametrize(("path", "rows", "ok", "refused"), [
    ("chat/completions", CHAT, CHAT_OK, CHAT_REFUSED), ("completions", TEXT, TEXT_OK, TEXT_REFUSED)])
def test_the_embedded_engine_does_what_the_table_says(embedded_gateway: Running, path: str,
                                                      rows: dict[str, Any], ok: dict[str, Any],
                                                      refused: dict[str, Any]) -> None:
    base = {"model": MODEL, "max_tokens": 3, **({"messages": HI} if path.startswith("chat") else {"prompt": "Hi"})}
    for name in rows:
        if ok[name] is not None:
            r = _post(embedded_gateway, path, {**base, **ok[name]})
            assert r.status_code == 200, (name, r.text)
        if name in refused:
            r = _post(embedded_gateway, path, {**base, **refused[name]})
            assert r.status_code == 400, (name, r.text)
            assert r.json()["error"]["param"].startswith(name), (name, r.text)


def client(gw: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)


def _metered_as_reported(gw: Running, response: Any) -> None:
    rec = gw.record(response.id.split("-", 1)[1])
    assert rec.outcome is Outcome.OK
    assert (rec.prompt_tokens, rec.completion_tokens) == (response.usage.prompt_tokens,
                                                          response.usage.completion_tokens)


@pytest.mark.engine
def test_a_tool_call_round_trip(embedded_gateway: Running) -> None:
    c = client(embedded_gateway)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    asked = c.chat.completions.create(model=MODEL, messages=messages, tools=[FUNCTION], tool_choice=CALL_IT,
                                      max_tokens=40, temperature=0)
    call = asked.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and asked.choices[0].finish_reason == "tool_calls"
    jsonschema.validate(json.loads(call.function.arguments), FUNCTION["function"]["parameters"])
    _metered_as_reported(embedded_gateway, asked)
    messages += [asked.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 degrees."}]
    reply = c.chat.completions.create(model=MODEL, messages=messages, tools=[FUNCTION], tool_choice="none",
                                      max_tokens=20, temperature=0)
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls
    assert reply.usage.prompt_tokens > asked.usage.prompt_tokens  # the call and its result reached the model
    _metered_as_reported(embedded_gateway, reply)


@pytest.mark.engine
def test_a_tool_call_streams(embedded_gateway: Running) -> None:
    chunks = list(client(embedded_gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Rome?"}], tools=[FUNCTION],
        tool_choice=CALL_IT, max_tokens=40, temperature=0, stream=True, stream_options={"include_usage": True}))
    calls = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    jsonschema.validate(json.loads(arguments), FUNCTION["function"]["parameters"])
    rec = embedded_gateway.record(chunks[0].id.split("-", 1)[1])
    assert rec.completion_tokens == chunks[-1].usage.completion_tokens


@pytest.mark.engine
@pytest.mark.parametrize("stream", [False, True])
def test_a_json_schema_reply_validates_against_its_schema(embedded_gateway: Running, stream: bool) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}
    kwargs: dict[str, Any] = dict(model=MODEL, messages=[{"role": "user", "content": "Describe a person."}],
                                  response_format=fmt, max_tokens=60, temperature=0)
    if stream:
        chunks = list(client(embedded_gateway).chat.completions.create(**kwargs, stream=True))
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    else:
        response = client(embedded_gateway).chat.completions.create(**kwargs)
        text = response.choices[0].message.content or ""
        _metered_as_reported(embedded_gateway, response)
    jsonschema.validate(json.loads(text), SCHEMA)


@pytest.mark.engine
def test_the_same_seed_gives_the_same_reply(embedded_gateway: Running) -> None:
    c = client(embedded_gateway)
    kwargs: dict[str, Any] = dict(model=MODEL, messages=[{"role": "user", "content": "Tell me a story."}],
                                  max_tokens=16, temperature=1.0, seed=1234)
    first, second = c.chat.completions.create(**kwargs), c.chat.completions.create(**kwargs)
    assert first.choices[0].message.content == second.choices[0].message.content


@pytest.mark.engine
def test_a_system_message_reaches_the_model(embedded_gateway: Running) -> None:
    c = client(embedded_gateway)
    plain = c.chat.completions.create(model=MODEL, messages=HI, max_tokens=1)
    system = c.chat.completions.create(model=MODEL, max_tokens=1, messages=[
        {"role": "system", "content": "You answer every question in the style of a pirate."}, *HI])
    assert system.usage.prompt_tokens >= plain.usage.prompt_tokens + 8


@pytest.mark.engine
def test_cached_prompt_tokens_are_reported_as_the_record_has_them(embedded_gateway: Running) -> None:
    c = client(embedded_gateway)
    messages = [{"role": "user", "content": "A long question about the colour of the sky at dusk, and why."}]
    first = c.chat.completions.create(model=MODEL, messages=messages, max_tokens=2, temperature=0)
    again = c.chat.completions.create(model=MODEL, messages=messages, max_tokens=2, temperature=0)
    for response in (first, again):
        rec = embedded_gateway.record(response.id.split("-", 1)[1])
        assert response.usage.prompt_tokens_details.cached_tokens == rec.cached_tokens
    # llama.cpp kept the same prompt's prefix from the request before: not evaluated again.
    assert again.usage.prompt_tokens_details.cached_tokens >= again.usage.prompt_tokens - 2


@pytest.mark.engine
def test_a_replayed_stream_reports_the_cached_tokens_of_its_record(embedded_gateway: Running) -> None:
    c = client(embedded_gateway)
    messages = [{"role": "user", "content": "Another long question, about the tides and the moon, and why."}]
    c.chat.completions.create(model=MODEL, messages=messages, max_tokens=2, temperature=0)  # warms the cache

    def usage_chunk() -> Any:
        chunks = list(c.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=2, temperature=0, stream=True,
            stream_options={"include_usage": True}, extra_headers={"Idempotency-Key": "cached-replay"}))
        return chunks[0].id, chunks[-1].usage

    first_id, first = usage_chunk()
    replay_id, replayed = usage_chunk()
    assert replay_id == first_id
    rec = embedded_gateway.record(first_id.split("-", 1)[1])
    assert rec.cached_tokens > 0
    assert first.prompt_tokens_details.cached_tokens == replayed.prompt_tokens_details.cached_tokens == rec.cached_tokens

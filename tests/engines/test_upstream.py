"""The upstream engine against real OpenAI-compatible servers on real sockets.

llama-cpp-python's own server runs the same GGUF as a real upstream; the benchmark's stub
upstream covers what that server lacks (stream usage via stream_options).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revshare.config import parse_catalog
from revshare.records.record import Outcome
from tests.support.catalogs import catalog_dict
from tests.support.llama_server import llama_cpp_server
from tests.support.servers import Running, ServerThread, running_gateway, upstream_stub_app

MODEL = "gemma-3-270m"
MESSAGES = [{"role": "user", "content": "Name three colours."}]


def _rid(response_id: str) -> str:
    return response_id.split("-", 1)[1]


@pytest.fixture(scope="module")
def llama_server(model_path: str) -> Iterator[str]:
    with llama_cpp_server(model_path, "--chat_format", "gemma", "--n_ctx", "2048", "--model_alias", MODEL) as base:
        yield base


@pytest.fixture(scope="module")
def upstream_gateway(llama_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    raw = catalog_dict(engines=[{"id": "llamacpp", "kind": "upstream", "base_url": llama_server}])
    raw["models"][0]["tokenizer"] = "bundled"
    url = f"sqlite:///{tmp_path_factory.mktemp('up') / 'ledger.db'}"
    with running_gateway(parse_catalog(raw), url) as gw:
        yield gw


@pytest.mark.engine
def test_upstream_non_streaming_uses_the_upstreams_usage(upstream_gateway: Running, llama_server: str) -> None:
    gw = upstream_gateway
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
    r = c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0)
    direct = openai.OpenAI(base_url=llama_server, api_key="x", max_retries=0).chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0)
    rec = gw.record(_rid(r.id))
    assert not rec.estimated and rec.outcome is Outcome.OK
    assert (rec.prompt_tokens, rec.completion_tokens) == (direct.usage.prompt_tokens, direct.usage.completion_tokens)


@pytest.mark.engine
def test_upstream_stream_without_usage_is_counted_with_the_tokenizer(upstream_gateway: Running) -> None:
    gw = upstream_gateway
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
    chunks = list(c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    rec = gw.record(_rid(chunks[0].id))
    # llama_cpp.server ignores stream_options, so revshare counted, and says so.
    assert rec.estimated and rec.outcome is Outcome.OK
    assert rec.completion_tokens > 0 and rec.prompt_tokens > 0
    assert chunks[-1].usage.completion_tokens == rec.completion_tokens
    from revshare.engines.tokenizers import _gguf_counter, _resolve

    assert rec.completion_tokens >= _gguf_counter(_resolve("bundled"))(text) > 0


@pytest.fixture(scope="module")
def stub_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with ServerThread(upstream_stub_app(tokens=7)) as upstream:
        raw = catalog_dict(engines=[{"id": "stub", "kind": "upstream", "base_url": upstream.url + "/v1"}])
        url = f"sqlite:///{tmp_path_factory.mktemp('stub') / 'ledger.db'}"
        with running_gateway(parse_catalog(raw), url) as gw:
            yield gw


def test_stream_usage_is_taken_from_the_upstream_and_dropped_unless_asked(stub_gateway: Running) -> None:
    gw = stub_gateway
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
    plain = list(c.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert all(ch.usage is None for ch in plain) and all(ch.choices for ch in plain)
    rec = gw.record(_rid(plain[0].id))
    assert (rec.prompt_tokens, rec.completion_tokens, rec.estimated) == (10, 7, False)
    asked = list(c.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                           stream_options={"include_usage": True}))
    assert [ch.usage.completion_tokens for ch in asked if ch.usage] == [7]


def test_stub_upstream_completions_and_non_streaming(stub_gateway: Running) -> None:
    gw = stub_gateway
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
    r = c.completions.create(model=MODEL, prompt="x", max_tokens=7)
    assert r.model == MODEL and r.usage.completion_tokens == 7
    assert gw.record(_rid(r.id)).endpoint == "completions"


def test_upstream_without_usage_is_estimated_never_zero(tmp_path: Path) -> None:
    with ServerThread(upstream_stub_app(tokens=5, report_usage=False)) as upstream:
        raw = catalog_dict(engines=[{"id": "stub", "kind": "upstream", "base_url": upstream.url + "/v1"}])
        with running_gateway(parse_catalog(raw), f"sqlite:///{tmp_path / 'l.db'}") as gw:
            c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
            r = c.chat.completions.create(model=MODEL, messages=MESSAGES)
            rec = gw.record(_rid(r.id))
            assert rec.estimated and rec.completion_tokens > 0 and rec.prompt_tokens > 0
            chunks = list(c.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
            rec = gw.record(_rid(chunks[0].id))
            assert rec.estimated and rec.completion_tokens >= 5


WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.mark.engine
def test_a_tool_call_round_trip_through_a_real_upstream(upstream_gateway: Running) -> None:
    """tools and tool_choice pass through: llama_cpp.server calls the named function. (Its gemma
    format reads every message's content and drops tool turns: its own limits, not the gateway's.)"""
    gw = upstream_gateway
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
    messages: list = [{"role": "user", "content": "Weather in Oslo?"}]
    asked = c.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], max_tokens=40, temperature=0,
                                      tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = asked.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    messages += [{**asked.choices[0].message.model_dump(exclude_none=True), "content": ""},
                 {"role": "tool", "tool_call_id": call.id, "content": "Sunny."}]
    reply = c.chat.completions.create(model=MODEL, messages=messages, max_tokens=10, temperature=0)
    assert reply.choices[0].message.content is not None
    for r in (asked, reply):
        rec = gw.record(_rid(r.id))
        assert rec.outcome is Outcome.OK and not rec.estimated
        assert (rec.prompt_tokens, rec.completion_tokens) == (r.usage.prompt_tokens, r.usage.completion_tokens)


@pytest.mark.engine
def test_json_object_with_a_schema_through_a_real_upstream(upstream_gateway: Running) -> None:
    gw = upstream_gateway
    r = httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {gw.keys['demo']}"}, json={
        "model": MODEL, "messages": [{"role": "user", "content": "A colour as JSON."}], "max_tokens": 40,
        "temperature": 0, "response_format": {"type": "json_object"}}, timeout=120)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"]), dict)
    else:  # cut by max_tokens: still JSON as far as it went (the upstream's grammar held)
        assert choice["message"]["content"].lstrip().startswith("{")


# What an upstream may send that is not JSON, though Python's json would have read it: NaN and
# Infinity, a number past a double, a lone surrogate (which no client could be sent as UTF-8).
HOSTILE_BODIES = ['{"a":NaN}', '{"a":-Infinity}', '{"a":1e400}', '{"choices":[{"text":"\\ud800"}]}']


def _hostile_upstream(body: str) -> Starlette:
    async def chat(request: Request) -> Response:
        if (await request.json()).get("stream") is True:  # one good chunk, then the hostile one
            good = '{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}'
            return Response(f"data: {good}\n\ndata: {body}\n\ndata: [DONE]\n\n", media_type="text/event-stream")
        return Response(body, media_type="application/json")
    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_an_upstream_reply_that_is_not_json_is_an_engine_error_and_a_record(body: str, tmp_path: Path) -> None:
    with ServerThread(_hostile_upstream(body)) as upstream:
        raw = catalog_dict(engines=[{"id": "stub", "kind": "upstream", "base_url": upstream.url + "/v1"}])
        with running_gateway(parse_catalog(raw), f"sqlite:///{tmp_path / 'l.db'}") as gw:
            headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
            answer = httpx.post(gw.url + "/v1/chat/completions", headers=headers, timeout=30,
                                json={"model": MODEL, "messages": MESSAGES, "max_tokens": 4})
            assert answer.status_code == 502, answer.text
            assert "not JSON" in answer.json()["error"]["message"]
            (record,) = gw.ledger.records()  # an error's answer names no record; the ledger has it
            assert (record.outcome, record.error_code) == (Outcome.ENGINE_ERROR, "engine_error")
            with httpx.stream("POST", gw.url + "/v1/chat/completions", headers=headers, timeout=30,
                              json={"model": MODEL, "messages": MESSAGES, "max_tokens": 4, "stream": True}) as streamed:
                events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
            assert json.loads(events[0][6:])["choices"][0]["delta"]["content"] == "hi"
            assert "not JSON" in json.loads(events[-1][6:])["error"]["message"]
            assert gw.record(streamed.headers["x-revshare-record-id"]).outcome is Outcome.ENGINE_ERROR

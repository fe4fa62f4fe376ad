"""Issue 17 (API edge) and issue 11 item 6: what a hostile or careless client can send.

Against a gateway on the stub upstream (no model): every bad body is a 400 naming the parameter
OpenAI-style (`messages[0].content`), never a 500; what OpenAI accepts still passes.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revshare.api.limits import MAX_JSON_DEPTH
from revshare.api.protocol import MAX_LOGIT_BIAS, MAX_NAME_CHARS, MAX_TOKEN_ID, MAX_TOOLS
from revshare.engines.base import Engine
from tests.support.paths import REPO
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import stub_catalog, stub_upstream

MODEL = "gemma-3-270m"
CHAT = "/v1/chat/completions"
TEXT = "/v1/completions"
GOOD: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
BIG = 2**63


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hardening') / 'ledger.db'}"
    with stub_upstream() as base, running_gateway(stub_catalog(base), url) as running:
        yield running


def post(gw: Running, body: object, path: str = CHAT, *, raw: bytes | None = None,
         content_type: str | None = "application/json") -> httpx.Response:
    headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    data = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(gw.url + path, content=data, headers=headers, timeout=30)


def admin_get(gw: Running, path: str) -> httpx.Response:
    return httpx.get(gw.url + path, headers={"Authorization": f"Bearer {gw.admin_token}"}, timeout=30)


def error_of(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in error["message"]
    return error


def chat(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def user(**fields: Any) -> dict[str, Any]:
    return chat(messages=[{"role": "user", **fields}])


# 1. Integers beyond SQLite's (and PostgreSQL's) 64 bits, and inverted ranges -------------------

@pytest.mark.parametrize(("path", "param"), [
    (f"/admin/records?after_seq={BIG}", "after_seq"),
    (f"/admin/records?limit={BIG}", "limit"),
    (f"/v1/log/google/proof/inclusion?seq={BIG}", "seq"),
    (f"/v1/log/google/proof/inclusion?seq=1&size={BIG}", "size"),
    (f"/v1/log/google/proof/consistency?old={BIG}", "old"),
    (f"/v1/log/google/proof/consistency?old=1&new={BIG}", "new"),
    (f"/v1/log/google/leaves?start={BIG}", "start"),
    (f"/v1/log/google/leaves?start=0&end={BIG}", "end"),
    ("/admin/records?after_seq=" + "9" * 5000, "after_seq"),
])
def test_query_integers_beyond_64_bits_are_400_naming_the_param(gw: Running, path: str, param: str) -> None:
    assert error_of(admin_get(gw, path))["param"] == param


@pytest.mark.parametrize(("path", "param"), [
    ("/v1/log/google/leaves?start=10&end=5", "end"),
    ("/v1/log/google/proof/consistency?old=5&new=3", "new"),
])
def test_inverted_ranges_are_400_not_404(gw: Running, path: str, param: str) -> None:
    error = error_of(admin_get(gw, path))
    assert error["param"] == param and error["code"] == "invalid_value"


# 2. Lone surrogates anywhere in a message ------------------------------------------------------

@pytest.mark.parametrize(("body", "param"), [
    (user(content="\ud800"), "messages[0].content"),
    (user(content="ok", name="\udfff"), "messages[0].name"),
    (user(content=[{"type": "text", "text": "a\ud800b"}]), "messages[0].content[0].text"),
    (chat(messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "\ud83d"}]),
     "messages[1].content"),
    (chat(stop=["\ud800"]), "stop[0]"),
    (chat(user="\ud800"), "user"),
])
def test_lone_surrogates_are_400_naming_the_param(gw: Running, body: dict[str, Any], param: str) -> None:
    error = error_of(post(gw, body))
    assert error["param"] == param and error["code"] == "invalid_value"


def test_a_surrogate_in_an_unknown_key_is_refused_and_the_answer_is_utf8(gw: Running) -> None:
    r = post(gw, {**GOOD, "\ud800": 1})
    error = error_of(r)
    assert error["code"] == "invalid_value"
    r.content.decode("utf-8")  # the key is escaped, never sent as an unencodable character


def test_surrogate_pairs_are_text(gw: Running) -> None:
    r = post(gw, user(content="smile \ud83d\ude00"))  # json.dumps escapes it as a valid pair
    assert r.status_code == 200, r.text


# 4. An error answered on an intact keep-alive connection ---------------------------------------

class _Broken(Engine):
    """An engine with a bug: the one way left to reach the catch-all handler."""

    id = "stub"

    async def complete(self, request: Any, meter: Any) -> dict[str, Any]:
        raise RuntimeError("a bug in an engine")

    def stream(self, request: Any, meter: Any) -> Any:
        raise RuntimeError("a bug in an engine")

    def count_tokens(self, model: Any, text: str) -> int:
        return 0


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return head


def test_a_500_keeps_the_connection_alive(tmp_path: Path) -> None:
    with stub_upstream() as base, running_gateway(stub_catalog(base), f"sqlite:///{tmp_path / 'l.db'}",
                                                  engines={"stub": _Broken()}) as broken:
        body = json.dumps(GOOD).encode()
        request = (f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {broken.keys['demo']}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", broken.server.port), timeout=30) as sock:
            head = _exchange(sock, request)
            assert head.startswith(b"HTTP/1.1 500"), head
            assert b"connection: close" not in head.lower()
            # The same connection answers the next request.
            head = _exchange(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head


# 5. Loose acceptance ---------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "param"), [
    (chat(max_tokens="4"), "max_tokens"),
    (chat(max_tokens=True), "max_tokens"),
    (chat(max_tokens=4.0), "max_tokens"),
    (chat(stream="yes"), "stream"),
    (chat(stream=1), "stream"),
    (chat(temperature="0.5"), "temperature"),
    (chat(n=True), "n"),
    (chat(seed="12"), "seed"),
    (chat(store=0), "store"),
    (chat(logprobs=1), "logprobs"),
    (chat(stream_options={"include_usage": True}), "stream_options"),
    (chat(stream=False, stream_options={"include_usage": True}), "stream_options"),
    (chat(messages=[{"role": "tool", "content": "42"}]), "messages[0].tool_call_id"),
    (chat(messages=[{"role": "tool", "tool_call_id": "c1"}]), "messages[0].content"),
    (user(content="x", colour="blue"), "messages[0].colour"),
    (user(content=[]), "messages[0].content"),
    (user(content=None), "messages[0].content"),
    (user(), "messages[0].content"),
    (chat(messages=[{"role": "system"}]), "messages[0].content"),
    (chat(messages=[{"role": "assistant"}]), "messages[0].content"),
    (chat(messages=[{"content": "x"}]), "messages[0].role"),
    (user(content="x", name="n" * 200_000), "messages[0].name"),
    (user(content=[{"type": "text", "text": "x", "parts": [{"type": "text", "text": "y"}]}]),
     "messages[0].content[0].parts"),
    (user(content=[{"type": "video", "video": "x"}]), "messages[0].content[0].type"),
    (chat(messages=[{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
     "messages[0].content[0].type"),
    (chat(tools=[{"x": 1}]), "tools[0].type"),
    (chat(tools=[{"type": "function", "function": {"description": "no name"}}]), "tools[0].function.name"),
    (chat(tool_choice="sometimes"), "tool_choice"),
    (chat(response_format={"type": "nonsense"}), "response_format.type"),
    (chat(top_logprobs=2), "top_logprobs"),
    (chat(logprobs=False, top_logprobs=2), "top_logprobs"),
    (chat(stop=[""]), "stop[0]"),
    (chat(stop=""), "stop"),
    (chat(stop=["a", "b", "c", "d", "e"]), "stop"),
    (chat(seed=2**64), "seed"),
    (chat(seed=2**63), "seed"),
    (chat(seed=-(2**63) - 1), "seed"),
    (chat(logit_bias={"abc": 1}), "logit_bias"),
    (chat(logit_bias={"1" * 40: 1}), "logit_bias"),
    (chat(logit_bias={"-1": 1}), "logit_bias"),
    (chat(logit_bias={"5": 101}), "logit_bias"),
    (chat(logit_bias={"5": "1"}), "logit_bias"),
    (chat(metadata={"k": 1}), "metadata"),
])
def test_loose_values_are_refused(gw: Running, body: dict[str, Any], param: str) -> None:
    error = error_of(post(gw, body))
    assert error["param"] is not None and error["param"].startswith(param), error


@pytest.mark.parametrize(("body", "param"), [
    ({"model": MODEL, "prompt": [""]}, "prompt[0]"),
    ({"model": MODEL, "prompt": ""}, "prompt"),
    ({"model": MODEL, "prompt": "x", "echo": 1}, "echo"),
    ({"model": MODEL, "prompt": "x", "logprobs": True}, "logprobs"),
    ({"model": MODEL, "prompt": "x", "stream_options": {"include_usage": True}}, "stream_options"),
])
def test_loose_text_completion_values_are_refused(gw: Running, body: dict[str, Any], param: str) -> None:
    assert error_of(post(gw, body, TEXT))["param"] == param


@pytest.mark.parametrize("raw", [
    b'{"model": "gemma-3-270m", "model": "other", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "gemma-3-270m", "messages": [{"role": "user", "content": "hi", "content": "ho"}]}',
    b'{"model": "gemma-3-270m", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    b'{"model": "gemma-3-270m", "messages": [{"role": "user", "content": "hi"}], "logit_bias": {"5": Infinity}}',
    b'{"model": "gemma-3-270m", "messages": [{"role": "user", "content": "hi"}], "temperature": -Infinity}',
    b'{"model": "gemma-3-270m", "messages": [{"role": "user", "content": "hi"}], "temperature": 1e999}',
])
def test_duplicate_keys_and_non_finite_numbers_are_invalid_json(gw: Running, raw: bytes) -> None:
    assert error_of(post(gw, None, raw=raw))["code"] == "invalid_json"


def test_deep_nesting_is_refused_before_it_is_forwarded(gw: Running) -> None:
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "default": deep}}}
    raw = json.dumps(chat(tools=[tool])).encode()
    error = error_of(post(gw, None, raw=raw))
    assert error["code"] == "invalid_json" and "deep" in error["message"]


@pytest.mark.parametrize("body", [
    chat(temperature=1),
    chat(temperature=0.5, top_p=1, presence_penalty=-2, frequency_penalty=0),
    chat(seed=2**63 - 1),
    chat(seed=-5),
    chat(stop=["a", "b"]),
    chat(stop="\n"),
    chat(logit_bias={"50256": -100, "0": 100}),
    chat(stream=True, stream_options={"include_usage": True}),
    chat(stream=False),
    chat(stream_options=None),
    chat(logprobs=True, top_logprobs=2),
    chat(logprobs=False),
    chat(n=1, store=True, metadata={"team": "x"}, user="u1", parallel_tool_calls=False),
    chat(max_completion_tokens=3),
    chat(messages=[{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi", "name": "bob"}]),
    chat(messages=[{"role": "system", "content": [{"type": "text", "text": "be brief"}]},
                   {"role": "user", "content": [{"type": "text", "text": "hi"},
                                                {"type": "image_url", "image_url": {"url": "https://x/y.png",
                                                                                    "detail": "low"}}]}]),
    chat(messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": [{"type": "text", "text": "It is sunny."}]},
        {"role": "user", "content": ""},
    ]),
    chat(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "done"}]}]),
    chat(tools=[{"type": "function", "function": {
        "name": "get_weather", "description": "d", "strict": True,
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "default": None}}}}}],
        tool_choice="auto"),
    chat(tools=[{"type": "function", "function": {"name": "f"}}],
         tool_choice={"type": "function", "function": {"name": "f"}}),
    chat(tool_choice="none"),
    chat(tool_choice="required", tools=[{"type": "function", "function": {"name": "f"}}]),
    chat(response_format={"type": "json_object"}),
    chat(response_format={"type": "text"}),
    chat(response_format={"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True, "schema": {"type": "object", "properties": {}}}}),
])
def test_what_openai_accepts_still_passes(gw: Running, body: dict[str, Any]) -> None:
    r = post(gw, body)
    assert r.status_code == 200, r.text


def test_legacy_completions_still_accept_a_prompt_list_and_ints_as_floats(gw: Running) -> None:
    for body in ({"model": MODEL, "prompt": ["The sky"], "max_tokens": 2, "temperature": 0},
                 {"model": MODEL, "prompt": "The sky", "max_tokens": 2, "logprobs": 2, "echo": False}):
        r = post(gw, body, TEXT)
        assert r.status_code == 200, r.text


# 6. OpenAI-style params ------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "path", "param"), [
    (chat(stop=5), CHAT, "stop"),
    ({"model": MODEL, "prompt": 5}, TEXT, "prompt"),
    (user(content=5), CHAT, "messages[0].content"),
    (chat(messages=[{"role": "wizard", "content": "x"}]), CHAT, "messages[0].role"),
    (chat(messages=[GOOD["messages"][0], {"role": "user", "content": [{"type": "text", "text": 5}]}]), CHAT,
     "messages[1].content[0].text"),
])
def test_params_are_openai_style(gw: Running, body: dict[str, Any], path: str, param: str) -> None:
    error = error_of(post(gw, body, path))
    assert error["param"] == param
    assert "str" not in error["param"].split(".")[-1:] and "constrained" not in error["message"]


def test_a_type_error_says_what_was_expected(gw: Running) -> None:
    error = error_of(post(gw, user(content=5)))
    assert "string" in error["message"] and "array" in error["message"], error


# 7. The errors docs/API.md promises ------------------------------------------------------------

def test_invalid_utf8_is_invalid_json(gw: Running) -> None:
    raw = b'{"model": "\xff\xfe", "messages": [{"role": "user", "content": "hi"}]}'
    assert error_of(post(gw, None, raw=raw))["code"] == "invalid_json"


def test_an_empty_body_is_invalid_json(gw: Running) -> None:
    assert error_of(post(gw, None, raw=b""))["code"] == "invalid_json"


def test_a_body_that_is_not_an_object_says_so(gw: Running) -> None:
    error = error_of(post(gw, None, raw=b'["a"]'))
    assert "JSON object" in error["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_without_a_json_content_type_is_told_so(gw: Running, content_type: str | None) -> None:
    error = error_of(post(gw, GOOD, content_type=content_type), 415)
    assert "Content-Type: application/json" in error["message"]
    assert error["code"] == "unsupported_media_type"


def test_json_with_a_charset_is_json(gw: Running) -> None:
    assert post(gw, GOOD, content_type="application/json; charset=utf-8").status_code == 200


def test_max_tokens_over_the_context_names_the_context(gw: Running) -> None:
    for value in (5000, 2_000_000, 10**30):
        error = error_of(post(gw, chat(max_tokens=value)))
        assert error["code"] == "context_length_exceeded" and error["param"] == "max_tokens"
        assert "context of 2048 tokens" in error["message"] and "less than or equal" not in error["message"]


# Any JSON in any field: answered, never a 5xx --------------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
           | st.sampled_from(["", "\ud800", "text", "function", "user", "tool", "0", "-1", "auto"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["type", "text", "name", "function", "x", "\udc00"]) | st.text(
                        max_size=4), inner, max_size=3), max_leaves=12)
TOP = ["model", "messages", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "stop", "seed",
       "logit_bias", "user", "logprobs", "top_logprobs", "response_format", "tools", "tool_choice", "metadata",
       "store", "max_completion_tokens", "parallel_tool_calls", "frobnicate"]
IN_MESSAGE = ["role", "content", "name", "tool_calls", "tool_call_id", "refusal", "function_call", "audio", "x"]


def _answered(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    r.content.decode("utf-8")
    if r.status_code >= 400:
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}


@given(field=st.sampled_from(TOP), value=JSON)
@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_any_value_of_any_parameter_is_answered(gw: Running, field: str, value: Any) -> None:
    _answered(post(gw, {**GOOD, field: value}))


@given(role=st.sampled_from(["system", "developer", "user", "assistant", "tool"]), field=st.sampled_from(IN_MESSAGE),
       value=JSON)
@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_any_value_in_a_message_is_answered(gw: Running, role: str, field: str, value: Any) -> None:
    _answered(post(gw, chat(messages=[{"role": role, "content": "hi", field: value}])))


def test_the_limits_are_documented() -> None:
    docs = (REPO / "docs" / "API.md").read_text()
    assert f"nested at most {MAX_JSON_DEPTH} levels" in docs
    assert f"1 to {MAX_NAME_CHARS} characters" in docs
    assert f"at most {MAX_TOOLS}, each" in docs
    assert f"at most {MAX_LOGIT_BIAS} entries" in docs and f'`"{MAX_TOKEN_ID}"`' in docs

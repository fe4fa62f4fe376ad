"""The official openai SDK against a running gateway with the embedded llama.cpp engine.

Each call must leave exactly one record whose token counts equal llama.cpp's own usage.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import openai
import pytest

from revshare.records.record import Outcome

pytestmark = pytest.mark.engine

MODEL = "gemma-3-270m"
MESSAGES = [{"role": "user", "content": "Name three colours."}]


def record_id(response_id: str) -> str:
    return response_id.split("-", 1)[1]


def client(gw, customer: str = "demo") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[customer], max_retries=0)


def expected_amount(prompt: int, completion: int) -> Decimal:
    return (Decimal("0.10") * prompt + Decimal("0.40") * completion) / Decimal(1_000_000)


def test_chat_completion_is_metered_once_with_the_engines_counts(embedded_gateway) -> None:
    gw = embedded_gateway
    before = gw.ledger.count()
    raw = client(gw).chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, max_tokens=12)
    response = raw.parse()
    assert response.model == MODEL
    assert response.choices[0].message.content
    assert response.usage is not None and response.usage.completion_tokens > 0
    rid = record_id(response.id)
    assert raw.headers["x-revshare-record-id"] == rid
    rec = gw.record(rid)
    assert gw.ledger.count() == before + 1
    assert (rec.prompt_tokens, rec.completion_tokens) == (response.usage.prompt_tokens, response.usage.completion_tokens)
    assert rec.outcome is Outcome.OK and not rec.estimated
    assert rec.customer == "demo" and rec.model == MODEL and rec.licensors == ("google",)
    assert rec.amount == expected_amount(rec.prompt_tokens, rec.completion_tokens)
    assert rec.price_version == "gemma-3-270m@2026-01-01T00:00:00Z"
    assert rec.currency == "USD" and rec.endpoint == "chat.completions" and not rec.stream


def test_async_client(embedded_gateway) -> None:
    gw = embedded_gateway

    async def two_calls() -> list:
        c = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=gw.keys["acme"], max_retries=0)
        async with c:
            return await asyncio.gather(*[
                c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=6) for _ in range(3)])

    responses = asyncio.run(two_calls())
    ids = {record_id(r.id) for r in responses}
    assert len(ids) == 3  # queued behind one llama.cpp context, none failed
    for r in responses:
        rec = gw.record(record_id(r.id))
        assert rec.customer == "acme"
        assert rec.completion_tokens == r.usage.completion_tokens


def test_stream_with_usage_matches_the_record(embedded_gateway) -> None:
    gw = embedded_gateway
    stream = client(gw).chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=10, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert text
    assert len(usage_chunks) == 1 and usage_chunks[0].choices == []
    assert chunks[-1] is usage_chunks[0]  # usage comes last, as OpenAI sends it
    rec = gw.record(record_id(chunks[0].id))
    assert rec.stream and rec.outcome is Outcome.OK
    assert rec.completion_tokens == usage_chunks[0].usage.completion_tokens
    assert rec.prompt_tokens == usage_chunks[0].usage.prompt_tokens


def test_stream_counts_equal_the_non_streaming_counts(embedded_gateway) -> None:
    """Greedy decoding is deterministic: streamed and whole replies must be counted alike."""
    c = client(embedded_gateway)
    kwargs = dict(model=MODEL, messages=MESSAGES, max_tokens=20, temperature=0, seed=7)
    whole = c.chat.completions.create(**kwargs)
    chunks = list(c.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert streamed == whole.choices[0].message.content


def test_stream_without_include_usage_sends_no_usage_but_is_metered(embedded_gateway) -> None:
    gw = embedded_gateway
    chunks = list(client(gw).chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5, stream=True))
    assert all(c.usage is None for c in chunks)
    rec = gw.record(record_id(chunks[0].id))
    assert rec.completion_tokens == 5 and rec.outcome is Outcome.OK


def test_legacy_completions(embedded_gateway) -> None:
    gw = embedded_gateway
    c = client(gw)
    r = c.completions.create(model=MODEL, prompt="The sky is", max_tokens=8)
    assert r.choices[0].text is not None
    rec = gw.record(record_id(r.id))
    assert rec.endpoint == "completions"
    assert (rec.prompt_tokens, rec.completion_tokens) == (r.usage.prompt_tokens, r.usage.completion_tokens)
    chunks = list(c.completions.create(model=MODEL, prompt="The sky is", max_tokens=4, stream=True,
                                       stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == gw.record(record_id(chunks[0].id)).completion_tokens


def test_models_lists_only_what_the_customer_may_use(embedded_gateway) -> None:
    assert [m.id for m in client(embedded_gateway).models.list()] == [MODEL]
    assert [m.id for m in client(embedded_gateway, "locked").models.list()] == []


def test_client_disconnect_mid_stream_is_recorded_with_tokens_produced(embedded_gateway) -> None:
    gw = embedded_gateway
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 400, "temperature": 1.0, "stream": True}
    received = 0
    with httpx.Client(timeout=30) as http, http.stream(
        "POST", gw.url + "/v1/chat/completions", json=body,
        headers={"Authorization": f"Bearer {gw.keys['demo']}"},
    ) as response:
        rid = response.headers["x-revshare-record-id"]
        for line in response.iter_lines():
            if line.startswith("data:") and '"content"' in line:
                received += 1
                if received == 3:
                    break
    # leaving the block closes the connection mid-stream
    rec = gw.record(rid)
    assert rec is not None, "a disconnected stream must still leave its record"
    assert rec.outcome is Outcome.CLIENT_DISCONNECT
    assert received <= rec.completion_tokens < 400
    assert rec.amount == expected_amount(rec.prompt_tokens, rec.completion_tokens)


def test_healthz(embedded_gateway) -> None:
    r = httpx.get(embedded_gateway.url + "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"

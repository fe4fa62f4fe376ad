"""POST /v1/responses with the openai SDK against the embedded engine: whole and streamed, metered
once with the tokens the API reported; what needs stored responses is refused naming the parameter."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from revshare.records.record import Outcome
from tests.support.servers import Running

pytestmark = pytest.mark.engine

MODEL = "gemma-3-270m"


def client(gw: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)


def record_of(gw: Running, response_id: str) -> Any:
    assert response_id.startswith("resp_")
    return gw.record(response_id.removeprefix("resp_"))


def test_a_response_from_text_input_is_metered_once(embedded_gateway: Running) -> None:
    gw = embedded_gateway
    before = gw.ledger.count()
    r = client(gw).responses.create(model=MODEL, input="Name three colours.", instructions="Be brief.",
                                    max_output_tokens=8)
    assert r.object == "response" and r.model == MODEL and r.output_text
    assert r.status in ("completed", "incomplete")
    rec = record_of(gw, r.id)
    assert gw.ledger.count() == before + 1
    assert rec.endpoint == "responses" and rec.outcome is Outcome.OK
    assert (rec.prompt_tokens, rec.completion_tokens) == (r.usage.input_tokens, r.usage.output_tokens)
    assert r.usage.total_tokens == rec.total_tokens and r.usage.input_tokens_details.cached_tokens == rec.cached_tokens
    if rec.completion_tokens == 8:
        assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"


def test_messages_and_instructions_reach_the_model(embedded_gateway: Running) -> None:
    c = client(embedded_gateway)
    plain = c.responses.create(model=MODEL, input="hi", max_output_tokens=1)
    longer = c.responses.create(model=MODEL, max_output_tokens=1, instructions="Answer like a pirate would.", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Ahoy."}]},
        {"role": "user", "content": "and again"}])
    assert longer.usage.input_tokens > plain.usage.input_tokens + 8


def test_a_streamed_response_sends_the_typed_events_and_its_usage(embedded_gateway: Running) -> None:
    gw = embedded_gateway
    events = list(client(gw).responses.create(model=MODEL, input="Name three colours.", max_output_tokens=10,
                                              stream=True))
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert types[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert types[-1] in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert deltas and deltas == final.output_text == events[-4].text
    rec = record_of(gw, final.id)
    assert rec.stream and rec.endpoint == "responses"
    assert (rec.prompt_tokens, rec.completion_tokens) == (final.usage.input_tokens, final.usage.output_tokens)


def test_a_json_schema_text_format(embedded_gateway: Running) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 12}}, "required": ["colour"]}
    r = client(embedded_gateway).responses.create(
        model=MODEL, input="Pick a colour.", max_output_tokens=40, temperature=0,
        text={"format": {"type": "json_schema", "name": "pick", "schema": schema}})
    jsonschema.validate(json.loads(r.output_text), schema)


@pytest.mark.parametrize(("extra", "param"), [
    ({"previous_response_id": "resp_x"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"metadata": {"a": "b"}}, "metadata"),
    ({"tools": [{"type": "web_search"}]}, "tools"),
    ({"reasoning": {"effort": "low"}}, "reasoning"),
    ({"input": []}, "input"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
])
def test_what_needs_stored_responses_is_refused(embedded_gateway: Running, extra: dict[str, Any],
                                               param: str) -> None:
    gw = embedded_gateway
    r = httpx.post(gw.url + "/v1/responses", json={"model": MODEL, "input": "hi", **extra},
                   headers={"Authorization": f"Bearer {gw.keys['demo']}"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_an_idempotency_key_on_a_stream_is_refused_not_ignored(embedded_gateway: Running) -> None:
    gw = embedded_gateway
    r = httpx.post(gw.url + "/v1/responses", json={"model": MODEL, "input": "hi", "stream": True},
                   headers={"Authorization": f"Bearer {gw.keys['demo']}", "Idempotency-Key": "k1"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "Idempotency-Key"

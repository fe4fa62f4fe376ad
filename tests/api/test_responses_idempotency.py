"""An Idempotency-Key on POST /v1/responses, with the openai SDK: the same key and body replay the
first response byte for byte (`idempotent-replayed: true`) and are metered once; another body is a
422, a retry while the first runs a 409; a keyed stream is refused with a 400 naming the header."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from revshare.ledger.idempotency import lookup
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog, stub_upstream


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    """A gateway on a stub upstream whose tokens come 50 ms apart (long enough to retry during a run)."""
    with stub_upstream(delay_s=0.05) as base, running_gateway(stub_catalog(base), sqlite_url) as running:
        yield running


def client(gw: Running, key: str = "demo") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[key], max_retries=0)


def create(gw: Running, idempotency_key: str, key: str = "demo", **body: Any) -> Any:
    """The raw answer of `responses.create` (headers and bytes), with the Idempotency-Key header."""
    return client(gw, key).responses.with_raw_response.create(
        **{"model": MODEL, "input": "Name three colours.", "max_output_tokens": 5, **body},
        extra_headers={"Idempotency-Key": idempotency_key})


def test_the_same_key_and_body_replay_the_first_response_byte_for_byte(gw: Running) -> None:
    first = create(gw, "order-1")
    again = create(gw, "order-1")
    assert first.http_response.status_code == again.http_response.status_code == 200
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert again.http_response.content == first.http_response.content
    assert again.headers["x-revshare-record-id"] == first.headers["x-revshare-record-id"]
    response = again.parse()
    assert response.object == "response" and response.output_text == first.parse().output_text
    records = gw.ledger.records(customer="demo")
    assert len(records) == 1  # metered once
    (rec,) = records
    assert response.id == "resp_" + rec.id and rec.endpoint == "responses" and rec.idempotency_key == "order-1"
    assert (rec.prompt_tokens, rec.completion_tokens) == (response.usage.input_tokens, response.usage.output_tokens)


def test_the_same_key_with_another_body_is_422(gw: Running) -> None:
    create(gw, "order-2")
    with pytest.raises(openai.UnprocessableEntityError) as exc:
        create(gw, "order-2", max_output_tokens=3)
    assert exc.value.status_code == 422 and exc.value.code == "idempotency_key_reused"
    assert exc.value.param == "Idempotency-Key"
    assert len(gw.ledger.records(customer="demo")) == 1


def test_another_endpoint_with_the_same_key_is_another_body(gw: Running) -> None:
    create(gw, "order-3")
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user",
                                                                                       "content": "hi"}]},
                   headers={"Authorization": f"Bearer {gw.keys['demo']}", "Idempotency-Key": "order-3"}, timeout=30)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"


def test_a_retry_while_the_first_runs_is_409(gw: Running) -> None:
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(create(gw, "order-4")))
    first.start()
    deadline = time.monotonic() + 10
    while lookup(gw.ledger, "demo", "order-4") is None and time.monotonic() < deadline:
        time.sleep(0.005)
    with pytest.raises(openai.ConflictError) as exc:
        create(gw, "order-4")
    assert exc.value.code == "idempotency_key_in_use"
    first.join()
    assert results[0].http_response.status_code == 200
    assert len(gw.ledger.records(customer="demo")) == 1


def test_the_key_is_scoped_per_customer(gw: Running) -> None:
    mine, theirs = create(gw, "order-5"), create(gw, "order-5", key="acme")
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.parse().id != mine.parse().id
    assert len(gw.ledger.records()) == 2


def test_a_keyed_stream_is_refused_naming_the_header_and_not_metered(gw: Running) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client(gw).responses.create(model=MODEL, input="hi", stream=True,
                                    extra_headers={"Idempotency-Key": "order-6"})
    assert exc.value.param == "Idempotency-Key" and exc.value.code == "unsupported_parameter"
    assert "stream" in str(exc.value)
    assert gw.ledger.count() == 0 and lookup(gw.ledger, "demo", "order-6") is None
    # without the key the stream runs; with it, the same request whole is served
    events = list(client(gw).responses.create(model=MODEL, input="hi", stream=True, max_output_tokens=3))
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert create(gw, "order-6", input="hi").http_response.status_code == 200


def test_the_openapi_document_declares_the_key_and_its_answers(gw: Running) -> None:
    op = httpx.get(gw.url + "/openapi.json", timeout=30).json()["paths"]["/v1/responses"]["post"]
    chat = httpx.get(gw.url + "/openapi.json", timeout=30).json()["paths"]["/v1/chat/completions"]["post"]
    [header] = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
    assert header == next(p for p in chat["parameters"] if p["name"] == "Idempotency-Key")
    assert {"409", "422"} <= set(op["responses"])

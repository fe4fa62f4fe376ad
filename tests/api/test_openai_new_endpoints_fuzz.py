"""Arbitrary JSON to /v1/embeddings (embedded all-MiniLM) and /v1/responses (stub upstream): never a 5xx.

Hypothesis writes whole bodies and near-valid ones (the right model, arbitrary values for each
parameter); every answer is below 500 and every 4xx has OpenAI's error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revshare.config import parse_catalog
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

pytestmark = pytest.mark.engine

EMBEDDER = "all-minilm-l6-v2"
TEXT = st.text(max_size=12) | st.sampled_from(["\ud800", "", "hello world", "\x00"])
SCALARS = st.none() | st.booleans() | st.integers() | st.sampled_from([2**63, -1, 0, 384, 2**31]) | st.floats(
    allow_nan=False, allow_infinity=False) | TEXT
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=10)
INPUT = TEXT | st.lists(TEXT, max_size=4) | st.lists(st.integers(-2, 2**32), max_size=4) | JSON
EMBEDDINGS = st.builds(lambda model, value, extra: {"model": model, "input": value, **extra},
                       st.just(EMBEDDER) | st.just(MODEL) | JSON, INPUT,
                       st.dictionaries(st.sampled_from(["encoding_format", "dimensions", "user", "x"]),
                                       JSON | st.sampled_from(["float", "base64", 384]), max_size=2))
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "developer", "assistant", "tool"]),
                                 "content": TEXT | JSON | st.lists(st.fixed_dictionaries(
                                     {"type": st.sampled_from(["input_text", "output_text", "image"]),
                                      "text": TEXT | JSON}), max_size=2)}, optional={"type": st.just("message")})
RESPONSES = st.builds(lambda value, extra: {"model": MODEL, "input": value, **extra},
                      TEXT | st.lists(MESSAGE, max_size=3) | JSON,
                      st.dictionaries(st.sampled_from([
                          "instructions", "max_output_tokens", "temperature", "top_p", "stream", "text", "user",
                          "previous_response_id", "store", "metadata", "tools", "reasoning"]),
                          JSON | st.just({"format": {"type": "json_schema", "name": "x", "schema": {}}}),
                          max_size=3))
REQUESTS = (st.tuples(st.just("/v1/embeddings"), EMBEDDINGS | JSON)
            | st.tuples(st.just("/v1/responses"), RESPONSES | JSON))


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["engines"].append({"id": "minilm", "kind": "embedded", "n_ctx": 512})
        raw["models"].append({"id": EMBEDDER, "engine": "minilm", "kind": "embedding", "context_length": 512})
        raw["prices"].append({"model": EMBEDDER, "input_per_million": "0.02", "output_per_million": "0",
                              "currency": "USD", "effective_from": "2026-01-01T00:00:00Z"})
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'ledger.db'}"
        with running_gateway(parse_catalog(raw), url) as running:
            yield running


def test_arbitrary_json_to_the_new_endpoints_is_never_a_5xx(gw: Running) -> None:
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {gw.keys['demo']}"}, timeout=60) as http:
        @given(request=REQUESTS)
        @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(request: tuple[str, Any]) -> None:
            path, body = request
            # JSON as the wire writes it (a lone surrogate as \ud800), which httpx's own encoder cannot
            response = http.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
            assert response.status_code < 500, (body, response.text)
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"message", "type", "param", "code"}, response.text

        check()

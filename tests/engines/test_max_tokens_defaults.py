"""A request without max_tokens runs with its model's default; one above the model's limit is a
400 naming max_tokens and the limit (issue 11: the demo's examples ran for a minute)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from revshare.config import parse_catalog
from revshare.engines.base import GenerationRequest
from revshare.engines.upstream import UpstreamEngine
from tests.support.catalogs import catalog_dict
from tests.support.servers import Running, running_gateway

DEFAULT, LIMIT = 8, 32


def limited(**engine: Any) -> Any:
    raw = catalog_dict(engines=[engine] if engine else None)
    raw["models"][0].update(default_max_tokens=DEFAULT, max_tokens_limit=LIMIT)
    return parse_catalog(raw, source="test.toml")


@pytest.fixture(scope="module")
def gateway(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp('limits') / 'ledger.db'}"
    with running_gateway(limited(), url) as gw:
        yield gw


def post(gw: Running, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.url + path, json={"model": "gemma-3-270m", **body},
                      headers={"Authorization": f"Bearer {gw.keys['demo']}"}, timeout=120)


@pytest.mark.engine
@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Once upon a time"}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Once upon a time"}], "stream": True}),
    ("/v1/completions", {"prompt": "Once upon a time"}),
])
def test_a_request_without_max_tokens_gets_the_models_default(gateway: Running, path: str,
                                                                  body: dict[str, Any]) -> None:
    reply = post(gateway, path, body)
    assert reply.status_code == 200, reply.text
    record = gateway.record(reply.headers["x-revshare-record-id"])
    assert 0 < record.completion_tokens <= DEFAULT


@pytest.mark.engine
@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": LIMIT + 1}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": LIMIT + 1}),
    ("/v1/completions", {"prompt": "Hi", "max_tokens": LIMIT + 1}),
])
def test_more_than_the_limit_is_a_400_naming_max_tokens_and_the_limit(gateway: Running, path: str,
                                                                       body: dict[str, Any]) -> None:
    reply = post(gateway, path, body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == "max_tokens"
    assert f"allows at most {LIMIT}" in error["message"] and f"default of {DEFAULT}" in error["message"]


@pytest.mark.engine
def test_the_limit_itself_is_allowed(gateway: Running) -> None:
    reply = post(gateway, "/v1/completions", {"prompt": "Hi", "max_tokens": LIMIT})
    assert reply.status_code == 200, reply.text


def test_an_upstream_is_sent_the_default_and_a_request_keeps_its_own() -> None:
    catalog = limited(id="up", kind="upstream", base_url="http://127.0.0.1:9/v1")
    engine = UpstreamEngine(catalog.engines[0])
    model = catalog.models[0]
    unset = GenerationRequest("chat.completions", model, {"messages": []})
    assert engine._body(unset, False)["max_tokens"] == DEFAULT
    own = GenerationRequest("completions", model, {"prompt": "x", "max_tokens": 3})
    assert engine._body(own, True)["max_tokens"] == 3

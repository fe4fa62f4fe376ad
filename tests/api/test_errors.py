"""Every bad input gets an OpenAI-shaped 4xx (or 503 for a dead engine) and nothing is charged."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from revshare.config import parse_catalog
from tests.support.catalogs import catalog_dict
from tests.support.servers import Running, free_port, running_gateway

MODEL = "gemma-3-270m"
CHAT = "/v1/chat/completions"


def post(gw: Running, body: object = None, *, customer: str | None = "demo", raw: bytes | None = None,
         headers: dict[str, str] | None = None, path: str = CHAT) -> httpx.Response:
    h = {"Content-Type": "application/json", **(headers or {})}
    if customer:
        h["Authorization"] = f"Bearer {gw.keys[customer]}"
    return httpx.post(gw.url + path, json=body if raw is None else None, content=raw, headers=h, timeout=30)


def assert_error(r: httpx.Response, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


@pytest.fixture(scope="module")
def gw(embedded_gateway: Running) -> Iterator[Running]:
    before = embedded_gateway.ledger.count()
    yield embedded_gateway
    # None of the bad requests in this module may have reached the ledger as a charge.
    charged = [r for r in embedded_gateway.ledger.records(after_seq=0)[before:] if r.amount != Decimal(0)]
    assert charged == []


GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


@pytest.mark.parametrize(("body", "param"), [
    ({**GOOD, "max_tokens": -1}, "max_tokens"),
    ({**GOOD, "max_tokens": 0}, "max_tokens"),
    ({**GOOD, "max_tokens": 10**30}, "max_tokens"),
    ({**GOOD, "max_tokens": "many"}, "max_tokens"),
    ({**GOOD, "temperature": 3}, "temperature"),
    ({**GOOD, "messages": []}, "messages"),
    ({**GOOD, "messages": "hello"}, "messages"),
    ({**GOOD, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({**GOOD, "n": 2}, "n"),
    ({**GOOD, "stream": "yes please"}, "stream"),
    ({**GOOD, "frobnicate": True}, "frobnicate"),
    ({"messages": GOOD["messages"]}, "model"),
])
def test_bad_parameters_get_400_naming_the_param(gw: Running, body: dict, param: str) -> None:
    assert_error(post(gw, body), 400, param=param)


@pytest.mark.parametrize("raw", [
    b"{not json",
    b"",
    b"\xff\xfe\x00garbage",
    b'{"model": "\xff\xff", "messages": []}',
    b"[" * 100_000 + b"]" * 100_000,
    b'"just a string"',
])
def test_malformed_bodies_get_400(gw: Running, raw: bytes) -> None:
    assert_error(post(gw, raw=raw), 400)


def test_max_tokens_beyond_the_context_is_400(gw: Running) -> None:
    assert_error(post(gw, {**GOOD, "max_tokens": 5000}), 400, "context_length_exceeded", "max_tokens")


def test_missing_and_bad_keys_get_401(gw: Running) -> None:
    assert_error(post(gw, GOOD, customer=None), 401, "missing_api_key")
    assert_error(post(gw, GOOD, customer=None, headers={"Authorization": "Bearer rsk_nope"}), 401, "invalid_api_key")
    assert_error(post(gw, GOOD, customer=None, headers={"Authorization": "Basic abc"}), 401)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.url + "/v1", api_key="rsk_wrong", max_retries=0).models.list()


def test_admin_token_is_not_a_customer_key_and_vice_versa(gw: Running) -> None:
    assert_error(post(gw, GOOD, customer=None, headers={"Authorization": f"Bearer {gw.admin_token}"}), 401)
    r = httpx.get(gw.url + "/admin/records", headers={"Authorization": f"Bearer {gw.keys['demo']}"})
    assert_error(r, 401, "invalid_admin_token")


def test_model_not_allowed_is_403_and_unknown_model_is_404(gw: Running) -> None:
    assert_error(post(gw, GOOD, customer="locked"), 403, "model_not_allowed", "model")
    assert_error(post(gw, {**GOOD, "model": "gpt-9"}), 404, "model_not_found", "model")
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "x"}])


def test_body_over_the_limit_is_413(gw: Running) -> None:
    huge = {**GOOD, "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    assert_error(post(gw, huge), 413, "request_too_large")


def test_body_over_the_limit_without_content_length_is_413(gw: Running) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 65536

    r = httpx.post(gw.url + CHAT, content=chunks(), timeout=30,
                   headers={"Authorization": f"Bearer {gw.keys['demo']}", "Content-Type": "application/json"})
    assert_error(r, 413)


def test_unknown_route_and_method_are_openai_shaped(gw: Running) -> None:
    assert_error(httpx.get(gw.url + "/v1/nothing-here"), 404)
    assert_error(httpx.get(gw.url + CHAT), 405)


def test_prompt_longer_than_the_context_is_400_and_not_charged(gw: Running) -> None:
    long_text = "word " * 5000
    r = post(gw, {**GOOD, "messages": [{"role": "user", "content": long_text}]})
    assert_error(r, 400)


def test_dead_engine_gives_503_and_records_no_charge(tmp_path: Path) -> None:
    raw = catalog_dict(engines=[{"id": "remote", "kind": "upstream",
                                 "base_url": f"http://127.0.0.1:{free_port()}/v1", "timeout_s": 5}])
    with running_gateway(parse_catalog(raw), f"sqlite:///{tmp_path / 'l.db'}") as dead:
        r = post(dead, GOOD)
        assert_error(r, 503, "engine_unavailable")
        r = post(dead, {**GOOD, "stream": True})
        assert_error(r, 503, "engine_unavailable")
        records = dead.ledger.records()
        assert [r.outcome.value for r in records] == ["engine_error", "engine_error"]
        assert all(r.amount == 0 for r in records)

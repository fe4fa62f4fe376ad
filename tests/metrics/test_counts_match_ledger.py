"""After a known mix of requests through a real gateway, /metrics agrees with the ledger exactly."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from revshare.config import parse_catalog
from revshare.metering.refusal import RefusalKind
from revshare.records.record import Outcome
from tests.metrics.scrape import Samples, failing_upstream_app, scrape, scrape_until, total
from tests.support.servers import Running, ServerThread, free_port, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

CHAT = "/v1/chat/completions"
ROUTE = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


def mixed_catalog(fast: str, slow: str, dead: str, failing: str) -> Any:
    raw = stub_catalog_dict(fast)
    raw["engines"] += [
        {"id": "slow", "kind": "upstream", "base_url": slow},
        {"id": "dead", "kind": "upstream", "base_url": dead, "connect_timeout_s": 2},
        {"id": "failing", "kind": "upstream", "base_url": failing},
    ]
    price = raw["prices"][0]
    for name in ("slow", "dead", "failing"):
        raw["models"].append({"id": f"{name}-model", "engine": name, "licensor": "google"})
        raw["prices"].append({**price, "model": f"{name}-model"})
    raw["customers"] += [
        {"name": "broke", "models": ["*"], "budget": "0.000001"},
        {"name": "hasty", "models": ["*"], "requests_per_minute": 1},
    ]
    return parse_catalog(raw)


def post(gw: Running, customer: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(gw.url + CHAT, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {gw.keys[customer]}", **headers})


def disconnect_mid_stream(gw: Running) -> str:
    body = {"model": "slow-model", "messages": MESSAGES, "max_tokens": 200, "stream": True}
    received = 0
    with httpx.Client(timeout=30) as http, http.stream(
            "POST", gw.url + CHAT, json=body, headers={"Authorization": f"Bearer {gw.keys['demo']}"}) as response:
        record_id = response.headers["x-revshare-record-id"]
        for line in response.iter_lines():
            if line.startswith("data:") and '"content"' in line:
                received += 1
                if received == 3:
                    break
    return record_id


@pytest.fixture
def mixed(sqlite_url: str) -> Any:
    with stub_upstream() as fast, stub_upstream(tokens=200, delay_s=0.02) as slow, \
            ServerThread(failing_upstream_app()) as failing:
        catalog = mixed_catalog(fast, slow, f"http://127.0.0.1:{free_port()}/v1", failing.url + "/v1")
        with running_gateway(catalog, sqlite_url) as gw:
            yield gw


def test_counters_equal_the_ledger_after_a_known_mix(mixed: Running) -> None:
    gw = mixed
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
    statuses: list[int] = []

    # ok, whole and streamed (the official client)
    client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
    statuses.append(200)
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=7,  # type: ignore[arg-type]
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    statuses.append(200)
    # 402: the budget cannot cover the request's most cost
    statuses.append(post(gw, "broke", {"model": MODEL, "messages": MESSAGES, "max_tokens": 7}).status_code)
    # 429: the second request of a minute
    statuses.append(post(gw, "hasty", {"model": MODEL, "messages": MESSAGES, "max_tokens": 3}).status_code)
    statuses.append(post(gw, "hasty", {"model": MODEL, "messages": MESSAGES, "max_tokens": 3}).status_code)
    # 404: no such model
    statuses.append(post(gw, "demo", {"model": "no-such-model", "messages": MESSAGES}).status_code)
    # 422: an Idempotency-Key reused with another body (after its first, ok, request)
    statuses.append(post(gw, "demo", {"model": MODEL, "messages": MESSAGES, "max_tokens": 2},
                         **{"Idempotency-Key": "k1"}).status_code)
    statuses.append(post(gw, "demo", {"model": MODEL, "messages": MESSAGES, "max_tokens": 3},
                         **{"Idempotency-Key": "k1"}).status_code)
    # engine failures: unreachable (503), rejected (400), failed on a stream's start (502)
    statuses.append(post(gw, "demo", {"model": "dead-model", "messages": MESSAGES, "max_tokens": 3}).status_code)
    statuses.append(post(gw, "demo", {"model": "failing-model", "messages": MESSAGES, "max_tokens": 3}).status_code)
    statuses.append(post(gw, "demo", {"model": "failing-model", "messages": MESSAGES, "max_tokens": 3,
                                      "stream": True}).status_code)
    # a client that leaves mid-stream
    record_id = disconnect_mid_stream(gw)
    statuses.append(200)
    assert gw.record(record_id) is not None  # its record is committed, without a waiter
    # not counted as a chat request: no route, and no key
    assert httpx.get(gw.url + "/no/such/path/123").status_code == 404
    assert httpx.post(gw.url + CHAT, json={}).status_code == 401
    statuses.append(401)

    assert statuses == [200, 200, 402, 200, 429, 404, 200, 422, 503, 400, 502, 200, 401]
    records = gw.ledger.records(after_seq=0)
    assert len(records) == 8

    def settled(s: Samples) -> bool:  # the writer counts a batch just after it wakes the batch's waiters
        return (total(s, "revshare_http_requests_total", route=ROUTE) == len(statuses)
                and total(s, "revshare_records_committed_total") == len(records))

    s = scrape_until(gw.url, settled)

    # records: committed, by outcome, tokens and amounts, as the ledger has them
    assert total(s, "revshare_records_committed_total") == gw.ledger.count() == len(records)
    by_outcome = Counter(r.outcome.value for r in records)
    assert by_outcome == {"ok": 4, "engine_error": 2, "rejected": 1, "client_disconnect": 1}
    for outcome in Outcome:
        assert total(s, "revshare_http_requests_total", route=ROUTE, outcome=outcome.value) == by_outcome[outcome.value]
    assert total(s, "revshare_http_requests_total", route=ROUTE, outcome="none") == 5  # 402, 429, 404, 422, 401
    models = {r.model for r in records}
    for model in models:
        mine = [r for r in records if r.model == model]
        assert total(s, "revshare_tokens_total", model=model, type="input") == sum(r.prompt_tokens for r in mine)
        assert total(s, "revshare_tokens_total", model=model, type="output") == sum(
            r.completion_tokens for r in mine)
        billed = sum((r.amount for r in mine), Decimal(0))
        assert total(s, "revshare_billed_amount_total", model=model, currency="USD") == pytest.approx(
            float(billed), rel=1e-12, abs=1e-15)
        # one duration per record
        assert total(s, "gen_ai_server_request_duration_seconds_count", model=model) == len(mine)
    assert total(s, "revshare_tokens_total", type="output") == sum(r.completion_tokens for r in records)
    streams = [r for r in records if r.stream and r.outcome in (Outcome.OK, Outcome.CLIENT_DISCONNECT)]
    for model in {r.model for r in streams}:
        mine = [r for r in streams if r.model == model]
        assert total(s, "gen_ai_server_time_to_first_token_seconds_count", model=model) == len(mine)
        assert total(s, "gen_ai_server_time_per_output_token_seconds_count", model=model) == len(
            [r for r in mine if r.completion_tokens > 1])

    # refusals by kind, engine failures by kind: every kind is there from the start, at zero
    refusals = {dict(ls)["kind"]: v for (n, ls), v in s.items() if n == "revshare_refusals_total"}
    assert set(refusals) == {kind.value for kind in RefusalKind}
    assert {k: v for k, v in refusals.items() if v} == {
        "budget_exceeded": 1, "rate_limit_exceeded": 1, "model_not_found": 1, "idempotency_key_reused": 1}
    errors = {(dict(ls)["engine"], dict(ls)["kind"]): v for (n, ls), v in s.items()
              if n == "revshare_engine_errors_total"}
    assert set(errors) == {(engine, kind) for engine in ("dead", "failing", "slow", "stub")
                           for kind in ("rejected", "unavailable", "error")}
    assert {k: v for k, v in errors.items() if v} == {
        ("dead", "unavailable"): 1, ("failing", "rejected"): 1, ("failing", "error"): 1}

    # HTTP requests by route template and status class
    assert total(s, "revshare_http_requests_total", route=ROUTE, status_class="2xx") == 5
    assert total(s, "revshare_http_requests_total", route=ROUTE, status_class="4xx") == 6
    assert total(s, "revshare_http_requests_total", route=ROUTE, status_class="5xx") == 2
    assert total(s, "revshare_http_request_duration_seconds_count", route=ROUTE) == len(statuses)
    assert total(s, "revshare_http_requests_total", route="other", status_class="4xx", outcome="none") == 1
    assert not any("/no/such" in value for (_, ls) in s for _, value in ls)

    # the writer: every batch timed, nothing left queued, no intent without its record
    assert total(s, "revshare_ledger_commit_seconds_count") == total(s, "revshare_ledger_commit_batch_size_count") > 0
    assert total(s, "revshare_ledger_commit_batch_size_sum") >= len(records)
    assert total(s, "revshare_ledger_backlog") == 0
    assert total(s, "revshare_ledger_intents_outstanding") == 0


def test_metrics_route_counts_itself_and_can_require_a_token(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVSHARE_TEST_METRICS_TOKEN", "metrics-secret")
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["server"]["metrics_token_env"] = "REVSHARE_TEST_METRICS_TOKEN"
        with running_gateway(parse_catalog(raw), sqlite_url) as gw:
            assert httpx.get(gw.url + "/metrics").status_code == 401
            assert httpx.get(gw.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            auth = {"Authorization": "Bearer metrics-secret"}
            scrape(gw.url, auth)
            s = scrape(gw.url, auth)
            assert total(s, "revshare_http_requests_total", route="/metrics", status_class="4xx") == 2
            assert total(s, "revshare_http_requests_total", route="/metrics", status_class="2xx") >= 1

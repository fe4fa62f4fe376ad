"""One access-log line per request, with who, what and how long, and never a secret or a prompt."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import httpx
import pytest

from revshare.config import parse_catalog
from tests.metrics.scrape import scrape_until, total
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

FIELDS = ["time", "method", "route", "status", "duration_ms", "record_id", "customer", "key_id", "model",
          "outcome", "prompt_tokens", "completion_tokens", "ttft_ms"]
PROMPT = "the purple elephant sings at midnight"
CHAT = "/v1/chat/completions"


def access_lines(caplog: pytest.LogCaptureFixture, count: int, timeout: float = 10.0) -> list[str]:
    """The access log's lines once there are `count` (a line is written as its exchange ends,
    which the client may see a moment before the server does)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "revshare.access"]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def requests(gw: Running) -> dict[str, str]:
    """Six requests: whole, streamed, a stream its client leaves, a bad key, no such model, no
    such route. Returns the record ids of the first three, by name."""
    headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 3}
    ids = {}
    with httpx.Client(timeout=30) as http:
        r = http.post(gw.url + CHAT, json=body, headers=headers)
        assert r.status_code == 200
        ids["whole"] = r.headers["x-revshare-record-id"]
        r = http.post(gw.url + CHAT, json={**body, "stream": True}, headers=headers)
        assert r.status_code == 200 and r.text.rstrip().endswith("[DONE]")
        ids["stream"] = r.headers["x-revshare-record-id"]
        with http.stream("POST", gw.url + CHAT, json={**body, "max_tokens": 200, "stream": True},
                         headers=headers) as response:
            ids["left"] = response.headers["x-revshare-record-id"]
            for line in response.iter_lines():
                if '"content"' in line:
                    break
        assert gw.record(ids["left"]) is not None
        assert http.post(gw.url + CHAT, json=body, headers={"Authorization": "Bearer rsk_wrong_secret"}
                         ).status_code == 401
        assert http.post(gw.url + CHAT, json={**body, "model": "nope"}, headers=headers).status_code == 404
        assert http.get(gw.url + "/no/such/route").status_code == 404
    return ids


def gateway(url: str, base: str, mode: str | None) -> Any:
    raw = stub_catalog_dict(base)
    if mode is not None:
        raw["server"]["access_log"] = mode
    return running_gateway(parse_catalog(raw), url)


def assert_no_secret(caplog: pytest.LogCaptureFixture, gw: Running) -> None:
    everything = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in (*gw.keys.values(), "rsk_wrong_secret", "Bearer", PROMPT, gw.admin_token):
        assert secret not in everything


def test_json_lines_one_per_request(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="revshare.access")
    with stub_upstream(tokens=200, delay_s=0.01) as base, gateway(sqlite_url, base, "json") as gw:
        ids = requests(gw)
        lines = [json.loads(line) for line in access_lines(caplog, 6)]
        assert_no_secret(caplog, gw)
    assert len(lines) == 6
    assert all(list(line) == FIELDS for line in lines)
    by_record = {line["record_id"]: line for line in lines if line["record_id"]}
    assert set(by_record) == set(ids.values())
    key_id = gw.ledger.keys("demo")[0].key_id
    whole, stream, left = (by_record[ids[name]] for name in ("whole", "stream", "left"))
    for line in (whole, stream, left):
        record = gw.ledger.records(record_id=line["record_id"])[0]
        assert (line["customer"], line["key_id"], line["model"], line["method"], line["route"], line["status"]) == (
            "demo", key_id, MODEL, "POST", CHAT, 200)
        assert (line["outcome"], line["prompt_tokens"], line["completion_tokens"]) == (
            record.outcome.value, record.prompt_tokens, record.completion_tokens)
        assert line["duration_ms"] > 0 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert whole["outcome"] == "ok" and whole["ttft_ms"] is None
    assert stream["outcome"] == "ok" and 0 < stream["ttft_ms"] <= stream["duration_ms"]
    assert left["outcome"] == "client_disconnect" and left["completion_tokens"] < 200
    others = sorted((line["status"], line["route"], line["outcome"], line["customer"], line["model"])
                    for line in lines if not line["record_id"])
    assert others == [(401, CHAT, "none", None, None), (404, CHAT, "none", "demo", "nope"),
                      (404, "other", "none", None, None)]


def test_text_lines_by_default_and_none_when_off(sqlite_url: str, tmp_path: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="revshare.access")
    with stub_upstream(tokens=200, delay_s=0.01) as base, gateway(sqlite_url, base, None) as gw:
        ids = requests(gw)
        lines = access_lines(caplog, 6)
        assert_no_secret(caplog, gw)
    assert len(lines) == 6
    for line in lines:
        assert [pair.split("=", 1)[0] for pair in line.split(" ")] == FIELDS
    assert any(f"record_id={ids['whole']} customer=demo" in line and " outcome=ok " in line for line in lines)
    assert any(" route=other status=404 " in line for line in lines)

    caplog.clear()
    with stub_upstream(tokens=200, delay_s=0.01) as base, \
            gateway(f"sqlite:///{tmp_path / 'off.db'}", base, "off") as gw:
        requests(gw)
        # every exchange has ended once all six are counted: a line would have been written by then
        scrape_until(gw.url, lambda s: total(s, "revshare_http_requests_total", route=CHAT) == 5)
        assert [r for r in caplog.records if r.name == "revshare.access"] == []

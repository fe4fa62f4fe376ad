"""A gateway whose catalog has a licensor and a flat-share contract (the stub catalog has none),
rollups folded every 0.2 s, the log signed every 0.2 s; and a helper that makes requests with the
`openai` SDK and waits until the rollups hold them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from revshare.config import Catalog, parse_catalog
from revshare.reporting.fold import folded_seq
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

SHARE = "0.25"


def contracted_catalog(base: str) -> dict[str, Any]:
    raw = stub_catalog_dict(base)
    raw["server"]["rollup_interval_s"] = 0.2
    raw.setdefault("log", {})["interval_s"] = 0.2
    raw["models"][0]["licensor"] = "google"
    # A token costs a whole dollar, so a few requests earn a share worth checking to the cent.
    raw["prices"][0].update(input_per_million="1000000.00", output_per_million="3000000.00")
    raw["licensors"] = [{"id": "google", "name": "Google LLC"}]
    raw["contracts"] = [{"id": "google-gemma", "licensor": "google", "lineage": MODEL, "basis": "gross",
                         "share": SHARE, "effective_from": "2026-01-01", "currency": "USD"}]
    return raw


@contextmanager
def contracted_gateway(sqlite_url: str) -> Iterator[tuple[Running, Catalog]]:
    with stub_upstream() as base:
        catalog = parse_catalog(contracted_catalog(base))
        with running_gateway(catalog, sqlite_url) as running:
            yield running, catalog


def use(gw: Running, **calls: int) -> list[str]:
    """Requests with the `openai` SDK, per customer; the record ids, once the rollups hold them all."""
    ids = []
    for customer, n in calls.items():
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[customer], max_retries=0)
        for _ in range(n):
            answer = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
            ids.append(answer.headers["x-revshare-record-id"])
    appended, deadline = gw.ledger.count(), time.monotonic() + 20
    while folded_seq(gw.ledger) < appended:
        assert time.monotonic() < deadline, "the rollups did not catch up"
        time.sleep(0.05)
    return ids

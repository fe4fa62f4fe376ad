"""Labels stay low-cardinality: 1,000 customers add no series, and none names a customer or key."""

from __future__ import annotations

import httpx

from revshare.config import parse_catalog
from tests.metrics.scrape import Samples, scrape, scrape_until, total
from tests.support.servers import running_gateway
from tests.support.stub_gateway import BODY, stub_catalog_dict, stub_upstream

CUSTOMERS = 1000


def series(samples: Samples) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    # The logs' gauges follow the log service's own clock (a log appears once it has a leaf);
    # they are labelled by log id, a bounded set, and not what this test is about.
    return {key for key in samples if not key[0].startswith("revshare_log_")}


def test_a_thousand_customers_do_not_grow_the_series_count(sqlite_url: str) -> None:
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["customers"] = [{"name": f"customer{i}", "models": ["*"]} for i in range(CUSTOMERS)]
        with running_gateway(parse_catalog(raw), sqlite_url) as gw, httpx.Client(timeout=30) as http:
            def ask(customer: str) -> None:
                r = http.post(gw.url + "/v1/chat/completions", json=BODY,
                              headers={"Authorization": f"Bearer {gw.keys[customer]}"})
                assert r.status_code == 200, r.text

            scrape(gw.url)  # /metrics counts itself: its own series exist from the second scrape on
            ask("customer0")
            one = scrape_until(gw.url, lambda s: total(s, "revshare_records_committed_total") == 1
                               and total(s, "revshare_http_requests_total", route="/v1/chat/completions") == 1)
            for i in range(1, CUSTOMERS):
                ask(f"customer{i}")
            many = scrape_until(gw.url, lambda s: total(s, "revshare_records_committed_total") == CUSTOMERS
                                and total(s, "revshare_http_requests_total", route="/v1/chat/completions") == CUSTOMERS)
            assert total(many, "revshare_records_committed_total") == CUSTOMERS
            assert series(many) == series(one)
            label_values = {value for _, labels in many for _, value in labels}
            secrets = set(gw.keys.values()) | {k.key_id for c in raw["customers"] for k in gw.ledger.keys(c["name"])}
            assert not label_values & ({c["name"] for c in raw["customers"]} | secrets)

"""The record list pages over plain HTTP: the operator pages through every customer's records
with a cursor and filters kept in the URL; a customer sees only its own, whatever its URL says;
bad filters get the page again with a message, status 400, and list nothing."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from revshare.api.console import pages_records
from revshare.records.record import Outcome
from tests.support.browser import ConsoleClient
from tests.support.records import record
from tests.support.servers import Running

Console = Callable[[], ConsoleClient]
DAY = datetime(2026, 11, 3, tzinfo=UTC)


def _seed(gw: Running) -> None:
    """7 records of demo's and 5 of acme's over 3 days; acme's last one an engine error."""
    records = []
    for n in range(12):
        base = record(n, customer="demo" if n < 7 else "acme")
        started = DAY + timedelta(days=n % 3, minutes=n)
        records.append(dataclasses.replace(base, started_at=started, ended_at=started,
                                           outcome=Outcome.ENGINE_ERROR if n == 11 else Outcome.OK))
    gw.ledger.append_now(records)


def _ids(page: str) -> list[str]:
    return re.findall(r'<td data-label="Record">(?:<a [^>]*>)?<code>([^<]+)</code>', page)


def _link(page: str, words: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*>{words}</a>', page)
    return html.unescape(found[1]) if found else None


def test_the_operator_pages_through_the_records_with_the_filters_in_every_link(
        gw: Running, operator: ConsoleClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(gw)
    monkeypatch.setattr(pages_records, "PAGE_SIZE", 3)
    first = operator.get("/console/records", params={"customer": "demo"})
    assert first.status_code == 200 and "UTC" in first.text
    seen, page, pages = _ids(first.text), first.text, 1
    assert _link(page, "First page") is None
    while (following := _link(page, "Next page")) is not None:
        query = parse_qs(urlsplit(following).query)
        assert query["customer"] == ["demo"] and int(query["after"][0]) > 0
        page = operator.get(following).text
        seen += _ids(page)
        pages += 1
        assert _link(page, "First page") == "/console/records?customer=demo"
    assert pages == 3 and "No more records." in page
    demo = [r.id for r in gw.ledger.records(customer="demo")]
    assert seen == demo  # each once, in ledger order

    one_day = operator.get("/console/records", params={"start": "2026-11-04", "end": "2026-11-04",
                                                       "outcome": "ok", "model": "gemma-3-270m"}).text
    expected = [r.id for r in gw.ledger.records() if r.started_at.date().day == 4 and r.outcome == Outcome.OK]
    assert _ids(one_day) == expected[:3] and 'value="2026-11-04"' in one_day
    errors = operator.get("/console/records", params={"outcome": "engine_error"}).text
    assert _ids(errors) == ["rec_test00000011"] and '<option value="engine_error" selected>' in errors


def test_a_customer_sees_only_its_own_records_whatever_the_url_says(gw: Running, console: Console) -> None:
    _seed(gw)
    customer = console()
    assert customer.login(gw.keys["acme"]).status_code == 303
    acme = [r.id for r in gw.ledger.records(customer="acme")]
    for params in ({}, {"customer": "demo"}, {"customer": "demo", "after": "0"}):
        page = customer.get("/console/me/records", params=params)
        assert page.status_code == 200 and _ids(page.text) == acme, params
        assert 'name="customer"' not in page.text and "demo" not in page.text
    assert f'href="/console/me/receipts?record_id={acme[0]}"' in page.text
    for path in ("/console/records", "/console/records?customer=acme"):
        assert customer.get(path).status_code == 403, path


def test_the_operator_is_refused_a_customers_record_page(operator: ConsoleClient) -> None:
    assert operator.get("/console/me/records").status_code == 403


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "yesterday"}, "start"),
    ({"end": "2026-02-30"}, "end"),
    ({"start": "2026-11-02", "end": "2026-11-01"}, "end"),
    ({"outcome": "fine"}, "outcome"),
    ({"model": "m" * 129}, "model"),
    ({"key": "k" * 129}, "key"),
    ({"customer": "c" * 129}, "customer"),
])
def test_bad_filters_get_the_page_again_with_a_message(gw: Running, operator: ConsoleClient,
                                                        params: dict[str, str], field: str) -> None:
    _seed(gw)
    page = operator.get("/console/records", params=params)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert f'id="e-{field}"' in page.text and _ids(page.text) == []


@pytest.mark.parametrize("after", ["-1", "x", "99999999999999999999", "1.5"])
def test_a_bad_cursor_is_refused_with_a_message(gw: Running, operator: ConsoleClient, after: str) -> None:
    _seed(gw)
    page = operator.get("/console/records", params={"after": after})
    assert page.status_code == 400 and "the page: a record" in page.text and _ids(page.text) == []

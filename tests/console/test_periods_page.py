"""The operator's periods page: close and settle through forms (CSRF, role), bad input gets a
message and changes nothing, and the documents download as issued."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from revshare.monthend.periods import closed_periods
from tests.console.contracted import contracted_gateway, use
from tests.support.browser import ConsoleClient
from tests.support.servers import Running

Console = Callable[[], ConsoleClient]


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with contracted_gateway(sqlite_url) as (running, _catalog):
        yield running


def _this_month() -> str:
    now = datetime.now(UTC)
    return f"{now.year:04d}-{now.month:02d}"


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"period": "2026-13"}, 400, "The period is a month, YYYY-MM (UTC)."),
    ({"period": "soon"}, 400, "The period is a month, YYYY-MM (UTC)."),
    ({"period": "2026-01", "note": "x" * 501}, 400, "The note is at most 500 printable characters."),
    ({"period": "2999-01"}, 409, "has not started yet"),
    ({"period": "__this__"}, 409, "has not ended"),  # not early
])
def test_a_refused_close_says_why_and_changes_nothing(gw: Running, operator: ConsoleClient, fields: dict[str, str],
                                                      status: int, message: str) -> None:
    fields = {k: _this_month() if v == "__this__" else v for k, v in fields.items()} | {"confirm": "yes"}
    page = operator.post("/console/periods/close", fields, csrf_from="/console/periods")
    assert page.status_code == status and message in page.text and "Nothing was changed." in page.text
    assert closed_periods(gw.ledger) == []


def test_close_settle_and_download(gw: Running, operator: ConsoleClient) -> None:
    use(gw, demo=2, acme=1)
    month = _this_month()
    assert operator.get("/console/periods").status_code == 200
    asked = operator.post("/console/periods/close", {"period": month, "early": "on", "note": "test run"},
                          csrf_from="/console/periods")
    assert asked.status_code == 200 and f"Yes, close {month}" in asked.text and closed_periods(gw.ledger) == []
    closed = operator.post("/console/periods/close", {"period": month, "early": "on", "note": "test run",
                                                      "confirm": "yes"}, csrf_from="/console/periods")
    assert closed.status_code == 303 and closed.headers["location"] == "/console/periods?done=closed"
    (period,) = closed_periods(gw.ledger)
    assert period.period.label == month and period.early and period.closed_by == "admin (Ops) via console"
    again = operator.post("/console/periods/close", {"period": month, "early": "on", "confirm": "yes"},
                          csrf_from="/console/periods")
    assert again.status_code == 409 and "is already closed" in again.text
    assert operator.post("/console/periods/2026-99/settle", {}, csrf_from="/console/periods").status_code == 400
    settled = operator.post(f"/console/periods/{month}/settle", {}, csrf_from="/console/periods")
    assert settled.status_code == 303, settled.text[-800:]
    page = operator.get("/console/periods?done=settled").text
    assert "Period settled" in page
    links = [part.split('"', 1)[0] for part in page.split(f'href="/console/periods/{month}/documents/')[1:]]
    assert len(links) == 3  # google's statement, demo's and acme's invoices
    listed = {d["name"]: d for d in gw_documents(gw)}
    for name in links:
        answer = operator.get(f"/console/periods/{month}/documents/{name}")
        assert answer.status_code == 200 and answer.headers["content-disposition"].startswith("attachment")
        assert hashlib.sha256(answer.content).hexdigest() == answer.headers["x-revshare-sha256"] \
            == listed[name]["sha256"]
    assert operator.get(f"/console/periods/{month}/documents/nothing-here").status_code == 404


def gw_documents(gw: Running) -> list[dict[str, str]]:
    answer = httpx.get(gw.url + "/admin/documents", headers={"Authorization": f"Bearer {gw.admin_token}"})
    data: list[dict[str, str]] = answer.json()["data"]
    return data


def test_a_customer_cannot_close_by_url_or_by_form(gw: Running, console: Console, operator: ConsoleClient) -> None:
    customer = console()
    assert customer.login(gw.keys["acme"]).status_code == 303
    assert customer.get("/console/periods").status_code == 403
    forged = customer.post("/console/periods/close", {"period": _this_month(), "early": "on", "confirm": "yes"},
                           csrf_from="/console/me")
    assert forged.status_code == 403
    no_token = operator.post("/console/periods/close", {"period": _this_month(), "early": "on", "confirm": "yes",
                                                        "csrf": "nope"},
                             csrf_from=None)
    assert no_token.status_code == 403
    assert closed_periods(gw.ledger) == []


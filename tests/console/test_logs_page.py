"""The operator's Logs page and `GET /admin/logs`: per log its size, newest checkpoint and age,
waiting records and audit result; the operator's only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.console.contracted import contracted_gateway, use
from tests.support.browser import ConsoleClient
from tests.support.servers import Running


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with contracted_gateway(sqlite_url) as (running, _catalog):
        yield running


def _logs(gw: Running, token: str) -> httpx.Response:
    return httpx.get(gw.url + "/admin/logs", headers={"Authorization": f"Bearer {token}"})


def test_the_logs_as_the_api_and_the_page_show_them(gw: Running, operator: ConsoleClient) -> None:
    use(gw, demo=2, acme=1)
    deadline = time.monotonic() + 20
    while True:
        answer = _logs(gw, gw.admin_token)
        assert answer.status_code == 200
        body = answer.json()
        sizes = {row["log_id"]: row["checkpoint_size"] for row in body["data"]}
        if sizes.get("google") == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body["object"] == "logs" and body["integrated_seq"] == 3 and body["last_error"] is None
    google = next(row for row in body["data"] if row["log_id"] == "google")
    assert google["size"] == 3 and google["pending"] == 0 and google["audit"] == "ok"
    assert 0 <= google["checkpoint_age_s"] < 60 and google["checkpoint_signed_at"].endswith("Z")
    page = operator.get("/console/logs")
    assert page.status_code == 200
    row = page.text.split("<code>google</code>", 1)[1].split("</tr>", 1)[0]
    assert '<td data-label="Size" class="num">3</td>' in row and '<span class="tag tag-on">ok</span>' in row
    assert "Integrated up to record <strong>#3</strong>" in page.text


def test_only_the_operator_reads_the_logs_overview(gw: Running, console: Callable[[], ConsoleClient]) -> None:
    assert _logs(gw, gw.keys["acme"]).status_code == 401
    assert _logs(gw, "nope").status_code == 401
    customer = console()
    assert customer.login(gw.keys["acme"]).status_code == 303
    assert customer.get("/console/logs").status_code == 403


def test_the_route_is_in_the_openapi_document(gw: Running) -> None:
    spec = httpx.get(gw.url + "/openapi.json").json()
    operation = spec["paths"]["/admin/logs"]["get"]
    assert operation["operationId"] == "listLogs" and "Logs" in spec["components"]["schemas"]

"""A query parameter given twice is refused, not read as its last value (found by the fuzz, issue 17)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from revshare.logstore.licensor_tokens import create_token
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import stub_catalog, stub_upstream


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp('query') / 'ledger.db'}"
    with stub_upstream() as base, running_gateway(stub_catalog(base), url) as running:
        yield running


@pytest.mark.parametrize(("path", "who"), [
    ("/v1/log/google/leaves?start=0&end=0&end=false", "licensor"),
    ("/v1/log/google/proof/consistency?old=1&old=2", "admin"),
    ("/admin/records?after_seq=0&limit=5&after_seq=9", "admin"),
    ("/v1/receipts/rec_x?format=json&format=tlog-proof", "admin"),
])
def test_a_repeated_query_parameter_is_a_400_naming_it(gw: Running, path: str, who: str) -> None:
    token = gw.admin_token if who == "admin" else create_token(gw.ledger, "google")[1]
    r = httpx.get(gw.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    name = path.rsplit("&", 1)[1].split("=")[0]
    assert (error["code"], error["param"]) == ("invalid_value", name)
    assert "given 2 times" in error["message"]


def test_each_parameter_once_is_answered(gw: Running) -> None:
    r = httpx.get(gw.url + "/admin/records?after_seq=0&limit=5", headers={"Authorization": f"Bearer {gw.admin_token}"},
                  timeout=30)
    assert r.status_code == 200, r.text

"""Tenants stay apart: every cross-tenant read is 401, 403 or 404, and no secret reaches a log."""

from __future__ import annotations

import logging

import httpx
import pytest

from revshare.logstore.licensor_tokens import create_token
from tests.support.servers import running_gateway
from tests.support.stub_gateway import BODY, stub_catalog, stub_upstream


def test_every_cross_tenant_read_is_refused_and_no_secret_is_logged(
    sqlite_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with stub_upstream() as base, running_gateway(stub_catalog(base), sqlite_url) as gw:
        _, google = create_token(gw.ledger, "google")
        _, other = create_token(gw.ledger, "meta")
        demo, acme, admin = gw.keys["demo"], gw.keys["acme"], gw.admin_token

        def get(path: str, token: str) -> int:
            return httpx.get(gw.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code

        r = httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {demo}"},
                       timeout=30)
        assert r.status_code == 200
        demo_record = r.headers["x-revshare-record-id"]
        # a customer reads another customer's receipt
        assert get(f"/v1/receipts/{demo_record}", acme) == 404
        # a customer key on the admin API, and the admin token on customer routes
        for path in ("/admin/customers", "/admin/keys", "/admin/records", "/admin/records?customer=demo",
                     "/admin/keys?customer=demo"):
            assert get(path, acme) == 401
            assert get(path, google) == 401
        assert httpx.post(gw.url + "/v1/chat/completions", json=BODY,
                          headers={"Authorization": f"Bearer {admin}"}, timeout=30).status_code == 401
        assert get("/v1/models", admin) == 401
        # a licensor token on another licensor's log, a customer key on any log
        for path in ("/v1/log/google/checkpoint", "/v1/log/google/leaves?start=0&end=1",
                     "/v1/log/google/proof/consistency?first=1&second=1",
                     f"/v1/log/google/proof/inclusion?record_id={demo_record}"):
            assert get(path, other) == 403
            assert get(path, demo) == 403
        # a licensor token is not a customer key
        assert get(f"/v1/receipts/{demo_record}", google) == 401
        assert get("/v1/models", google) == 401
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for secret in (demo, acme, admin, google, other):
        assert secret not in logged

"""A bounded schemathesis run against /openapi.json: no 5xx, no response outside the schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.support.servers import running_gateway
from tests.support.stub_gateway import stub_catalog, stub_upstream

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_no_server_errors_and_responses_match_the_schema(sqlite_url: str) -> None:
    with stub_upstream() as base, running_gateway(stub_catalog(base), sqlite_url) as gw:
        schema = schemathesis.openapi.from_url(gw.url + "/openapi.json")
        headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {op.path for op in operations}
        assert {"/v1/chat/completions", "/v1/completions", "/v1/models", "/admin/records",
                "/v1/receipts/{record_id}", "/healthz"} <= paths
        assert any(p.startswith("/v1/log/") for p in paths)
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            run()

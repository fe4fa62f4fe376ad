"""Issue 17: /openapi.json says what the server does (media types, statuses, schemas, credentials).

Each of these was missing before: a streamed completion is `text/event-stream`, a tlog-proof
receipt `text/plain`; a log read can be 409 `not_yet_integrated`; the 200 bodies of completions
and receipts had the empty schema `{}`; no security scheme was declared, so a fuzzer could not
check that an operation refuses a request without its credentials.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from revshare.api.app import create_app
from revshare.api.protocol import ChatCompletionRequest
from revshare.config import parse_catalog
from revshare.ledger.store import Ledger
from tests.support.stub_gateway import MODEL, stub_catalog, stub_catalog_dict

CHAT, TEXT, RECEIPT = "/v1/chat/completions", "/v1/completions", "/v1/receipts/{record_id}"
LOG_READS = ("/v1/log/{log_id}/checkpoint", "/v1/log/{log_id}/proof/inclusion", "/v1/log/{log_id}/proof/consistency",
             "/v1/log/{log_id}/leaves")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'ledger.db'}"
    app = create_app(stub_catalog("http://127.0.0.1:9/v1"), admin_token="x", ledger=Ledger(url))
    document: dict[str, Any] = app.openapi()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_streams_and_tlog_proofs_have_their_media_types(spec: dict[str, Any]) -> None:
    for path in (CHAT, TEXT):
        content = spec["paths"][path]["post"]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/event-stream"}
        event = content["text/event-stream"]["schema"]["properties"]["data"]
        assert event["if"] == {"const": "[DONE]"} and event["else"]["contentMediaType"] == "application/json"
    assert set(spec["paths"][RECEIPT]["get"]["responses"]["200"]["content"]) == {"application/json", "text/plain"}


def test_completions_and_receipts_have_real_schemas(spec: dict[str, Any]) -> None:
    for path, method, name in ((CHAT, "post", "ChatCompletion"), (TEXT, "post", "Completion"),
                               (RECEIPT, "get", "Receipt")):
        schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{name}"}
        assert _resolve(spec, schema)["required"], name
    assert set(_resolve(spec, {"$ref": "#/components/schemas/Receipt"})["required"]) == {
        "format", "record", "index", "proof", "checkpoint"}
    assert spec["paths"][CHAT]["post"]["responses"]["200"]["headers"]["x-revshare-record-id"]["required"] is True
    empty = [(path, method) for path, method, op in _operations(spec)
             for media in op["responses"].get("200", {}).get("content", {}).values() if media.get("schema") == {}]
    assert not empty


def test_not_yet_integrated_is_declared_where_a_log_is_read(spec: dict[str, Any]) -> None:
    for path in (*LOG_READS, RECEIPT):
        assert "409" in spec["paths"][path]["get"]["responses"], path


def test_every_operation_names_its_credentials(spec: dict[str, Any]) -> None:
    assert {name: scheme["scheme"] for name, scheme in spec["components"]["securitySchemes"].items()} == {
        "apiKey": "bearer", "adminToken": "bearer", "licensorToken": "bearer"}
    security = {(path, method): op.get("security") for path, method, op in _operations(spec)}
    assert all(value is not None for value in security.values()), security
    assert security[(CHAT, "post")] == [{"apiKey": []}]
    assert security[("/admin/records", "get")] == [{"adminToken": []}]
    assert security[(RECEIPT, "get")] == [{"apiKey": []}, {"adminToken": []}]
    for path in LOG_READS:
        assert security[(path, "get")] == [{"licensorToken": []}, {"adminToken": []}]
    for path in ("/healthz", "/readyz", "/v1/log/vkey", "/metrics"):
        assert security[(path, "get")] == []


def test_a_metrics_token_is_declared_when_configured(tmp_path: Path) -> None:
    raw = stub_catalog_dict("http://127.0.0.1:9/v1")
    raw["server"]["metrics_token_env"] = "REVSHARE_METRICS_TOKEN"
    app = create_app(parse_catalog(raw), admin_token="x", ledger=Ledger(f"sqlite:///{tmp_path / 'l.db'}"))
    document = app.openapi()
    assert document["paths"]["/metrics"]["get"]["security"] == [{"metricsToken": []}]
    assert "metricsToken" in document["components"]["securitySchemes"]


def test_no_route_declares_fastapis_422(spec: dict[str, Any]) -> None:
    """Validation answers 400 (OpenAI's way); 422 is only the Idempotency-Key reused with another body."""
    declared = [(path, method) for path, method, op in _operations(spec) if "422" in op["responses"]]
    assert declared == [(CHAT, "post"), (TEXT, "post"), ("/v1/embeddings", "post"), ("/v1/responses", "post")]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_links_lead_from_records_to_receipts_and_proofs(spec: dict[str, Any]) -> None:
    ids = {op["operationId"] for _, _, op in _operations(spec)}
    links = {(path, name): link for path, method, op in _operations(spec)
             for name, link in op["responses"].get("200", {}).get("links", {}).items()}
    assert links[(CHAT, "GetReceipt")]["parameters"] == {"path.record_id": "$response.header.x-revshare-record-id"}
    assert links[("/admin/records", "GetReceipt")]["operationId"] == "getReceipt"
    assert links[(RECEIPT, "GetInclusionProof")]["operationId"] == "getInclusionProof"
    assert all(link["operationId"] in ids for link in links.values())


@pytest.mark.parametrize("token", ["0", "7", "2147483647", "2147483646", "999999999", "1999999999"])
def test_the_documented_token_id_pattern_accepts_what_the_api_accepts(spec: dict[str, Any], token: str) -> None:
    _agree(spec, token, accepted=True)


@pytest.mark.parametrize("token", ["2147483648", "9999999999", "01", "-1", "+1", "", "1.0", "21474836470"])
def test_the_documented_token_id_pattern_refuses_what_the_api_refuses(spec: dict[str, Any], token: str) -> None:
    _agree(spec, token, accepted=False)


def _agree(spec: dict[str, Any], token: str, accepted: bool) -> None:
    schema = _resolve(spec, spec["paths"][CHAT]["post"]["requestBody"]["content"]["application/json"]["schema"])
    bias = next(s for s in schema["properties"]["logit_bias"]["anyOf"] if s.get("type") == "object")
    assert (re.search(bias["propertyNames"]["pattern"], token) is not None) is accepted
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "logit_bias": {token: 1}}
    try:
        ChatCompletionRequest.model_validate(body)
    except ValidationError:
        assert not accepted
    else:
        assert accepted

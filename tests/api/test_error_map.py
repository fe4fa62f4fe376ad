"""The API's one table from domain refusals and engine failures to statuses and OpenAI bodies."""

from __future__ import annotations

import json

import pytest

from revshare.api.errors import ENGINE_ERROR_STATUS, REFUSAL_STATUS, engine_error_body, refusal_response
from revshare.api.sse import OPENAI_WIRE
from revshare.engines.base import EngineError, EngineRejected, EngineUnavailable
from revshare.metering.refusal import Refusal, RefusalKind


def test_every_refusal_kind_has_a_client_or_service_status() -> None:
    assert set(REFUSAL_STATUS) == set(RefusalKind)
    assert all(400 <= status < 600 for status in REFUSAL_STATUS.values())


@pytest.mark.parametrize(("kind", "status"), [
    (RefusalKind.BUDGET_EXCEEDED, 402), (RefusalKind.RATE_LIMITED, 429), (RefusalKind.MODEL_NOT_FOUND, 404),
    (RefusalKind.IDEMPOTENCY_KEY_IN_USE, 409), (RefusalKind.IDEMPOTENCY_KEY_REUSED, 422),
    (RefusalKind.LEDGER_UNAVAILABLE, 503),
])
def test_refusal_response_is_openai_shaped(kind: RefusalKind, status: int) -> None:
    response = refusal_response(Refusal(kind, "why <b>not</b>", param="p", retry_after=3))
    assert response.status_code == status
    assert response.headers["retry-after"] == "3"
    assert json.loads(response.body)["error"] == {
        "message": "why <b>not</b>", "type": json.loads(response.body)["error"]["type"], "param": "p",
        "code": kind.value}


def test_a_refusal_without_retry_after_sends_no_header() -> None:
    assert "retry-after" not in refusal_response(Refusal(RefusalKind.MODEL_NOT_ALLOWED, "no")).headers


@pytest.mark.parametrize(("exc", "status", "code"), [
    (EngineRejected("bad prompt", param="messages"), 400, "engine_error"),
    (EngineUnavailable("down"), 503, "engine_unavailable"),
    (EngineError("broke"), 502, "engine_error"),
])
def test_engine_errors_map_by_class(exc: EngineError, status: int, code: str) -> None:
    got_status, body = engine_error_body(exc)
    assert got_status == status
    assert json.loads(body)["error"]["code"] == code
    assert json.loads(body)["error"]["message"] == exc.message
    assert ENGINE_ERROR_STATUS[-1][0] is EngineError  # the catch-all comes last


def test_a_stream_ends_with_the_same_error_body() -> None:
    event = OPENAI_WIRE.stream_error(EngineUnavailable("down"))
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[6:])["error"]["code"] == "engine_unavailable"
    refused = OPENAI_WIRE.stream_error(Refusal(RefusalKind.LEDGER_UNAVAILABLE, "gone"))
    assert json.loads(refused[6:])["error"]["code"] == "ledger_unavailable"

"""Admission is a value: each refusal has its kind, message and param; no HTTP in sight."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from revshare.config import parse_catalog
from revshare.metering.admission import Ask, admit
from revshare.metering.meter import Admitted
from revshare.metering.refusal import Refusal, RefusalKind
from tests.support.catalogs import catalog_dict, make_catalog

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def ask(**overrides: object) -> Ask:
    fields: dict[str, object] = {"customer": "demo", "key_id": "key_1", "model": "gemma-3-270m",
                                 "endpoint": "chat.completions", "stream": False}
    fields.update(overrides)
    return Ask(**fields)  # type: ignore[arg-type]


def test_admitted_fixes_who_what_and_price() -> None:
    result = admit(make_catalog(), {"local"}, ask(max_tokens=16, idempotency_key="k"), NOW)
    assert isinstance(result, Admitted)
    assert (result.customer, result.key_id, result.model.id) == ("demo", "key_1", "gemma-3-270m")
    assert result.licensors == ("google",)
    assert result.price.version == "gemma-3-270m@2026-01-01T00:00:00Z"
    assert result.idempotency_key == "k"


@pytest.mark.parametrize(("overrides", "engines", "kind", "param"), [
    ({"model": "nope"}, {"local"}, RefusalKind.MODEL_NOT_FOUND, "model"),
    ({"customer": "locked"}, {"local"}, RefusalKind.MODEL_NOT_ALLOWED, "model"),
    ({"customer": "ghost"}, {"local"}, RefusalKind.MODEL_NOT_ALLOWED, "model"),
    ({"max_tokens": 4096}, {"local"}, RefusalKind.CONTEXT_LENGTH_EXCEEDED, "max_tokens"),
    ({}, set(), RefusalKind.ENGINE_UNAVAILABLE, None),
])
def test_each_refusal_names_its_kind(overrides: dict[str, object], engines: set[str], kind: RefusalKind,
                                     param: str | None) -> None:
    result = admit(make_catalog(), engines, ask(**overrides), NOW)
    assert isinstance(result, Refusal)
    assert (result.kind, result.param) == (kind, param)
    assert result.message


def test_no_price_in_force_yet() -> None:
    raw = catalog_dict()
    raw["prices"][0]["effective_from"] = "2027-01-01T00:00:00Z"
    result = admit(parse_catalog(raw, source="test.toml"), {"local"}, ask(), NOW)
    assert isinstance(result, Refusal)
    assert result.kind is RefusalKind.NO_PRICE
    assert "no price is in force yet for 'gemma-3-270m'" in result.message

"""A catalog with licence terms for the monthly-active-user tests (tests/terms/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.support.catalogs import catalog_dict

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)


def users_catalog(thresholds: list[int] | None = None) -> dict[str, Any]:
    """The test catalog with Gemma's terms (`mau_thresholds`, default [4, 100]) binding its model and
    a fine-tune of it (`gemma-ft`), and a model bound by none (`gemma-plain`)."""
    raw = catalog_dict()
    raw["licences"] = [{"id": "gemma", "name": "Gemma Terms of Use", "version": "1",
                        "url": "https://ai.google.dev/gemma/terms", "mau_thresholds": thresholds or [4, 100]}]
    raw["models"][0]["licence"] = "gemma"
    raw["models"] += [{"id": "gemma-ft", "engine": "local", "base_model": "gemma-3-270m"},
                      {"id": "gemma-plain", "engine": "local"}]
    raw["prices"] += [{**raw["prices"][0], "model": m} for m in ("gemma-ft", "gemma-plain")]
    return raw

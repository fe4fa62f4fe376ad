"""The catalog's [analytics] table: defaults, a clear error naming the field, and docs/CONFIG.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from revshare.config import ConfigError, parse_catalog
from revshare.config.analytics_section import AnalyticsConfig
from tests.support.paths import REPO


def test_the_store_defaults_to_the_data_dir_and_can_be_moved() -> None:
    plain = parse_catalog({"server": {"data_dir": "/var/lib/revshare"}})
    assert plain.analytics.enabled and plain.analytics_path() == Path("/var/lib/revshare/analytics.duckdb")
    moved = parse_catalog({"analytics": {"path": "/data/usage.duckdb", "batch": 5000}})
    assert moved.analytics_path() == Path("/data/usage.duckdb") and moved.analytics.batch == 5000


def test_a_bad_field_is_named() -> None:
    with pytest.raises(ConfigError, match=r"analytics\.batch"):
        parse_catalog({"analytics": {"batch": 0}})
    with pytest.raises(ConfigError, match=r"analytics\.colour"):
        parse_catalog({"analytics": {"colour": "blue"}})


def test_every_field_is_documented_in_config_md() -> None:
    docs = (REPO / "docs" / "CONFIG.md").read_text()
    for name in AnalyticsConfig.model_fields:
        assert f"| `{name}` |" in docs, name

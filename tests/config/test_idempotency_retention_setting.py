"""`server.idempotency_retention_s`: how long replay bodies are kept, validated like every field."""

from __future__ import annotations

import pytest

from revshare.config import ConfigError, parse_catalog
from tests.support.catalogs import catalog_dict


def test_the_default_is_24_hours_and_a_value_is_read() -> None:
    assert parse_catalog(catalog_dict()).server.idempotency_retention_s == 86_400
    assert parse_catalog(catalog_dict(idempotency_retention_s=3600)).server.idempotency_retention_s == 3600


@pytest.mark.parametrize(("value", "message"), [
    (0, "greater than or equal to 60"),
    (-1, "greater than or equal to 60"),
    (59, "greater than or equal to 60"),
    (31 * 86_400, "less than or equal to 2592000"),
    ("1 day", "valid number"),
    (True, "valid number"),
])
def test_a_bad_window_names_file_and_field(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_catalog(catalog_dict(idempotency_retention_s=value), source="cat.toml")
    assert "cat.toml: server.idempotency_retention_s: " in str(info.value)
    assert message in str(info.value)

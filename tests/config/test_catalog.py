"""The catalog: the demo file loads, and each mistake is named by file, entry and field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from revshare.config import ConfigError, load_catalog, parse_catalog
from tests.support.catalogs import catalog_dict
from tests.support.paths import REPO


def errors_of(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_catalog(raw, source="cat.toml")
    return str(info.value)


def test_demo_catalog_loads() -> None:
    catalog = load_catalog(REPO / "revshare.toml")
    assert [m.id for m in catalog.models] == ["gemma-3-270m"]
    assert catalog.customer("demo") is not None
    assert catalog.licensor_chain("gemma-3-270m") == ("google",)


def mutate(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    raw = copy.deepcopy(catalog_dict())
    node: Any = raw
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("models", 0, "engine"), "gpu0", "cat.toml: models[0] (id='gemma-3-270m').engine: unknown engine 'gpu0'"),
    (("prices", 0, "input_per_million"), 0.1, "cat.toml: prices[0] (model='gemma-3-270m').input_per_million: write money as a string"),
    (("prices", 0, "input_per_million"), "-1", "prices[0] (model='gemma-3-270m').input_per_million: must not be negative"),
    (("prices", 0, "input_per_million"), "ten", "prices[0] (model='gemma-3-270m').input_per_million: not a decimal amount"),
    (("prices", 0, "currency"), "usd", "prices[0] (model='gemma-3-270m').currency"),
    (("prices", 0, "model"), "nope", "prices[0] (model='nope').model: unknown model 'nope'"),
    (("prices", 0, "effective_from"), "yesterday", "prices[0] (model='gemma-3-270m').effective_from: not an ISO 8601"),
    (("engines", 0, "kind"), "gpu", "engines[0] (id='local').kind"),
    (("engines", 0, "colour"), "red", "engines[0] (id='local').colour: unknown field"),
    (("server", "port"), 70000, "server.port"),
    (("models", 0, "id"), KeyError, "models[0].id: Field required"),
])
def test_each_mistake_names_file_entry_and_field(path: tuple[str | int, ...], value: object, expected: str) -> None:
    assert expected in errors_of(mutate(path, value))


def test_upstream_needs_a_base_url() -> None:
    raw = catalog_dict(engines=[{"id": "up", "kind": "upstream"}])
    assert "cat.toml: engines[0] (id='up'): an upstream engine needs base_url" in errors_of(raw)


def test_duplicate_ids_and_missing_prices() -> None:
    raw = catalog_dict()
    raw["customers"].append({"name": "demo"})
    assert "customers[3] (name='demo'): duplicate id 'demo'" in errors_of(raw)
    raw = catalog_dict()
    raw["prices"] = []
    assert "models[0] (id='gemma-3-270m').id: model 'gemma-3-270m' has no entry in [[prices]]" in errors_of(raw)


def test_lineage_cycles_are_refused() -> None:
    raw = catalog_dict()
    raw["models"].append({"id": "ft", "engine": "local", "base_model": "gemma-3-270m"})
    raw["models"][0]["base_model"] = "ft"
    raw["prices"].append({**raw["prices"][0], "model": "ft"})
    assert "is a cycle" in errors_of(raw)


def test_lineage_chain_and_price_versions() -> None:
    raw = catalog_dict()
    raw["models"].append({"id": "gemma-ft", "engine": "local", "base_model": "gemma-3-270m", "licensor": "tuner"})
    raw["prices"] += [
        {**raw["prices"][0], "model": "gemma-ft"},
        {**raw["prices"][0], "input_per_million": "0.20", "effective_from": "2026-06-01T00:00:00Z"},
    ]
    catalog = parse_catalog(raw)
    assert catalog.licensor_chain("gemma-ft") == ("tuner", "google")
    may = catalog.price_at("gemma-3-270m", datetime(2026, 5, 31, 23, 59, tzinfo=UTC))
    june = catalog.price_at("gemma-3-270m", datetime(2026, 6, 1, tzinfo=UTC))
    assert may is not None and june is not None
    assert (may.version, june.version) == ("gemma-3-270m@2026-01-01T00:00:00Z", "gemma-3-270m@2026-06-01T00:00:00Z")
    assert str(june.input_per_million) == "0.20"
    assert catalog.price_at("gemma-3-270m", datetime(2025, 1, 1, tzinfo=UTC)) is None


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such catalog file"):
        load_catalog(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML"):
        load_catalog(bad)


def test_database_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = parse_catalog(catalog_dict(database_url="sqlite:///from-config.db"))
    monkeypatch.delenv("REVSHARE_DATABASE_URL", raising=False)
    assert catalog.database_url() == "sqlite:///from-config.db"
    monkeypatch.setenv("REVSHARE_DATABASE_URL", "postgresql+psycopg://x@h/db")
    assert catalog.database_url() == "postgresql+psycopg://x@h/db"

"""The checks across sections: each returns its errors as values, and a catalog with several
mistakes is refused with every one of them, one line each, in a single ConfigError."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import revshare.config
from revshare.config import ConfigError, parse_catalog
from revshare.config.checks import EntryError, validate_catalog
from tests.support.catalogs import catalog_dict
from tests.support.paths import REPO

LICENSED: dict[str, Any] = {
    "licensors": [{"id": "google", "name": "Google"}],
    "contracts": [{"id": "g", "licensor": "google", "lineage": "gemma-3-270m", "share": "0.1",
                   "effective_from": "2026-01-01"}],
}


def errors_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_catalog(raw, source="cat.toml")
    return str(info.value).splitlines()


def three_mistakes() -> dict[str, Any]:
    """An unknown engine, a price for an unknown model, a key limit for an unknown customer."""
    raw = catalog_dict()
    raw["models"][0]["engine"] = "gpu0"
    raw["prices"].append({**raw["prices"][0], "model": "gemma-3-27b"})
    raw["key_limits"] = [{"key_id": "k1", "customer": "carol"}]
    return raw


THREE_LINES = [
    "cat.toml: models[0] (id='gemma-3-270m').engine: unknown engine 'gpu0'",
    "cat.toml: prices[1] (model='gemma-3-27b').model: unknown model 'gemma-3-27b'",
    "cat.toml: key_limits[0].customer: unknown customer 'carol'",
]


def test_three_different_mistakes_are_all_reported() -> None:
    assert errors_of(three_mistakes()) == THREE_LINES


def test_contract_mistakes_come_with_the_others() -> None:
    raw = {**three_mistakes(), **copy.deepcopy(LICENSED)}
    raw["contracts"][0]["licensor"] = "nobody"
    raw["contracts"][0]["exempt_customers"] = ["carol"]
    assert errors_of(raw) == [
        *THREE_LINES,
        "cat.toml: contracts[0] (id='g').licensor: unknown licensor 'nobody'",
        "cat.toml: contracts[0] (id='g').exempt_customers: unknown customer 'carol'",
    ]


def test_every_duplicate_is_reported() -> None:
    raw = catalog_dict()
    raw["customers"] += [{"name": "demo"}, {"name": "acme"}]
    raw["engines"].append({"id": "local", "kind": "embedded"})
    assert errors_of(raw) == [
        "cat.toml: engines[1] (id='local'): duplicate id 'local'",
        "cat.toml: customers[3] (name='demo'): duplicate id 'demo'",
        "cat.toml: customers[4] (name='acme'): duplicate id 'acme'",
    ]


def test_the_first_line_is_the_error_a_stop_at_the_first_check_reported() -> None:
    raw = three_mistakes()
    raw["prices"] = raw["prices"][1:]  # and now gemma-3-270m has no price
    lines = errors_of(raw)
    assert lines[0] == THREE_LINES[0]
    assert "cat.toml: models[0] (id='gemma-3-270m').id: model 'gemma-3-270m' has no entry in [[prices]]" in lines


def test_every_model_on_a_lineage_cycle_is_named() -> None:
    raw = catalog_dict()
    raw["models"] += [{"id": "ft", "engine": "local", "base_model": "gemma-3-270m"},
                      {"id": "ft2", "engine": "local", "base_model": "ft"}]
    raw["models"][0]["base_model"] = "ft"
    raw["prices"] += [{**raw["prices"][0], "model": "ft"}, {**raw["prices"][0], "model": "ft2"}]
    assert errors_of(raw) == [
        "cat.toml: models[0] (id='gemma-3-270m').base_model: base_model lineage of 'gemma-3-270m' is a cycle",
        "cat.toml: models[1] (id='ft').base_model: base_model lineage of 'ft' is a cycle",
        "cat.toml: models[2] (id='ft2').base_model: base_model lineage of 'ft2' is a cycle",
    ]


def test_budgets_and_two_currencies() -> None:
    raw = catalog_dict()
    raw["customers"][0]["budget"] = "10"
    raw["models"].append({"id": "eu", "engine": "local"})
    raw["prices"].append({**raw["prices"][0], "model": "eu", "currency": "EUR"})
    assert errors_of(raw) == ["cat.toml: prices: budgets need every price in one currency"]


def test_a_repeated_price_version_is_named_with_its_instant() -> None:
    raw = catalog_dict()
    raw["prices"].append({**raw["prices"][0], "effective_from": "2026-01-01T01:00:00+01:00"})
    assert errors_of(raw) == [
        "cat.toml: prices[1] (model='gemma-3-270m').effective_from: "
        "model 'gemma-3-270m' already has a price effective from 2026-01-01T00:00:00Z"
    ]


def test_a_sound_catalog_has_no_errors() -> None:
    catalog = parse_catalog({**catalog_dict(), **LICENSED})
    assert validate_catalog(catalog) == []


def test_errors_are_values() -> None:
    catalog = parse_catalog(catalog_dict())
    sick = catalog.model_copy(update={"models": (catalog.models[0].model_copy(update={"engine": "gpu0"}),)})
    assert validate_catalog(sick) == [EntryError(("models", 0, "engine"), "unknown engine 'gpu0'")]


@pytest.mark.parametrize(("effective_from", "version"), [
    ("2026-01-01", "gemma-3-270m@2026-01-01T00:00:00Z"),
    ("2026-01-01T00:00:00Z", "gemma-3-270m@2026-01-01T00:00:00Z"),
    ("2026-01-01T01:00:00.75+01:00", "gemma-3-270m@2026-01-01T00:00:00Z"),
    ("2026-06-01T12:30:05", "gemma-3-270m@2026-06-01T12:30:05Z"),
])
def test_price_version_is_utc_to_the_second(effective_from: str, version: str) -> None:
    raw = catalog_dict()
    raw["prices"][0]["effective_from"] = effective_from
    assert parse_catalog(raw).prices[0].version == version


def bad_demo_catalog(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = (REPO / "revshare.toml").read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    return bad


def test_config_check_prints_every_mistake_and_exits_2(tmp_path: Path) -> None:
    from revshare.cli import app

    bad = bad_demo_catalog(
        tmp_path,
        ('engine = "local"', 'engine = "gpu9"'),
        ('[[customers]]\nname = "demo"', '[[prices]]\nmodel = "gemma-3-27b"\ninput_per_million = "1"\n'
                                          'output_per_million = "1"\neffective_from = 2026-01-01\n\n'
                                          '[[customers]]\nname = "demo"'),
        ('licensor = "google"\nlineage', 'licensor = "nobody"\nlineage'),
    )
    result = CliRunner().invoke(app, ["config", "check", "--config", str(bad)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {bad}: models[0] (id='gemma-3-270m').engine: unknown engine 'gpu9'",
        f"{bad}: prices[1] (model='gemma-3-27b').model: unknown model 'gemma-3-27b'",
        f"{bad}: contracts[0] (id='google-gemma').licensor: unknown licensor 'nobody'",
    ]


def test_the_example_in_config_md_is_what_config_check_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from revshare.cli import app

    doc = (REPO / "docs" / "CONFIG.md").read_text()
    example = doc.split("```\n$ revshare config check --config revshare.toml\n", 1)[1].split("```", 1)[0]
    bad = bad_demo_catalog(tmp_path, ('engine = "local"', 'engine = "gpu0"'),
                           ('licensor = "google"\nlineage', 'licensor = "gogle"\nlineage'))
    bad.rename(tmp_path / "revshare.toml")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["config", "check", "--config", "revshare.toml"])
    assert result.exit_code == 2
    assert result.output == example


def test_config_check_prints_brackets_as_written(tmp_path: Path) -> None:
    from revshare.cli import app

    bad = bad_demo_catalog(tmp_path, ('model = "gemma-3-270m"', 'model = "gemma-3-27b"'))
    result = CliRunner().invoke(app, ["config", "check", "--config", str(bad)])
    assert f"{bad}: models[0] (id='gemma-3-270m').id: model 'gemma-3-270m' has no entry in [[prices]]" in (
        result.output.splitlines()
    )


def test_public_names_are_pinned() -> None:
    assert set(revshare.config.__all__) == {
        "BudgetPeriod", "Catalog", "ConfigError", "Customer", "EngineConfig", "KeyLimits", "Limits",
        "LogConfig", "ModelConfig", "Price", "ServerConfig", "load_catalog", "parse_catalog",
    }
    for name in revshare.config.__all__:
        assert getattr(revshare.config, name) is not None

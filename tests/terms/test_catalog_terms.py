"""Licence terms in the catalog: read and checked at load, inherited along the lineage, and every
mistake named by file, entry and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from revshare.config import ConfigError, load_catalog, parse_catalog
from tests.support.catalogs import catalog_dict
from tests.support.paths import REPO

GEMMA = {"id": "gemma", "name": "Gemma Terms of Use", "version": "2025-03-24",
         "url": "https://ai.google.dev/gemma/terms",
         "use_policy_url": "https://ai.google.dev/gemma/prohibited_use_policy"}
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def licensed(**terms: Any) -> dict[str, Any]:
    raw = catalog_dict()
    raw["licences"] = [{**GEMMA, **terms}]
    raw["models"][0]["licence"] = "gemma"
    return raw


def errors_of(raw: dict[str, Any], source: str = "cat.toml") -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_catalog(raw, source=source)
    return str(refused.value).splitlines()


def test_the_demo_catalog_passes_gemmas_terms_on_without_asking_acceptance() -> None:
    catalog = load_catalog(REPO / "revshare.toml")
    (terms,) = catalog.licence_chain("gemma-3-270m")
    assert (terms.name, terms.url, terms.use_policy_url) == (
        "Gemma Terms of Use", "https://ai.google.dev/gemma/terms", "https://ai.google.dev/gemma/prohibited_use_policy")
    assert not terms.acceptance_required  # the quick start works as printed (docs/LICENSING.md)
    # The notice the catalog passes on is the one the repository ships.
    assert catalog.licence_texts("gemma").notice + "\n" == (REPO / "licences" / "gemma" / "NOTICE").read_text()


def test_files_are_read_at_load_relative_to_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "terms").mkdir()
    (tmp_path / "terms" / "LICENSE").write_text("the agreement\n")
    (tmp_path / "terms" / "POLICY.md").write_text("the use policy\n")
    notice = (REPO / "licences" / "gemma" / "NOTICE").resolve()
    raw = licensed(text_file="terms/LICENSE", use_policy_file="terms/POLICY.md", notice_file=str(notice))
    catalog = parse_catalog(raw, source=str(tmp_path / "revshare.toml"))
    texts = catalog.licence_texts("gemma")
    assert (texts.text, texts.use_policy) == ("the agreement\n", "the use policy\n")
    assert texts.notice.startswith("Gemma is provided under and subject to the Gemma Terms of Use")


def test_a_missing_file_is_named_with_its_entry_and_field(tmp_path: Path) -> None:
    raw = licensed(text_file="terms/LICENSE", use_policy_file="USE_POLICY.md")
    lines = errors_of(raw, source=str(tmp_path / "revshare.toml"))
    assert lines == [
        f"{tmp_path}/revshare.toml: licences[0] (id='gemma').text_file: no such file "
        f"'{tmp_path}/terms/LICENSE' (a path relative to the catalog's folder)",
        f"{tmp_path}/revshare.toml: licences[0] (id='gemma').use_policy_file: no such file "
        f"'{tmp_path}/USE_POLICY.md' (a path relative to the catalog's folder)",
    ]


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "LICENSE").write_bytes(b"\xff\xfe binary")
    (lines,) = errors_of(licensed(text_file="LICENSE"), source=str(tmp_path / "c.toml"))
    assert lines.startswith(f"{tmp_path}/c.toml: licences[0] (id='gemma').text_file: ") and "not UTF-8" in lines


@pytest.mark.parametrize(("change", "where", "message"), [
    ({"url": "ai.google.dev/gemma/terms"}, "licences[0] (id='gemma').url", "should match pattern"),
    ({"use_policy_url": "ftp://x"}, "licences[0] (id='gemma').use_policy_url", "should match pattern"),
    ({"id": "meta/llama"}, "licences[0] (id='meta/llama').id", "should match pattern"),
    ({"version": ""}, "licences[0] (id='gemma').version", "at least 1 character"),
    ({"grace_days": 30}, "licences[0] (id='gemma').grace_days",
     "grace_days counts from effective_from (when this version took effect): set it"),
    ({"grace_days": -1, "effective_from": "2026-01-01"}, "licences[0] (id='gemma').grace_days",
     "greater than or equal to 0"),
    ({"notice": "x", "notice_file": "NOTICE"}, "licences[0] (id='gemma').notice_file",
     "give the notice inline (notice) or in a file (notice_file), not both"),
    ({"mau_thresholds": [0]}, "licences[0] (id='gemma').mau_thresholds[0]", "greater than or equal to 1"),
    ({"acceptance": True}, "licences[0] (id='gemma').acceptance", "unknown field"),
])
def test_a_bad_field_is_named(change: dict[str, Any], where: str, message: str) -> None:
    (line,) = errors_of(licensed(**change))
    assert line.startswith(f"cat.toml: {where}: ") and message in line, line


def test_references_and_duplicates_are_checked_across_sections() -> None:
    raw = licensed()
    raw["licences"].append({**GEMMA})
    raw["models"][0]["licence"] = "llama3.3"
    assert errors_of(raw) == [
        "cat.toml: licences[1] (id='gemma'): duplicate id 'gemma'",
        "cat.toml: models[0] (id='gemma-3-270m').licence: unknown licence 'llama3.3' (not a [[licences]] id)",
    ]


def test_terms_are_inherited_along_the_lineage_own_first() -> None:
    raw = licensed()
    raw["licences"].append({"id": "ft-terms", "name": "Fine-tune terms", "version": "1", "url": "https://example.com/ft",
                            "attribution": "Built with Gemma"})
    raw["models"] += [{"id": "gemma-ft", "engine": "local", "base_model": "gemma-3-270m", "licence": "ft-terms"},
                      {"id": "gemma-ft-ft", "engine": "local", "base_model": "gemma-ft"},
                      {"id": "plain", "engine": "local"}]
    raw["prices"] += [{**raw["prices"][0], "model": m} for m in ("gemma-ft", "gemma-ft-ft", "plain")]
    catalog = parse_catalog(raw)
    assert [t.id for t in catalog.licence_chain("gemma-ft-ft")] == ["ft-terms", "gemma"]
    assert [t.id for t in catalog.licence_chain("gemma-3-270m")] == ["gemma"]
    assert catalog.licence_chain("plain") == ()
    assert catalog.models_under("gemma") == ("gemma-3-270m", "gemma-ft", "gemma-ft-ft")


def test_standing_counts_an_earlier_version_only_within_the_grace_period() -> None:
    effective = NOW - timedelta(days=10)
    terms = parse_catalog(licensed(version="2", acceptance_required=True, effective_from=effective.isoformat(),
                                   grace_days=30)).licences[0]
    assert terms.standing({"2"}, NOW) == "accepted"
    assert terms.standing({"1"}, NOW) == "grace" and terms.allows({"1"}, NOW)
    assert terms.standing({"1"}, effective + timedelta(days=30)) == "pending"
    assert terms.standing(set(), NOW) == "pending" and not terms.allows(set(), NOW)
    optional = terms.model_copy(update={"acceptance_required": False})
    assert optional.standing(set(), NOW) == "not_required" and optional.allows(set(), NOW)
    no_grace = terms.model_copy(update={"effective_from": None, "grace_days": 0})
    assert no_grace.standing({"1"}, NOW) == "pending"

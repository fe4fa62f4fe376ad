"""docs/LICENSING.md as written: its Llama entry is a valid catalog entry, its 403 example is what
the gateway answers, and the Gemma notice it points to is the one the repository ships."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from revshare.config import parse_catalog
from revshare.metering.admission import terms_refusal
from tests.support.catalogs import catalog_dict
from tests.support.paths import REPO

DOC = (REPO / "docs" / "LICENSING.md").read_text()
LLAMA_NOTICE = ("Llama 3.3 is licensed under the Llama 3.3 Community License, Copyright © Meta Platforms, Inc. "
                "All Rights Reserved.")


def block(after: str, language: str) -> str:
    return DOC.split(after, 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_llama_entry_loads_with_its_attribution_notice_and_lineage(tmp_path: Path) -> None:
    entry = tomllib.loads(block("### A Llama entry", "toml"))
    for name in ("LICENSE", "USE_POLICY.md"):
        (tmp_path / "licences" / "llama3.3").mkdir(parents=True, exist_ok=True)
        (tmp_path / "licences" / "llama3.3" / name).write_text(f"a copy of {name}\n")
    raw = catalog_dict(engines=[{"id": "vllm", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}])
    raw["models"] = entry["models"]
    raw["prices"] = [{**raw["prices"][0], "model": m["id"]} for m in entry["models"]]
    raw["licences"] = entry["licences"]
    catalog = parse_catalog(raw, source=str(tmp_path / "revshare.toml"))
    (terms,) = catalog.licence_chain("acme-llama-ft")
    assert (terms.attribution, terms.mau_thresholds, terms.version) == ("Built with Llama", (700_000_000,),
                                                                         "2024-12-06")
    assert catalog.licence_texts("llama3.3").notice == LLAMA_NOTICE
    assert catalog.licence_texts("llama3.3").text == "a copy of LICENSE\n"


def test_the_403_example_is_what_admission_says(tmp_path: Path) -> None:
    example = json.loads(block("## Acceptance", "json"))
    entry = tomllib.loads(block("### A Llama entry", "toml"))["licences"][0]
    entry.pop("text_file"), entry.pop("use_policy_file")
    raw = catalog_dict()
    raw["licences"] = [entry]
    terms = parse_catalog(raw).licences[0]
    refusal = terms_refusal(terms, "llama-3.3-70b-instruct", "acme", frozenset())
    assert example["error"]["message"] == refusal.message
    assert (example["error"]["code"], example["error"]["param"]) == (refusal.kind.value, refusal.param)
    assert terms.allows(frozenset({"2024-12-06"}), datetime(2026, 12, 1, tzinfo=UTC))


def test_the_gemma_notice_is_quoted_as_shipped() -> None:
    notice = (REPO / "licences" / "gemma" / "NOTICE").read_text().strip()
    assert f"“{notice}”" in DOC

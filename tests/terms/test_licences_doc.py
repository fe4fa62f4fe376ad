"""docs/LICENSING.md as written: its Llama entry is a valid catalog entry, its 403 example is what
the gateway answers, and the Gemma notice it points to is the one the repository ships."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def test_the_suspension_403_example_is_what_admission_says() -> None:
    from revshare.accounts.directory import Account, Directory
    from revshare.metering.admission import Ask, admit
    from revshare.metering.refusal import Refusal

    example = json.loads(block("## Suspension for a use-policy violation", "json"))
    entry = tomllib.loads(block("### A Llama entry", "toml"))
    raw = catalog_dict(engines=[{"id": "vllm", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}])
    raw["models"] = entry["models"]
    raw["prices"] = [{**raw["prices"][0], "model": m["id"]} for m in entry["models"]]
    raw["customers"] = [{"name": "acme"}]
    raw["licences"] = [{k: v for k, v in entry["licences"][0].items() if not k.endswith("_file")}
                       | {"acceptance_required": False}]
    catalog = parse_catalog(raw)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    reason = "licensor report 2026-7: AUP 1.a"
    directory = Directory(1, {"acme": Account(catalog.customers[0], "catalog", now, now)},
                          suspended_models={("acme", "llama-3.3-70b-instruct"): reason})
    refusal = admit(catalog, {"vllm"}, Ask("acme", "key_1", "llama-3.3-70b-instruct", "chat.completions", False),
                    now, customers=directory)
    assert isinstance(refusal, Refusal)
    assert example["error"]["message"] == refusal.message
    assert (example["error"]["code"], example["error"]["param"]) == (refusal.kind.value, refusal.param)
    assert not isinstance(admit(catalog, {"vllm"}, Ask("acme", "key_1", "acme-llama-ft", "chat.completions", False),
                                now, customers=directory), Refusal)  # that model only


def test_the_suspension_commands_run_as_written(tmp_path: Path, monkeypatch: Any) -> None:
    import shlex

    from typer.testing import CliRunner

    from revshare.cli import app
    from tests.support.stub_gateway import to_toml

    entry = tomllib.loads(block("### A Llama entry", "toml"))
    entry["licences"][0].pop("text_file"), entry["licences"][0].pop("use_policy_file")
    raw = catalog_dict(engines=[{"id": "vllm", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}])
    raw.update(models=entry["models"], licences=entry["licences"], customers=[{"name": "acme"}],
               prices=[{**raw["prices"][0], "model": m["id"]} for m in entry["models"]])
    raw["server"]["database_url"] = f"sqlite:///{tmp_path / 'ledger.db'}"
    (tmp_path / "revshare.toml").write_text(to_toml(raw))
    monkeypatch.setenv("REVSHARE_CONFIG", str(tmp_path / "revshare.toml"))
    monkeypatch.delenv("REVSHARE_DATABASE_URL", raising=False)
    lines = [line for line in block("## Suspension for a use-policy violation", "sh").splitlines()
             if line.startswith("revshare ")]
    assert len(lines) == 3
    outputs = []
    for line in lines:
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, (line, result.output)
        outputs.append(result.output)
    assert "suspend acme / llama-3.3-70b-instruct" in outputs[2] and "lift acme" in outputs[2]


def test_the_bundle_and_statement_examples_parse() -> None:
    from revshare.settlement.bundle_acceptances import AcceptanceHistory
    from revshare.settlement.users import ActiveUsers

    history = AcceptanceHistory.from_json(json.loads(block("## The acceptance history in the statement bundle",
                                                           "json")))
    assert (len(history.acceptances), len(history.licences), len(history.suspensions)) == (2, 1, 1)
    line = f"{len(history.acceptances)} acceptances of {len(history.licences)} licences' terms and " \
           f"{len(history.suspensions)} suspensions through"
    assert line in DOC
    users = json.loads("{" + block("### On statements", "json") + "}")["users"]
    assert ActiveUsers.from_json(users).to_json() == users


def test_the_live_series_and_warning_are_as_documented(caplog: Any) -> None:
    import logging
    import re

    from revshare.accounts.live_users import LiveEndUsers
    from revshare.metrics import Metrics

    families = Metrics().families()
    for name in ("revshare_model_end_users_estimate", "revshare_licence_end_users_estimate",
                 "revshare_licence_users_threshold"):
        assert f"| `{name}` |" in DOC and families[name][0] == "gauge"
    raw = catalog_dict()
    raw["licences"] = [{"id": "llama3.3", "name": "Llama", "version": "1", "url": "https://x", "mau_thresholds": [5]}]
    raw["models"][0]["licence"] = "llama3.3"
    live = LiveEndUsers(parse_catalog(raw))
    with caplog.at_level(logging.WARNING, logger="revshare.terms"):
        for n in range(4):
            live.observe(raw["models"][0]["id"], f"u{n}", datetime(2026, 11, 3, tzinfo=UTC))
    (logged,) = [r.getMessage() for r in caplog.records]
    documented = next(line.strip() for line in DOC.splitlines() if line.strip().startswith("terms: the end users"))
    assert re.sub(r"\d+", "N", logged) == re.sub(r"\d+", "N", documented)

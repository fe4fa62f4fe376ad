"""`revshare customers`, `revshare keys` and `revshare audit` over accounts kept in the ledger
database: every change is audited as `cli:<user>` via `cli`, the catalog's customers are refused,
and bad input is one `error:` line naming the option that changes nothing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from revshare.cli import app
from revshare.ledger.store import Ledger
from tests.support.paths import REPO

runner = CliRunner()
ME = "cli:tester"


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo catalog (customers demo and acme) in a temp folder, with its own SQLite ledger."""
    path = tmp_path / "revshare.toml"
    path.write_text((REPO / "revshare.toml").read_text())
    monkeypatch.setenv("REVSHARE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("REVSHARE_CONFIG", str(path))
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # getpass.getuser() reads the first one set
        monkeypatch.setenv(name, "tester")
    return path


def ok(args: list[str]) -> Result:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    return result


def refused(args: list[str]) -> str:
    """The one line of a refusal (exit 1): `error: …`."""
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.output)
    return lines[0]


def json_lines(args: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok([*args, "--json"]).stdout.splitlines()]


def audit(*args: str) -> list[dict[str, Any]]:
    return json_lines(["audit", "--limit", "1000", *args])


def ledger() -> Ledger:
    return Ledger(os.environ["REVSHARE_DATABASE_URL"])


def customers() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json_lines(["customers", "list"])}


def test_the_catalogs_customers_are_imported_once_as_the_catalog(catalog: Path) -> None:
    assert {name: c["source"] for name, c in customers().items()} == {"acme": "catalog", "demo": "catalog"}
    events = audit()
    assert [(e["action"], e["subject"], e["actor"], e["via"]) for e in events] == [
        ("customer.create", "demo", str(catalog), "catalog"), ("customer.create", "acme", str(catalog), "catalog")]
    customers()
    assert audit() == events  # the next command finds them written: nothing more to audit


def test_a_customer_is_created_changed_suspended_and_resumed_each_change_audited(catalog: Path) -> None:
    created = ok(["customers", "create", "globex", "--models", "gemma-*", "--models", "llama-*", "--rpm", "60",
                  "--budget", "250.00", "--description", "Globex [/x] :smile:"])
    assert "created customer 'globex'" in created.output and "Globex [/x] :smile:" in created.output
    globex = customers()["globex"]
    assert globex["source"] == "api" and globex["models"] == ["gemma-*", "llama-*"]
    assert (globex["requests_per_minute"], globex["budget"], globex["budget_period"]) == (60, "250.00", "month")
    assert globex["description"] == "Globex [/x] :smile:" and globex["suspended_at"] is None

    ok(["customers", "update", "globex", "--rpm", "120", "--budget-period", "day"])
    changed = customers()["globex"]
    assert (changed["requests_per_minute"], changed["budget"], changed["budget_period"]) == (120, "250.00", "day")
    assert changed["models"] == ["gemma-*", "llama-*"]  # only the options given change
    assert "no change to customer 'globex'" in ok(["customers", "update", "globex", "--rpm", "120"]).output

    assert ok(["customers", "suspend", "globex"]).output.strip() == "suspended customer 'globex'"
    assert customers()["globex"]["suspended_at"] is not None
    assert "already suspended" in ok(["customers", "suspend", "globex"]).output
    assert ok(["customers", "resume", "globex"]).output.strip() == "resumed customer 'globex'"
    assert customers()["globex"]["suspended_at"] is None

    events = audit("--customer", "globex")
    assert [e["action"] for e in events] == ["customer.create", "customer.update", "customer.suspend",
                                             "customer.resume"]
    assert {(e["actor"], e["via"], e["subject"]) for e in events} == {(ME, "cli", "globex")}
    update = events[1]["detail"]
    assert (update["before"]["requests_per_minute"], update["after"]["requests_per_minute"]) == (60, 120)
    text = ok(["audit", "--customer", "globex"]).output.splitlines()
    assert len(text) == 4
    assert re.fullmatch(rf"{events[1]['seq']} \S+Z {ME} via cli: customer.update globex "
                        r'\(budget_period: "month" -> "day"; requests_per_minute: 60 -> 120\)', text[1]), text[1]
    assert 'description="Globex [/x] :smile:"' in text[0]  # printed as written, never as markup
    table = ok(["customers", "list"]).output
    assert "[/x]" in table and ":smile:" in table and "globex" in table


def test_a_key_with_its_own_limits_is_created_changed_and_revoked_each_change_audited(catalog: Path) -> None:
    ok(["customers", "create", "globex"])
    created = ok(["keys", "create", "--customer", "globex", "--label", "ci", "--rpm", "30", "--budget", "5.00",
                  "--budget-period", "day"])
    secret = created.output.strip().splitlines()[-1]
    assert re.fullmatch(r"rsk_[A-Za-z0-9_-]{32}", secret)  # alone, as the last line
    key = ledger().find_key(secret)
    assert key is not None and key.customer == "globex" and key.label == "ci"
    [listed] = json_lines(["keys", "list", "--customer", "globex"])
    assert listed["limits"] == {"requests_per_minute": 30, "tokens_per_minute": None, "max_concurrent": None,
                                "budget": "5.00", "budget_period": "day"}
    table = ok(["keys", "list"]).output
    assert secret not in json.dumps(listed) and "rpm 30," in table and "5.00/day" in table

    ok(["keys", "update", key.key_id, "--tpm", "1000"])
    [listed] = json_lines(["keys", "list", "--customer", "globex"])
    assert (listed["limits"]["requests_per_minute"], listed["limits"]["tokens_per_minute"]) == (30, 1000)
    ok(["keys", "update", key.key_id, "--label", "ci [/x]"])
    ok(["keys", "update", key.key_id, "--clear-limits"])
    [listed] = json_lines(["keys", "list", "--customer", "globex"])
    assert listed["label"] == "ci [/x]" and listed["limits"] is None
    assert ok(["keys", "revoke", key.key_id]).output.strip() == f"revoked {key.key_id}"
    assert ledger().find_key(secret) is None
    assert "no live key" in refused(["keys", "revoke", key.key_id])

    events = [e for e in audit("--customer", "globex") if e["subject"] == key.key_id]
    assert [e["action"] for e in events] == ["key.create", "key.limits", "key.limits", "key.update", "key.limits",
                                             "key.revoke"]
    assert {(e["actor"], e["via"]) for e in events} == {(ME, "cli")}
    assert all(secret not in json.dumps(e) for e in audit())


def test_a_catalog_customer_is_changed_in_the_catalog_only(catalog: Path) -> None:
    before = audit()
    for args in (["customers", "update", "acme", "--rpm", "3"], ["customers", "suspend", "acme"]):
        line = refused(args)
        assert line.startswith(f"error: {catalog}: ") and "revshare.toml" in line and "[[customers]]" in line
    assert "exists" in refused(["customers", "create", "acme"])
    assert audit() == before
    assert customers()["acme"]["requests_per_minute"] is None


BAD = [
    (["customers", "create", "globex", "--budget", "abc"], "--budget"),
    (["customers", "create", "globex", "--budget", "1e3"], "--budget"),
    (["customers", "create", "globex", "--budget", "-1"], "--budget"),
    (["customers", "create", "globex", "--rpm", "0"], "--rpm"),
    (["customers", "create", "globex", "--description", "[/x] [bold]hi", "--tpm", "0"], "--tpm"),
    (["customers", "create", "globex", "--budget-period", "week"], "--budget-period"),
    (["customers", "create", "globex", "--models", ""], "--models"),
    (["customers", "create", "bad name"], "NAME"),
    (["customers", "update", "initech", "--budget", "abc"], "--budget"),
    (["customers", "update", "initech", "--concurrent", "0", "--description", "[/x]"], "--concurrent"),
    (["customers", "update", "initech"], "nothing to change"),
    (["customers", "update", "nobody", "--rpm", "3"], "no customer named 'nobody'"),
    (["customers", "suspend", "[/x]"], "no customer named '[/x]'"),
    (["keys", "create", "--customer", "nobody", "--rpm", "5"], "no customer named 'nobody'"),
    (["keys", "create", "--customer", "initech", "--rpm", "0"], "--rpm"),
    (["keys", "create", "--customer", "initech", "--label", "a\nb"], "--label"),
    (["keys", "update", "key_nope", "--rpm", "1"], "no key 'key_nope'"),
    (["keys", "revoke", "key_nope"], "no live key 'key_nope'"),
]


@pytest.mark.parametrize(("args", "names"), BAD, ids=[" ".join(args) for args, _ in BAD])
def test_bad_input_is_one_error_line_naming_it_and_changes_nothing(catalog: Path, args: list[str],
                                                                   names: str) -> None:
    ok(["customers", "create", "initech", "--rpm", "10"])
    before, known = audit(), customers()
    line = refused(args)
    assert names in line, line
    assert audit() == before and customers() == known
    assert json_lines(["keys", "list"]) == []


def test_an_unknown_customer_lists_those_known_from_the_catalog_first(catalog: Path) -> None:
    ok(["customers", "create", "initech"])
    line = refused(["keys", "create", "--customer", "nobody"])
    assert "known: demo, acme, initech" in line and "revshare.toml" in line


def test_audit_pages_with_after_seq_and_limit(catalog: Path) -> None:
    ok(["customers", "create", "globex"])
    ok(["customers", "suspend", "globex"])
    every = audit()
    assert len(every) == 4
    page = json_lines(["audit", "--after-seq", str(every[1]["seq"]), "--limit", "1"])
    assert page == [every[2]]
    result = runner.invoke(app, ["audit", "--limit", "1"])
    assert result.exit_code == 0 and f"--after-seq {every[0]['seq']} shows the next" in result.output

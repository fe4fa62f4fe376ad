"""`revshare terms list|accept|acceptances`: the demo catalog's terms, an acceptance recorded from
the command line (audited as `cli:<user>` via `cli`, once per version), and refusals as one
`error:` line naming the option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from revshare.cli import app
from tests.support.paths import REPO

runner = CliRunner()


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo catalog with acceptance of Gemma's terms required, and its own SQLite ledger."""
    path = tmp_path / "revshare.toml"
    text = (REPO / "revshare.toml").read_text()
    assert "acceptance_required = false" in text
    path.write_text(text.replace("acceptance_required = false", "acceptance_required = true"))
    monkeypatch.setenv("REVSHARE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("REVSHARE_CONFIG", str(path))
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "tester")
    return path


def ok(args: list[str]) -> Result:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    return result


def refused(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, (args, result.output)
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    return line


def json_lines(args: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok([*args, "--json"]).stdout.splitlines()]


def test_terms_are_listed_accepted_once_and_audited(catalog: Path) -> None:
    (terms,) = json_lines(["terms", "list"])
    assert (terms["id"], terms["version"], terms["models"], terms["acceptance_required"]) == (
        "gemma", "2025-03-24", ["gemma-3-270m"], True)
    assert json_lines(["terms", "list", "--customer", "acme"])[0]["status"] == "pending"
    assert "gemma" in ok(["terms", "list", "--customer", "acme"]).stdout

    first = ok(["terms", "accept", "gemma", "--customer", "acme", "--note", "order form 114"]).stdout
    assert first.startswith("recorded: customer 'acme' accepted Gemma Terms of Use version 2025-03-24")
    assert "had already accepted" in ok(["terms", "accept", "gemma", "--customer", "acme"]).stdout
    assert json_lines(["terms", "list", "--customer", "acme"])[0]["status"] == "accepted"

    (acceptance,) = json_lines(["terms", "acceptances"])
    assert (acceptance["customer"], acceptance["terms_id"], acceptance["actor"], acceptance["via"],
            acceptance["note"]) == ("acme", "gemma", "cli:tester", "cli", "order form 114")
    assert "acme accepted gemma 2025-03-24, by cli:tester via cli (order form 114)" in ok(
        ["terms", "acceptances", "--customer", "acme"]).stdout
    assert json_lines(["terms", "acceptances", "--customer", "demo"]) == []
    events = json_lines(["audit", "--customer", "acme"])
    assert [e["action"] for e in events] == ["customer.create", "terms.accept"]


def test_refusals_name_the_option(catalog: Path) -> None:
    assert "no licence terms 'llama' in" in refused(["terms", "accept", "llama", "--customer", "acme"])
    assert "no customer named 'globex'" in refused(["terms", "accept", "gemma", "--customer", "globex"])
    line = refused(["terms", "accept", "gemma", "--customer", "acme", "--version", "2024-02-21"])
    assert line.startswith("error: --version (version): the version of 'Gemma Terms of Use' in force is '2025-03-24'")
    assert refused(["terms", "accept", "gemma", "--customer", "acme", "--note", "a\nb"]).startswith(
        "error: --note (note): a note is at most 500 printable characters")
    assert "no customer named 'globex'" in refused(["terms", "list", "--customer", "globex"])

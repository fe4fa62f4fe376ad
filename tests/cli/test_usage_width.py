"""`revshare usage` at the terminal's width: whole cells, the least useful columns left out first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from revshare.cli import app
from revshare.cli._common import out
from revshare.cli.usage import COLUMNS, fit_columns
from revshare.ledger.store import Ledger
from tests.support.paths import REPO
from tests.support.records import record

runner = CliRunner()


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("REVSHARE_DATABASE_URL", url)
    monkeypatch.setenv("REVSHARE_CONFIG", str(REPO / "revshare.toml"))
    ledger = Ledger(url)
    ledger.migrate()
    ledger.append_now([record(1, "acme"), record(2, "demo")])
    return ledger


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_every_cell_shown_is_whole_and_the_lines_fit(ledger: Ledger, width: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(out, "width", width)
    result = runner.invoke(app, ["usage"])
    assert result.exit_code == 0, result.output
    (first, second) = ledger.records()
    for value in (first.customer, second.customer, first.model, f"{first.amount:f} {first.currency}"):
        assert value in result.output  # never cut to "…"
    assert "…" not in result.output
    assert all(len(line) <= width for line in result.output.splitlines() if not line.startswith("not shown"))
    if width >= 200:
        assert first.id in result.output and "not shown" not in result.output
    if width == 80:
        assert "not shown at this width: " in result.output and "--json" in result.output


def test_columns_are_dropped_in_order_and_kept_in_table_order() -> None:
    row = {c: "x" * 20 for c in COLUMNS}  # wider than every header: each column needs 23
    everything = 23 * len(COLUMNS) + 1
    assert fit_columns([row], everything) == (list(COLUMNS), [])
    shown, hidden = fit_columns([row], everything - 1)
    assert hidden == ["price version"] and shown == list(COLUMNS[:-1])
    shown, hidden = fit_columns([row], 23 * 4 + 1)
    assert shown == ["customer", "model", "out", "amount"]
    assert hidden == ["seq", "id", "in", "outcome", "price version"]

"""The month-end workflow through the CLI, on SQLite and PostgreSQL, with the demo catalog.

`revshare period close` -> `revshare credit` -> `revshare settle`: every figure in the files is
checked against the usage records in the ledger, re-runs are byte-identical, a closed period
never changes, a late record and a refund land in the next period, bad input exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import func, select
from typer.testing import CliRunner

from revshare.cli import app
from revshare.ledger.store import Ledger
from revshare.monthend.schema import settlement_documents, settlement_states
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import Period
from tests.support.paths import REPO

runner = CliRunner()
PRICE = "gemma-3-270m@2026-01-01T00:00:00Z"
IN, OUT = Decimal("0.10"), Decimal("0.40")  # revshare.toml, per 1M tokens
_n = iter(range(1, 10**6))


def rec(customer: str, started: datetime, prompt: int, completion: int, outcome: Outcome = Outcome.OK) -> UsageRecord:
    amount = (prompt * IN + completion * OUT).scaleb(-6) if outcome.charged else Decimal(0)
    return UsageRecord(
        id=f"rec_cli{next(_n):08d}", started_at=started, ended_at=started, customer=customer, key_id=f"key_{customer}",
        model="gemma-3-270m", engine="local", endpoint="chat.completions", outcome=outcome, prompt_tokens=prompt,
        completion_tokens=completion, amount=amount, currency="USD", price_version=PRICE if outcome.charged else "",
        licensors=("google",))


def day(month: int, d: int, hour: int = 12) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=UTC)


@pytest.fixture
def ledger(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("REVSHARE_DATABASE_URL", ledger_url)
    monkeypatch.setenv("REVSHARE_CONFIG", str(REPO / "revshare.toml"))
    led = Ledger(ledger_url)
    led.migrate()
    yield led
    led.close()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str, code: int = 1) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    return result.output


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_close_credit_settle_traces_every_figure_to_the_records(ledger: Ledger, tmp_path: Path) -> None:
    jan = [rec("acme", day(1, 3), 2_000_000, 500_000), rec("acme", day(1, 17), 1_000_000, 250_000),
           rec("demo", day(1, 31, 23), 3_000_000, 1_000_000),
           rec("acme", day(1, 9), 5_000_000, 0, Outcome.ENGINE_ERROR)]
    ledger.append_now(jan)
    assert "closed 2026-01" in ok("period", "close", "2026-01")
    # after the close: a January record (late), a refund, February usage
    ledger.append_now([rec("acme", day(1, 20), 1_000_000, 0)])
    assert "lands in period 2026-02" in ok("credit", "--customer", "acme", "--amount", "0.50", "--reason",
                                            "slow answers", "--kind", "refund", "--refers-to", "2026-01")
    ledger.append_now([rec("demo", day(2, 10), 10_000_000, 5_000_000)])
    ok("period", "close", "2026-02")

    summary = ok("settle", "--period", "2026-01", "--out", str(tmp_path / "jan"))
    assert "google-gemma" in summary and "5.00 USD" in summary

    # (1) every figure of January traces back to the records started in January and charged
    stored = {r.id: r for r in ledger.records()}
    charged = [stored[r.id] for r in jan if r.outcome.charged]
    for customer in ("acme", "demo"):
        inv = load(tmp_path / "jan" / f"invoice-{customer}-USD-2026-01.json")
        mine = [r for r in charged if r.customer == customer]
        assert Decimal(inv["subtotal"]) == sum((r.amount for r in mine), Decimal(0))
        by_dir = {x["direction"]: x for x in inv["lines"]}
        assert by_dir["input"]["tokens"] == sum(r.prompt_tokens for r in mine)
        assert by_dir["output"]["tokens"] == sum(r.completion_tokens for r in mine)
        assert by_dir["input"]["requests"] == len(mine)
    st = load(tmp_path / "jan" / "statement-google-google-gemma-2026-01.json")
    assert Decimal(st["totals"]["gross"]) == sum((r.amount for r in charged), Decimal(0)) == Decimal("1.30")
    assert st["number"] == 1 and st["previous_hash"] is None and st["adjustments"] == []
    assert st["totals"]["earned"] == "0.13" and st["totals"]["true_up"] == "4.87"
    assert st["totals"]["amount_due"] == "5.00" and st["totals"]["recoupment_after"] == "4.87"
    assert {p.suffix for p in (tmp_path / "jan").iterdir()} == {".json", ".csv", ".html", ".sig"}  # .sig: statements are signed

    # (2) February: the late record and the refund are dated adjustments; the chain goes on
    ok("settle", "--period", "2026-02", "--out", str(tmp_path / "feb"))
    feb = load(tmp_path / "feb" / "statement-google-google-gemma-2026-02.json")
    assert feb["number"] == 2
    assert feb["previous_hash"] == hashlib.sha256(rfc8785.dumps(st)).hexdigest()
    kinds = {a["kind"]: a for a in feb["adjustments"]}
    assert kinds["late_usage"]["amount"] == "0.10" and kinds["late_usage"]["share"] == "0.01"
    assert kinds["refund"]["basis"] == "-0.50" and kinds["refund"]["share"] == "-0.05"
    assert feb["totals"]["gross"] == "3.00" and feb["totals"]["earned"] == "0.26"
    assert feb["totals"]["recoupment_before"] == "4.87" and feb["totals"]["recoupment_after"] == "9.61"
    acme = load(tmp_path / "feb" / "invoice-acme-USD-2026-02.json")
    assert [(x["late"], x["amount"]) for x in acme["lines"]] == [(True, "0.10")]
    assert acme["credits"][0]["amount"] == "0.50" and acme["total_due"] == "-0.40"

    # (3) re-running January after February: byte-identical, and no state moves
    again = ok("settle", "--period", "2026-01", "--out", str(tmp_path / "jan-again"))
    assert "already settled" in again
    assert files(tmp_path / "jan") == files(tmp_path / "jan-again")
    ok("settle", "--period", "2026-02", "--out", str(tmp_path / "feb-again"))
    assert files(tmp_path / "feb") == files(tmp_path / "feb-again")
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(settlement_states)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(settlement_documents)).scalar_one() == 3 + 3  # a statement and two invoices each
    listing = ok("period", "list")
    assert "2026-01" in listing and "2026-02" in listing and "next period to close: 2026-03" in listing


def test_a_closed_period_never_changes(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append_now([rec("acme", day(3, 5), 1_000_000, 1_000_000)])
    ok("period", "close", "2026-03")
    ok("settle", "--period", "2026-03", "--out", str(tmp_path / "a"))
    # late records and credits after the close do not touch March
    ledger.append_now([rec("acme", day(3, 6), 9_000_000, 0)])
    ok("credit", "--customer", "acme", "--amount", "1", "--reason", "goodwill")
    ok("settle", "--period", "2026-03", "--out", str(tmp_path / "b"))
    assert files(tmp_path / "a") == files(tmp_path / "b")
    out = refused("period", "close", "2026-03")
    assert "already closed" in out
    # a catalog whose terms changed under the settled period is refused, nothing is written
    changed = (REPO / "revshare.toml").read_text().replace('minimum_guarantee = "5.00"', 'minimum_guarantee = "6.00"')
    (tmp_path / "changed.toml").write_text(changed)
    out = refused("settle", "--period", "2026-03", "--out", str(tmp_path / "c"), "--config", str(tmp_path / "changed.toml"))
    assert "already settled" in out and "changed" in out
    assert not (tmp_path / "c").exists()


def test_early_close_of_the_current_month(ledger: Ledger, tmp_path: Path) -> None:
    now = Period.containing(datetime.now(UTC))
    ledger.append_now([rec("demo", now.start, 1_000_000, 0)])
    out = refused("period", "close", now.label)
    assert "has not ended" in out and "--early" in out
    assert "early" in ok("period", "close", now.label, "--early", "--note", "demo")
    ok("settle", "--period", now.label, "--out", str(tmp_path / "a"))
    ledger.append_now([rec("demo", now.start, 7_000_000, 0)])  # after the cut-off: next period's
    ok("settle", "--period", now.label, "--out", str(tmp_path / "b"))
    assert files(tmp_path / "a") == files(tmp_path / "b")
    inv = load(tmp_path / "a" / f"invoice-demo-USD-{now.label}.json")
    assert inv["subtotal"] == "0.10"
    refused("period", "close", now.next().label, "--early")  # has not started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["period", "close", "2026-1"], "YYYY-MM"),
        (["period", "close", "2099-01"], "has not started"),
        (["settle", "--period", "2026-01", "--out", "x"], "not closed"),
        (["credit", "--customer", "nobody", "--amount", "1", "--reason", "r"], "no customer named 'nobody'"),
        (["credit", "--customer", "acme", "--amount", "abc", "--reason", "r"], "not a decimal"),
        (["credit", "--customer", "acme", "--amount", "0", "--reason", "r"], "greater than zero"),
        (["credit", "--customer", "acme", "--amount", "-5", "--reason", "r"], "greater than zero"),
        (["credit", "--customer", "acme", "--amount", "1.001", "--reason", "r"], "decimal places"),
        (["credit", "--customer", "acme", "--amount", "NaN", "--reason", "r"], "not a decimal"),
        (["credit", "--customer", "acme", "--amount", "1", "--reason", "r", "--kind", "gift"], "kind must be"),
        (["credit", "--customer", "acme", "--amount", "1", "--reason", "r", "--model", "gpt-9"], "no model"),
        (["credit", "--customer", "acme", "--amount", "1", "--reason", "r", "--currency", "EUR"], "only in USD"),
        (["credit", "--customer", "acme", "--amount", "1", "--reason", " "], "give a reason"),
        (["credit", "--customer", "acme", "--amount", "1", "--reason", "r", "--refers-to", "jan"], "YYYY-MM"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(ledger: Ledger, args: list[str], message: str) -> None:
    assert message in refused(*args)


def test_periods_close_in_order_and_settle_in_order(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append_now([rec("acme", day(4, 2), 1_000_000, 0)])
    assert "starting with 2026-04" in refused("period", "close", "2026-05")
    ok("period", "close", "2026-04")
    assert "next one to close is 2026-05" in refused("period", "close", "2026-06")
    ok("period", "close", "2026-05")
    assert "settle 2026-04 first" in refused("settle", "--period", "2026-05", "--out", str(tmp_path))
    ok("settle", "--period", "2026-04", "--out", str(tmp_path))
    ok("settle", "--period", "2026-05", "--out", str(tmp_path))
    may = load(tmp_path / "statement-google-google-gemma-2026-05.json")
    assert may["number"] == 2 and may["totals"]["gross"] == "0.00"  # no usage: the guarantee alone
    assert may["totals"]["amount_due"] == "5.00"


def test_every_command_has_help_with_an_example() -> None:
    for args in (["period", "close"], ["period", "list"], ["credit"], ["settle"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Example: revshare" in result.output


def test_the_docs_cover_every_command_and_contract_field() -> None:
    from revshare.settlement import ContractConfig, LicensorConfig

    doc = (REPO / "docs" / "SETTLEMENT.md").read_text()
    for command in ("revshare period close", "revshare period list", "revshare credit", "revshare settle"):
        assert command in doc
    reference = doc[doc.index("## Licensors and contracts"):doc.index("## Money")]
    for model in (LicensorConfig, ContractConfig):
        for field in model.model_fields:
            assert f"| `{field}` |" in reference, field

"""`revshare credit` as an operator retries it: granted once, success reported only once written.

The issue-17 scenario: `revshare credit --reason '[/x]'` wrote the credit, then crashed printing it
(rich markup), so the operator ran it again and the customer got it twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from revshare.cli import app
from revshare.ledger.store import Ledger
from revshare.monthend.schema import settlement_credits
from tests.support.paths import REPO

runner = CliRunner()
GRANT = ["credit", "--customer", "acme", "--amount", "12.50", "--reason", "[/x] outage", "--kind", "refund"]


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("REVSHARE_DATABASE_URL", url)
    monkeypatch.setenv("REVSHARE_CONFIG", str(REPO / "revshare.toml"))
    led = Ledger(url)
    led.migrate()
    yield led
    led.close()


def credits(ledger: Ledger) -> list[tuple[str, str | None]]:
    with ledger.engine.connect() as conn:
        return [(r.id, r.reference) for r in conn.execute(select(settlement_credits))]


def test_a_retry_of_the_crashing_command_grants_nothing_twice(ledger: Ledger) -> None:
    first = runner.invoke(app, GRANT)
    assert first.exit_code == 0, first.output
    assert "refund cr_" in first.output and "12.50 USD to acme ([/x] outage)" in first.output
    retry = runner.invoke(app, GRANT)
    assert retry.exit_code == 1 and "Traceback" not in retry.output
    (credit_id, _), = credits(ledger)
    assert f"error: an identical credit {credit_id} was granted" in retry.output
    assert "nothing written" in retry.output


def test_with_an_id_a_retry_is_answered_as_already_granted(ledger: Ledger) -> None:
    first = runner.invoke(app, [*GRANT, "--id", "TICKET-9"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*GRANT, "--id", "TICKET-9"])
    assert again.exit_code == 0, again.output
    (credit_id, reference), = credits(ledger)
    assert reference == "TICKET-9"
    assert f"already granted: refund {credit_id} (--id TICKET-9)" in again.output and "nothing written" in again.output
    other = runner.invoke(app, [*GRANT[:4], "99.00", *GRANT[5:], "--id", "TICKET-9"])
    assert other.exit_code == 1 and "reference 'TICKET-9' was already used for credit" in other.output
    assert len(credits(ledger)) == 1
    # A deliberate second credit with the same fields: its own id.
    assert runner.invoke(app, [*GRANT, "--id", "TICKET-10"]).exit_code == 0
    assert len(credits(ledger)) == 2


def test_a_failure_is_reported_only_before_the_write(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    import revshare.monthend.credits as credits_module

    def locked(*_: object) -> int:
        raise OperationalError("UPDATE ledger_state", {}, Exception("database is locked"))

    monkeypatch.setattr(credits_module, "lock_counter", locked)
    result = runner.invoke(app, GRANT)
    assert result.exit_code == 1 and "error: cannot record the credit" in result.output
    assert "database is locked" in result.output and "Traceback" not in result.output
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(settlement_credits)).scalar_one() == 0


def test_emoji_codes_in_a_reason_are_printed_as_written(ledger: Ledger) -> None:
    granted = runner.invoke(app, [*GRANT[:6], ":smile: outage :x:", "--id", "TICKET-11"])
    assert granted.exit_code == 0, granted.output
    assert "(:smile: outage :x:)" in granted.output and "\N{SMILING FACE WITH OPEN MOUTH}" not in granted.output


def test_a_customer_made_at_run_time_can_be_credited(ledger: Ledger) -> None:
    made = runner.invoke(app, ["customers", "create", "globex"])
    assert made.exit_code == 0, made.output
    granted = runner.invoke(app, ["credit", "--customer", "globex", "--amount", "5.00", "--reason", "goodwill"])
    assert granted.exit_code == 0, granted.output
    assert len(credits(ledger)) == 1

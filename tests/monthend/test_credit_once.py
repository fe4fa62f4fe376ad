"""A credit is granted once: a repeated reference is answered, an identical retry is refused (issue 17).

`revshare credit` used to write the credit and then crash printing it, so an operator who retried
granted it twice. Now a credit may carry a reference (`--id`): the same reference again is
answered as already done, with another credit's fields it is refused; without one, an identical
credit within `DUPLICATE_WINDOW` of the first is refused. Every decision is taken in the credit's
own transaction, after the lock every close takes, so two operators racing cannot both write.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from revshare.config import Catalog
from revshare.ledger.store import Ledger
from revshare.monthend.credits import DUPLICATE_WINDOW, grant_credit, grant_credit_once
from revshare.monthend.periods import SettlementLedgerError, close_period
from revshare.monthend.schema import settlement_credits
from revshare.settlement import Period


def credits(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(settlement_credits)).scalar_one())


def test_the_same_reference_is_answered_as_already_granted(ledger: Ledger, demo: Catalog) -> None:
    first = grant_credit_once(ledger, demo, customer="acme", amount="12.5", reason="outage [/x]", kind="refund",
                              created_by="t", reference="TICKET-1")
    assert not first.repeated and first.reference == "TICKET-1" and first.lands_in is None
    again = grant_credit_once(ledger, demo, customer="acme", amount="12.50", reason="outage [/x]", kind="refund",
                              created_by="someone else", reference="TICKET-1")
    assert again.repeated and again.credit == first.credit
    assert credits(ledger) == 1


def test_a_reference_is_never_reused_for_another_credit(ledger: Ledger, demo: Catalog) -> None:
    grant_credit_once(ledger, demo, customer="acme", amount="1", reason="r", created_by="t", reference="R-1")
    for changed in ({"amount": "2"}, {"customer": "demo"}, {"reason": "other"}, {"kind": "discount"},
                    {"model": "gemma-3-270m"}, {"refers_to": "2026-01"}):
        fields = {"customer": "acme", "amount": "1", "reason": "r", **changed}
        with pytest.raises(SettlementLedgerError, match="reference 'R-1' was already used for credit cr_"):
            grant_credit_once(ledger, demo, created_by="t", reference="R-1", **fields)
    assert credits(ledger) == 1


def test_an_identical_credit_without_a_reference_is_refused_within_the_window(ledger: Ledger, demo: Catalog) -> None:
    first = grant_credit(ledger, demo, customer="acme", amount="5", reason="outage", created_by="t")
    with pytest.raises(SettlementLedgerError, match=f"an identical credit {first.id} was granted"):
        grant_credit(ledger, demo, customer="acme", amount="5.00", reason=" outage ", created_by="t")
    assert credits(ledger) == 1
    # Deliberately the same again: each with its own reference.
    grant_credit_once(ledger, demo, customer="acme", amount="5", reason="outage", created_by="t", reference="a")
    grant_credit_once(ledger, demo, customer="acme", amount="5", reason="outage", created_by="t", reference="b")
    # Another credit is not a duplicate.
    grant_credit(ledger, demo, customer="acme", amount="6", reason="outage", created_by="t")
    assert credits(ledger) == 4
    # Past the window, the same credit is a new one.
    with ledger.engine.begin() as conn:
        conn.execute(update(settlement_credits).values(
            created_at=settlement_credits.c.created_at - DUPLICATE_WINDOW - timedelta(seconds=1)))
    grant_credit(ledger, demo, customer="acme", amount="5", reason="outage", created_by="t")
    assert credits(ledger) == 5


def test_a_bad_reference_is_refused_before_anything_is_written(ledger: Ledger, demo: Catalog) -> None:
    for bad in ("", " x", "x ", "a" * 129, "tab\there", "nul\x00", "new\nline"):
        with pytest.raises(SettlementLedgerError, match="--id"):
            grant_credit_once(ledger, demo, customer="acme", amount="1", reason="r", created_by="t", reference=bad)
    assert credits(ledger) == 0


def test_the_period_it_lands_in_is_read_in_its_own_transaction(ledger: Ledger, demo: Catalog) -> None:
    close_period(ledger, Period(2026, 1), closed_by="t")
    granted = grant_credit_once(ledger, demo, customer="acme", amount="1", reason="r", created_by="t",
                                reference="LATE-1")
    assert granted.lands_in == Period(2026, 2)
    close_period(ledger, Period(2026, 2), closed_by="t")
    again = grant_credit_once(ledger, demo, customer="acme", amount="1", reason="r", created_by="t",
                              reference="LATE-1")
    assert again.repeated and again.lands_in == Period(2026, 2)  # where it landed, not where a new one would


def test_racing_retries_write_one_credit(ledger: Ledger, demo: Catalog) -> None:
    results: list[bool] = []
    errors: list[Exception] = []

    def grant() -> None:
        try:
            results.append(grant_credit_once(ledger, demo, customer="acme", amount="3", reason="race",
                                             created_by="t", reference="RACE").repeated)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=grant) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(results) == [False, True, True, True, True, True]
    assert credits(ledger) == 1

"""The budget decision in SQL (`ledger/reservations.py`), on SQLite and PostgreSQL.

A reservation that fits is taken; one that only the reservations of requests in flight block is
refused `in_flight` (the gateway answers 429); one that spent money alone blocks is refused
without it (402). The kind is decided on the values of the row the batch holds locked, so a
second batch (another gateway on the same ledger) waits for the first to commit and then decides
on what the first left: never on a read that another batch could change in between.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from revshare.ledger.reservations import ReservationSql
from revshare.ledger.store import Ledger
from revshare.metering.reservation import BudgetRow, Final, Intent, IntentResult
from tests.support.stub_gateway import count_rows

SCOPE = "customer:demo"
PERIOD = "total"


def _intent(record_id: str, units: int, *budgets: BudgetRow) -> Intent:
    return Intent(record_id, "gw_test", units, budgets or (BudgetRow(SCOPE, PERIOD, 100),), {"model": "m"})


def _final(record_id: str, reserved: int, charged: int, *rows: tuple[str, str]) -> Final:
    return Final(record_id, reserved, charged, rows or ((SCOPE, PERIOD),))


def _batch(conn: Any, sql: ReservationSql, finals: list[Final], intents: list[Intent],
           commit: bool = True, path: str = "run") -> list[IntentResult]:
    cursor = conn.cursor()
    try:
        results: list[IntentResult] = getattr(sql, path)(cursor, finals, intents)
    finally:
        cursor.close()
    if commit:
        conn.commit()
    return results


def _row(url: str, scope: str = SCOPE) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            spent, reserved = conn.execute(text("SELECT spent, reserved FROM budgets WHERE scope = :s"),
                                           {"s": scope}).one()
            return int(spent), int(reserved)
    finally:
        engine.dispose()


def _open(url: str) -> tuple[Ledger, ReservationSql]:
    ledger = Ledger(url)
    ledger.migrate()
    return ledger, ReservationSql(ledger.engine.dialect.paramstyle, ledger.is_sqlite)


def test_in_flight_reservations_refuse_for_now_spent_money_for_good(ledger_url: str) -> None:
    ledger, sql = _open(ledger_url)
    conn = ledger.engine.raw_connection()
    try:
        # limit 100: two requests of 40 fit together, a third only waits for them
        assert _batch(conn, sql, [], [_intent("a", 40), _intent("b", 40), _intent("c", 40)]) == [
            IntentResult(True), IntentResult(True), IntentResult(False, SCOPE, in_flight=True)]
        assert _row(ledger_url) == (0, 80)
        # a settles to 30 in the same batch that decides d: spent 30 + reserved 40 + 40 > 100, 30 + 40 <= 100
        assert _batch(conn, sql, [_final("a", 40, 30)], [_intent("d", 40)]) == [
            IntentResult(False, SCOPE, in_flight=True)]
        assert _row(ledger_url) == (30, 40)
        # b settles: spent 60, nothing in flight; e fits exactly (60 + 40 = 100)
        assert _batch(conn, sql, [_final("b", 40, 30)], [_intent("e", 40)]) == [IntentResult(True)]
        assert _row(ledger_url) == (60, 40)
        # f: spent 60 + 50 > 100 even with e gone: exceeded, though e is in flight; g (40) only waits for e
        assert _batch(conn, sql, [], [_intent("f", 50), _intent("g", 40)]) == [
            IntentResult(False, SCOPE), IntentResult(False, SCOPE, in_flight=True)]
        # e spends all it reserved: now g cannot be covered at all
        assert _batch(conn, sql, [_final("e", 40, 40)], [_intent("g", 40)]) == [IntentResult(False, SCOPE)]
        assert _row(ledger_url) == (100, 0)
    finally:
        conn.close()
        ledger.close()


def test_forty_at_once_on_room_for_five_are_five_served_and_thirty_five_told_to_retry(ledger_url: str) -> None:
    """The issue's scenario: 40 requests of at most 20 against a budget of 100, in one batch."""
    ledger, sql = _open(ledger_url)
    conn = ledger.engine.raw_connection()
    try:
        results = _batch(conn, sql, [], [_intent(f"r{i}", 20) for i in range(40)])
        assert [r.ok for r in results] == [True] * 5 + [False] * 35
        assert all(r.in_flight and r.refused_by == SCOPE for r in results[5:])
        assert _row(ledger_url) == (0, 100)
        assert count_rows(ledger_url, "reservations") == 5
    finally:
        conn.close()
        ledger.close()


def test_a_request_any_of_whose_budgets_is_exceeded_is_exceeded(ledger_url: str) -> None:
    """A key's budget within its customer's: 402 wins over 429 (retrying would not help), and a
    reservation taken on one row is given back when another row refuses."""
    key = "key:k1"
    customer = BudgetRow(SCOPE, PERIOD, 1000)
    ledger, sql = _open(ledger_url)
    conn = ledger.engine.raw_connection()
    try:
        assert _batch(conn, sql, [], [_intent("big", 900, BudgetRow(SCOPE, PERIOD, 1000))]) == [IntentResult(True)]
        # customer: 900 in flight blocks 200 (in flight); key: limit 150 < 200 (exceeded): 402 by the key
        assert _batch(conn, sql, [], [_intent("x", 200, customer, BudgetRow(key, PERIOD, 150))]) == [
            IntentResult(False, key)]
        # customer: fits (900 + 50); key: a 100 in flight blocks it: 429 by the key, the customer's 50 given back
        assert _batch(conn, sql, [], [_intent("y", 100, BudgetRow(key, PERIOD, 150))]) == [IntentResult(True)]
        assert _batch(conn, sql, [], [_intent("z", 50, customer, BudgetRow(key, PERIOD, 120))]) == [
            IntentResult(False, key, in_flight=True)]
        assert _row(ledger_url) == (0, 900)
        assert _row(ledger_url, key) == (0, 100)
    finally:
        conn.close()
        ledger.close()


@pytest.mark.parametrize("first_commits", [True, False], ids=["commit", "rollback"])
def test_the_decision_waits_for_a_batch_holding_the_row(ledger_url: str, first_commits: bool) -> None:
    """Two writers (two gateways on one ledger): the second batch blocks on the row the first holds
    and decides on what the first committed (its 60 in flight: 429), or on what a rollback left (fits)."""
    ledger, sql = _open(ledger_url)
    first, second = ledger.engine.raw_connection(), ledger.engine.raw_connection()
    try:
        assert _batch(first, sql, [], [_intent("held", 60)], commit=False) == [IntentResult(True)]
        got: list[IntentResult] = []
        waiter = threading.Thread(target=lambda: got.extend(_batch(second, sql, [], [_intent("next", 60)])))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and not got  # waiting for the first batch's lock
        if first_commits:
            first.commit()
        else:
            first.rollback()
        waiter.join(15)
        assert got == [IntentResult(False, SCOPE, in_flight=True) if first_commits else IntentResult(True)]
        assert _row(ledger_url) == (0, 60)
    finally:
        first.close()
        second.close()
        ledger.close()


def _reservation_rows(conn: Any) -> list[tuple[Any, ...]]:
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT record_id, instance, units, budgets, request FROM reservations ORDER BY record_id")
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def test_a_batch_without_budgets_or_keys_is_written_as_the_general_path_writes_it(ledger_url: str) -> None:
    """Most batches touch no budget and no idempotency key: `run` takes a shorter path for them
    (`_run_plain`), which must admit and write exactly what the general one does, batch by batch."""
    ledger, sql = _open(ledger_url)
    conn = ledger.engine.raw_connection()
    shapes = [(0, 1), (1, 0), (1, 1), (3, 5), (5, 2), (0, 0)]  # (finals, intents) a batch holds
    try:
        outcomes: dict[str, list[Any]] = {}
        for path in ("_run_general", "_run_plain"):
            results: list[Any] = []
            made = 0
            for finals_n, intents_n in shapes:
                intents = [Intent(f"{path}-{made + i}", "gw_test", 7 * i, (), {"text": "é\n", "model": "m", "n": i})
                           for i in range(intents_n)]
                finals = [Final(f"{path}-{made - 1 - i}", 0, 0, ()) for i in range(min(finals_n, made))]
                made += intents_n
                results.append(_batch(conn, sql, finals, intents, path=path))
                results.append([row[1:] for row in _reservation_rows(conn) if row[0].startswith(path)])
            outcomes[path] = results
        assert outcomes["_run_plain"] == outcomes["_run_general"]
        assert outcomes["_run_plain"][-1]  # rows were left to compare, not only deleted
    finally:
        conn.close()
        ledger.close()


def test_a_batch_with_a_budget_or_a_key_takes_the_general_path(ledger_url: str) -> None:
    ledger, sql = _open(ledger_url)
    conn = ledger.engine.raw_connection()
    try:
        plain = Intent("plain", "gw_test", 10, (), {"model": "m"})
        # One intent with a budget in the batch: its budget is decided (and exceeded) as always.
        assert _batch(conn, sql, [], [plain, _intent("budgeted", 500)]) == [
            IntentResult(True), IntentResult(False, SCOPE)]
        assert [row[0] for row in _reservation_rows(conn)] == ["plain"]
    finally:
        conn.close()
        ledger.close()

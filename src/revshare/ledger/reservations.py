"""Intents, budget reservations and idempotency claims, written inside group-commit batches.

Every request leaves an intent (a `reservations` row) before its engine runs, and its record's
transaction deletes it, so a crash leaves exactly the interrupted requests behind. A request with
a budget also reserves its most cost there. Each budget row a batch touches is first locked, and
settled by the batch's finals, in one statement that returns what it then holds:

    INSERT INTO budgets (scope, period, spent, reserved) VALUES (:s, :p, 0, 0)
        ON CONFLICT (scope, period) DO UPDATE
        SET spent = budgets.spent + :charged, reserved = budgets.reserved - :released
        RETURNING spent, reserved

The batch's intents are decided on those values (`metering.reservation.cover`: fits, blocked only
by reservations in flight, or exceeded) and what they take is added before the next row. The
lock is held until the batch commits (PostgreSQL: the upsert's row lock; SQLite: the write
transaction, which every writer takes before this statement), so the decision, its kind and the
reservation are one atomic step: no other batch, in this process or another gateway's, can
change the row between the read and the write, and no refusal rests on a second, racy read.

Lock order inside a batch, always: `ledger_state` (the record append), then budget rows sorted by
(scope, period), then idempotency keys sorted: no two batches can wait on each other in a cycle.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import orjson

from revshare.instants import sql_text, utc_now
from revshare.ledger.idempotency import DEFAULT_RETENTION_S
from revshare.metering.reservation import BudgetRow, Cover, Final, Intent, IntentResult, cover

__all__ = ["ReservationSql", "parse_budgets"]

_ADMITTED = IntentResult(True)


def _intent_row(intent: Intent, now: Any) -> tuple[Any, ...]:
    """An intent's `reservations` row, as both paths of `ReservationSql.run` write it."""
    return (intent.record_id, intent.instance, intent.units, _budgets_text(intent.budgets),
            orjson.dumps(intent.request).decode(), now)  # plain strings and flags (`serving.lease`)


def _budgets_text(rows: tuple[BudgetRow, ...]) -> str:
    return ",".join(f"{b.scope}|{b.period}" for b in rows)


def parse_budgets(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((s, p) for s, _, p in (item.partition("|") for item in text.split(",") if item))


class ReservationSql:
    """The statements rendered for one DBAPI paramstyle, and the batch logic that runs them."""

    def __init__(self, paramstyle: str, is_sqlite: bool, retention_s: float = DEFAULT_RETENTION_S) -> None:
        m = "?" if paramstyle == "qmark" else "%s"
        self.is_sqlite = is_sqlite
        self.retention = timedelta(seconds=retention_s)
        # Lock (creating at zero) and settle a budget row, returning what it holds: see above. A row
        # a final settles always exists (its request reserved on it), so a new row has nothing to settle.
        self.lock = (f"INSERT INTO budgets (scope, period, spent, reserved) VALUES ({m}, {m}, 0, 0) "
                     f"ON CONFLICT (scope, period) DO UPDATE SET spent = budgets.spent + {m}, "
                     f"reserved = budgets.reserved - {m} RETURNING spent, reserved")
        self.adjust = (f"UPDATE budgets SET spent = spent + {m}, reserved = reserved - {m} "
                       f"WHERE scope = {m} AND period = {m}")
        # A completed key past its retention window is taken over: the request runs anew (ledger/idempotency.py).
        self.claim = ("INSERT INTO idempotency_keys (customer, key, body_hash, record_id, status, response, "
                      f"created_at) VALUES ({m}, {m}, {m}, {m}, NULL, NULL, {m}) ON CONFLICT (customer, key) DO "
                      "UPDATE SET body_hash = excluded.body_hash, record_id = excluded.record_id, status = NULL, "
                      "response = NULL, created_at = excluded.created_at WHERE idempotency_keys.status IS NOT NULL "
                      f"AND idempotency_keys.created_at < {m}")
        self.complete = f"UPDATE idempotency_keys SET status = {m}, response = {m} WHERE customer = {m} AND key = {m}"
        self.release = f"DELETE FROM idempotency_keys WHERE customer = {m} AND key = {m} AND status IS NULL"
        self.insert = (f"INSERT INTO reservations (record_id, instance, units, budgets, request, created_at) "
                       f"VALUES ({m}, {m}, {m}, {m}, {m}, {m})")
        self.delete = f"DELETE FROM reservations WHERE record_id = {m}"

    def _now(self) -> Any:
        now = utc_now()
        return sql_text(now) if self.is_sqlite else now

    def run(self, cursor: Any, finals: list[Final], intents: list[Intent]) -> list[IntentResult]:
        """Settle finals and reserve intents on one cursor, in the lock order above."""
        if all(not f.budgets and f.idempotency is None for f in finals) and all(
                not x.budgets and x.idempotency is None for x in intents):
            return self._run_plain(cursor, finals, intents)
        return self._run_general(cursor, finals, intents)

    def _run_general(self, cursor: Any, finals: list[Final], intents: list[Intent]) -> list[IntentResult]:
        settle: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for f in finals:
            for row in f.budgets:
                settle[row][0] += f.charged
                settle[row][1] += f.reserved
        wants: dict[tuple[str, str], list[tuple[int, BudgetRow]]] = defaultdict(list)
        for i, intent in enumerate(intents):
            for b in intent.budgets:
                wants[(b.scope, b.period)].append((i, b))
        refused: dict[int, str] = {}
        waiting: set[int] = set()  # refused so far only by reservations in flight
        taken: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for row in sorted(set(settle) | set(wants)):
            charged, released = settle.get(row, (0, 0))
            live = [(i, b) for i, b in wants.get(row, ()) if i not in refused or i in waiting]
            if not live:
                if charged or released:
                    cursor.execute(self.adjust, (charged, released, *row))
                continue
            cursor.execute(self.lock, (*row, charged, released))
            spent, reserved = cursor.fetchone()
            took = 0
            for i, b in live:
                units = intents[i].units
                verdict = cover(int(spent), int(reserved) + took, units, b.limit)
                if verdict is Cover.EXCEEDED:  # final, whatever an earlier row said
                    refused[i] = b.scope
                    waiting.discard(i)
                elif i in refused:  # already waiting on an earlier row: take nothing here
                    continue
                elif verdict is Cover.FITS:
                    took += units
                    taken[i].append(row)
                else:
                    refused[i] = b.scope
                    waiting.add(i)
            if took:
                cursor.execute(self.adjust, (0, -took, *row))
        now = self._now()
        expired = utc_now() - self.retention
        claims = sorted((x.idempotency.customer, x.idempotency.key, i) for i, x in enumerate(intents)
                        if x.idempotency is not None and i not in refused)
        for customer, key, i in claims:
            claim = intents[i].idempotency
            assert claim is not None
            cursor.execute(self.claim, (customer, key, claim.body_hash, intents[i].record_id, now,
                                        sql_text(expired) if self.is_sqlite else expired))
            if cursor.rowcount != 1:
                refused[i] = "idempotency"
        for i in refused:
            for row in taken.get(i, ()):
                cursor.execute(self.adjust, (0, intents[i].units, *row))
        rows = [_intent_row(x, now) for i, x in enumerate(intents) if i not in refused]
        if rows:
            cursor.executemany(self.insert, rows)
        if finals:
            cursor.executemany(self.delete, [(f.record_id,) for f in finals])
            done = [f.idempotency for f in finals if f.idempotency is not None]
            for d in done:
                if d.status is None:
                    cursor.execute(self.release, (d.customer, d.key))
                else:
                    cursor.execute(self.complete, (d.status, d.response, d.customer, d.key))
        return [IntentResult(i not in refused, refused.get(i, ""), i in waiting) for i in range(len(intents))]

    def _run_plain(self, cursor: Any, finals: list[Final], intents: list[Intent]) -> list[IntentResult]:
        """`run` for a batch that touches no budget and no idempotency key (most batches): nothing
        to lock or decide, so every intent is admitted; the same rows as `run` writes."""
        if intents:
            now = self._now()
            cursor.executemany(self.insert, [_intent_row(x, now) for x in intents])
        if finals:
            cursor.executemany(self.delete, [(f.record_id,) for f in finals])
        return [_ADMITTED] * len(intents)

"""Which gateway owns which intents, and resolving the intents a crashed gateway left behind.

Each gateway process holds a lease for its life: a PostgreSQL session advisory lock, or an
`flock` on a file beside a SQLite ledger. The operating system or the database drops it the
moment the process dies (kill -9 included). At start, a gateway resolves every intent whose
owner's lease it can take: that owner is gone, and its requests never finished.

Resolving an intent appends the request's record with outcome `engine_error`, error code
`interrupted`, zero tokens and zero amount (nothing durable says how far it got: the host
absorbs it, the customer is never charged for it, let alone twice), releases its budget
reservation and its idempotency claim, and deletes the intent, all in one transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from revshare.ledger.admission_schema import reservations
from revshare.ledger.reservations import ReservationSql, parse_budgets
from revshare.ledger.store import Ledger
from revshare.metering.reservation import Final, IdemDone
from revshare.records.record import Outcome, UsageRecord

__all__ = ["INTERRUPTED", "InstanceLease", "resolve_orphans"]

log = logging.getLogger("revshare.ledger")

INTERRUPTED = "interrupted"


def _lock_key(instance: str) -> int:
    return int.from_bytes(hashlib.sha256(instance.encode()).digest()[:8], "big", signed=True)


class InstanceLease:
    """This process's lease on its intents, and a probe of other processes' leases."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.instance = "gw_" + secrets.token_hex(8)
        self._conn: Any = None
        self._file: IO[bytes] | None = None
        self._dir: Path | None = None
        if ledger.is_sqlite:
            database = make_url(ledger.url).database
            if database and database != ":memory:":
                self._dir = Path(database + ".instances")

    def hold(self) -> None:
        if not self.ledger.is_sqlite:
            self._conn = self.ledger.engine.raw_connection()
            cur = self._conn.cursor()
            cur.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.instance),))
            cur.close()
            self._conn.commit()
        elif self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self._dir / self.instance, "wb")  # noqa: SIM115 (held for the process's life)
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None
            if self._dir is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._dir / self.instance)

    def is_gone(self, instance: str) -> bool:
        """True when the process that held `instance` no longer runs."""
        if instance == self.instance:
            return False
        if not self.ledger.is_sqlite:
            conn = self.ledger.engine.raw_connection()
            try:
                cur = conn.cursor()
                key = _lock_key(instance)
                cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                row = cur.fetchone()
                got = bool(row and row[0])
                if got:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
                conn.commit()
                return bool(got)
            finally:
                conn.close()
        if self._dir is None:
            return True  # an in-memory ledger lives in one process
        path = self._dir / instance
        try:
            with open(path, "ab") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        with contextlib.suppress(OSError):
            os.unlink(path)
        return True


def _record(row: Any, request: dict[str, Any]) -> UsageRecord:
    started = row["created_at"] if row["created_at"].tzinfo else row["created_at"].replace(tzinfo=UTC)
    return UsageRecord(
        id=row["record_id"], started_at=started, ended_at=datetime.now(UTC),
        customer=request["customer"], key_id=request["key_id"], model=request["model"],
        engine=request["engine"], endpoint=request["endpoint"], outcome=Outcome.ENGINE_ERROR,
        prompt_tokens=0, completion_tokens=0, amount=Decimal("0E-12"), currency=request["currency"],
        price_version=request["price_version"], licensors=tuple(request["licensors"]),
        stream=bool(request["stream"]), idempotency_key=request.get("idempotency_key"),
        error_code=INTERRUPTED, end_user=request.get("end_user", ""),
    )


def resolve_orphans(ledger: Ledger, lease: InstanceLease) -> int:
    """Resolve the intents of gateways that are gone; return how many."""
    with ledger.engine.connect() as conn:
        rows = [r._mapping for r in conn.execute(select(reservations).order_by(reservations.c.created_at))]
    gone: dict[str, bool] = {}
    orphans = []
    for row in rows:
        owner = row["instance"]
        if owner not in gone:
            gone[owner] = lease.is_gone(owner)
        if gone[owner]:
            orphans.append(row)
    if not orphans:
        return 0
    existing = {r.id for r in ledger.records(after_seq=0, record_ids=[o["record_id"] for o in orphans])}
    sql = ReservationSql(ledger.engine.dialect.paramstyle, ledger.is_sqlite)
    records, finals = [], []
    for row in orphans:
        request = json.loads(row["request"])
        idem = request.get("idempotency_key")
        done = IdemDone(request["customer"], idem, None, None) if idem else None
        finals.append(Final(row["record_id"], int(row["units"]), 0, parse_budgets(row["budgets"]), done))
        if row["record_id"] not in existing:
            records.append(_record(row, request))
    raw = ledger.engine.raw_connection()
    try:
        if records:
            ledger.append_dbapi(raw, records)
        cursor = raw.cursor()
        sql.run(cursor, finals, [])
        cursor.close()
        raw.commit()
    finally:
        raw.close()
    log.warning("resolved %d request(s) interrupted by a gateway that stopped (outcome engine_error, "
                "error_code %r, charged zero)", len(orphans), INTERRUPTED)
    return len(orphans)

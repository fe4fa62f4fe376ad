"""Feed the analytics store from the ledger: the records after its cursor, by seq, exactly once.

Each round reads the next `batch` records (seq > copied_seq, in seq order) through the ledger's
own SQLAlchemy engine (SQLite or PostgreSQL; never DuckDB's scanner extensions, which it would
download at run time), checks they follow the cursor without a gap, and appends them with the
cursor in one DuckDB transaction (`ColumnarStore.append`). A crash anywhere leaves the store at
the end of the last committed round; the next feed goes on from there, so no seq is copied twice
or skipped. Seqs are gapless and commit in order (each append holds the seq counter's row lock
until it commits), so a record the feeder sees has every smaller seq committed before it.
It runs beside the gateway, never in the request path: `revshare analytics feed [--follow]`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from revshare.analytics.store import (
    DIGEST_MOD,
    NAMES,
    AnalyticsError,
    ColumnarStore,
    FeedPosition,
    row_digest_text,
)
from revshare.ledger.schema import usage_records as u
from revshare.ledger.store import Ledger

__all__ = ["FeedReport", "check_same_ledger", "feed", "ledger_digest", "micros"]

_READ = (u.c.seq, u.c.started_at, u.c.appended_at, u.c.customer, u.c.key_id, u.c.model, u.c.price_version,
         u.c.outcome, u.c.prompt_tokens, u.c.completion_tokens, u.c.cached_tokens, u.c.amount, u.c.currency,
         u.c.end_user, u.c.id)  # the store's COLUMNS, then the ledger id (for the cursor's fingerprint)
_INTS = (0, 8, 9, 10)  # seq, the token counts (the instants, 1 and 2, become microseconds)
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    """Microseconds since the epoch; a naive instant (SQLite hands those back) is UTC."""
    return (instant - (_EPOCH if instant.tzinfo is None else _EPOCH_UTC)) // _MICRO


@dataclass(frozen=True, slots=True)
class FeedReport:
    """One `feed()`: records copied, where the store stands now, seconds taken."""

    copied: int
    position: FeedPosition
    seconds: float

    @property
    def rate(self) -> float:
        return self.copied / self.seconds if self.seconds > 0 else 0.0


def _ledger_id(ledger: Ledger, seq: int) -> str | None:
    with ledger.engine.connect() as conn:
        found = conn.execute(select(u.c.id).where(u.c.seq == seq)).scalar_one_or_none()
    return None if found is None else str(found)


def check_same_ledger(ledger: Ledger, position: FeedPosition) -> str | None:
    """Why the store was not fed from this ledger (None when its first and last seq's ids match)."""
    if position.copied_seq == 0:
        return None
    try:
        first, last = _ledger_id(ledger, 1), _ledger_id(ledger, position.copied_seq)
    except SQLAlchemyError as exc:
        return f"cannot read the ledger at {ledger.safe_url}: {exc}"
    if first != position.first_id or last != position.last_id:
        return (f"the analytics store holds seq 1..{position.copied_seq} of another ledger (the ids at seq 1 and "
                f"{position.copied_seq} differ from {ledger.safe_url}'s): delete it and feed it again")
    return None


def _instants(values: Sequence[Any]) -> Any:
    """Microseconds since the epoch of a column of instants: datetimes (PostgreSQL), or SQLite's
    naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', which numpy parses in C."""
    if values and isinstance(values[0], str):
        return np.array(values, dtype="datetime64[us]").astype(np.int64)
    return np.fromiter(map(micros, values), dtype=np.int64, count=len(values))


def _columns(cols: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The store's columns (`NAMES`) from the ledger's, as numpy arrays DuckDB reads without copying each value."""
    out: dict[str, Any] = {}
    for i, name in enumerate(NAMES):
        if i in (1, 2):
            out[name] = _instants(cols[i])
        elif i in _INTS:
            out[name] = np.fromiter(cols[i], dtype=np.int64, count=len(cols[i]))
        else:
            out[name] = np.array(cols[i], dtype=object)
    return out


def _read(ledger: Ledger, after: int, limit: int) -> list[tuple[Any, ...]]:
    """The next records after seq `after`, as the driver hands them back (the ledger's own SQLAlchemy
    engine and its DBAPI connection, without per-value result processing: the feed's hot loop)."""
    mark = "?" if ledger.engine.dialect.paramstyle == "qmark" else "%s"
    sql = (f"SELECT {', '.join(c.name for c in _READ)} FROM {u.name} WHERE seq > {mark} ORDER BY seq "
           f"LIMIT {mark}")
    try:
        with ledger.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, (after, limit))
                return [tuple(r) for r in cursor.fetchall()]
            finally:
                cursor.close()
    except (SQLAlchemyError, ledger.engine.dialect.loaded_dbapi.Error) as exc:
        raise AnalyticsError(f"cannot read the ledger at {ledger.safe_url}: {exc}") from exc


def feed(
    ledger: Ledger,
    store: ColumnarStore,
    *,
    batch: int = 100_000,
    until: int | None = None,
    on_round: Callable[[FeedPosition], None] | None = None,
) -> FeedReport:
    """Copy every record after the store's cursor (up to seq `until`, when given), `batch` per transaction."""
    t0 = time.perf_counter()
    start = position = store.position()
    problem = check_same_ledger(ledger, position)
    if problem:
        raise AnalyticsError(problem)

    def limit_after(seq: int) -> int:
        return batch if until is None else min(batch, until - seq)

    if until is not None and position.copied_seq >= until:
        return FeedReport(0, position, time.perf_counter() - t0)
    # The next batch is read while this one is written: the driver and DuckDB each wait on their own I/O.
    with ThreadPoolExecutor(max_workers=1) as reader:
        limit = limit_after(position.copied_seq)
        pending = reader.submit(_read, ledger, position.copied_seq, limit)
        while True:
            rows = pending.result()
            if not rows:
                break
            gapless = len(rows)
            if rows[-1][0] != position.copied_seq + len(rows) or rows[0][0] != position.copied_seq + 1:
                gapless = next(i for i, r in enumerate(rows) if r[0] != position.copied_seq + 1 + i)
            after = position.copied_seq + gapless
            more = gapless == len(rows) == limit and (until is None or after < until)
            if more:
                limit = limit_after(after)
                pending = reader.submit(_read, ledger, after, limit)
            if gapless:  # copy up to a gap, then stop there
                first_id = position.first_id or str(rows[0][-1])
                cols = list(zip(*(rows if gapless == len(rows) else rows[:gapless]), strict=True))
                position = store.append(_columns(cols), first_id=first_id, last_id=str(rows[gapless - 1][-1]))
                if on_round is not None:
                    on_round(position)
            if gapless < len(rows):
                raise AnalyticsError(f"the ledger's usage_records have a gap after seq {position.copied_seq}: "
                                     "the analytics store stops there")
            if not more:
                break
    return FeedReport(position.copied_seq - start.copied_seq, position, time.perf_counter() - t0)


def ledger_digest(ledger: Ledger, through_seq: int, *, batch: int = 100_000) -> tuple[int, int]:
    """(rows, digest) of the ledger's seq 1..through_seq, computed as the store computes its own:
    what `revshare analytics verify --against-ledger` compares with the store's cursor."""
    digest, count, after = 0, 0, 0
    with ledger.engine.connect() as conn:
        while after < through_seq:
            rows = conn.execute(select(*_READ[:-1]).where(u.c.seq > after, u.c.seq <= through_seq)
                                .order_by(u.c.seq).limit(batch)).all()
            if not rows:
                break
            for r in rows:
                values = list(r)
                values[1], values[2] = micros(values[1]), micros(values[2])
                digest += int.from_bytes(hashlib.md5(row_digest_text(values), usedforsecurity=False).digest()[8:],
                                         "little")
            count += len(rows)
            after = int(rows[-1][0])
    return count, digest % DIGEST_MOD

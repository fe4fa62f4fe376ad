"""Settlement's GROUP BY on the analytics store, in SQL that DuckDB and ClickHouse both run.

`columnar_aggregate_sql(window)` is `revshare.settlement.aggregate()` (and the ledger's
`monthend.usage_sums.aggregate_sql`) over the store's `usage` table: instants are integer
microseconds, every literal is an integer or one of the charged outcomes, and it uses only
CASE, IN, count(*) and sum(), with aliases that never shadow a column (ClickHouse resolves
aliases across the whole query). tests/analytics runs it on DuckDB and on chDB (ClickHouse).
`columnar_sightings_sql(window)` is the statements' active users (`monthend.period_users`) on
the store. `read_columnar` decides whether the store can answer for a close: only when it holds
every record up to the close's last seq, from this very ledger; then both come from it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revshare.analytics.feeder import check_same_ledger, micros
from revshare.analytics.store import AnalyticsError, ColumnarStore, FeedPosition, StoreBusy
from revshare.ledger.store import Ledger
from revshare.settlement.aggregate import CHARGED_OUTCOMES, UsageAggregate, sort_aggregates
from revshare.settlement.period import Window
from revshare.settlement.users import Sighting

__all__ = ["ColumnarRead", "aggregates_of", "columnar_aggregate_sql", "columnar_sightings_sql", "read_columnar",
           "sightings_of"]

KEY_PREFIX = "key:"  # accounts.end_users.KEY_PREFIX: an end user counted by its key (tests hold them equal)


def _outcomes() -> str:
    for o in CHARGED_OUTCOMES:
        if not o.replace("_", "").isalnum():
            raise ValueError(f"outcome {o!r} cannot be written as a SQL literal here")
    return ", ".join(f"'{o}'" for o in CHARGED_OUTCOMES)


def columnar_aggregate_sql(window: Window, table: str = "usage") -> str:
    """The window's aggregate over `table`: columns customer, key_id, model, price_version,
    segment, late (0/1), requests, prompt_sum, completion_sum (one row per group, no order)."""
    start, end = micros(window.period.start), micros(window.period.end)
    late = f"started_us < {start}" if window.late_after is not None else "0 = 1"
    placed = f"CASE WHEN {late} THEN appended_us ELSE started_us END"
    if window.cuts:
        whens = " ".join(f"WHEN {placed} < {micros(c)} THEN {i}" for i, c in enumerate(window.cuts))
        segment = f"CASE {whens} ELSE {len(window.cuts)} END"
    else:
        segment = "0"
    taken = f"(started_us >= {start} AND started_us < {end})"
    if window.late_after is not None:
        taken = f"({taken} OR (started_us < {start} AND appended_us >= {micros(window.late_after)}))"
    where = [f"outcome IN ({_outcomes()})", taken]
    if window.closed_at is not None:
        where.append(f"appended_us < {micros(window.closed_at)}")
    keys = "customer, key_id, model, price_version, segment, late"
    return (
        f"SELECT {keys}, count(*) AS requests, sum(prompt_tokens) AS prompt_sum, "
        "sum(completion_tokens) AS completion_sum "
        "FROM (SELECT customer, key_id, model, price_version, prompt_tokens, completion_tokens, "
        f"{segment} AS segment, CASE WHEN {late} THEN 1 ELSE 0 END AS late "
        f"FROM {table} WHERE {' AND '.join(where)}) AS charged "
        f"GROUP BY {keys}"
    )


def columnar_sightings_sql(window: Window, table: str = "usage") -> str:
    """The distinct (model, customer, key_id, end user) of the records that started in the period
    and were appended before its close, whatever their outcome; the end user is the record's
    end-user hash, else `key:<key_id>` (`accounts.end_users.END_USER_SQL`)."""
    where = [f"started_us >= {micros(window.period.start)}", f"started_us < {micros(window.period.end)}"]
    if window.closed_at is not None:
        where.append(f"appended_us < {micros(window.closed_at)}")
    return (f"SELECT DISTINCT model, customer, key_id, CASE WHEN end_user = '' THEN '{KEY_PREFIX}' || key_id "
            f"ELSE end_user END AS end_user_id FROM {table} WHERE {' AND '.join(where)}")


def sightings_of(rows: Iterable[Sequence[Any]]) -> tuple[Sighting, ...]:
    return tuple(sorted(Sighting(str(m), str(c), str(k), str(e)) for m, c, k, e in rows))


def aggregates_of(rows: Iterable[Sequence[Any]]) -> tuple[UsageAggregate, ...]:
    """The SQL's rows as `UsageAggregate`s, in canonical order (whatever integer types the engine returns)."""
    return sort_aggregates(UsageAggregate(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), bool(int(r[5])),
                                          int(r[6]), int(r[7]), int(r[8])) for r in rows)


@dataclass(frozen=True, slots=True)
class ColumnarRead:
    """What a settle reads from the store: the aggregates, the active users (when asked), the cursor."""

    aggregates: tuple[UsageAggregate, ...]
    sightings: tuple[Sighting, ...] | None
    position: FeedPosition


def _open_when_free(path: str | Path, busy_wait_s: float) -> ColumnarStore:
    """Open the store read-only, waiting up to `busy_wait_s` for a feeder's round to end."""
    deadline = time.monotonic() + busy_wait_s
    while True:
        try:
            return ColumnarStore.open(path, read_only=True)
        except StoreBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def read_columnar(path: str | Path, ledger: Ledger, window: Window, through_seq: int, *,
                  users: bool = False, busy_wait_s: float = 0.0) -> ColumnarRead:
    """The window's aggregates (and, with `users`, its active users) from the store at `path`,
    which must hold seq 1..`through_seq` (the close's last seq) of this ledger; `AnalyticsError`
    says why it cannot answer otherwise (`StoreBusy`: a feeder held it for `busy_wait_s`)."""
    with _open_when_free(path, busy_wait_s) as store:
        position = store.position()
        if position.copied_seq < through_seq:
            raise AnalyticsError(
                f"the analytics store holds seq 1..{position.copied_seq}, the close needs 1..{through_seq} "
                "(run `revshare analytics feed`)")
        problem = check_same_ledger(ledger, position)
        if problem:
            raise AnalyticsError(problem)
        aggregates = aggregates_of(store.query(columnar_aggregate_sql(window)))
        sightings = sightings_of(store.query(columnar_sightings_sql(window))) if users else None
        return ColumnarRead(aggregates, sightings, position)

"""Archiving settled months: `revshare ledger archive --before YYYY-MM` (docs/RELIABILITY.md).

A month's partition is exported to `usage-YYYY-MM.jsonl.gz` (one JSON object per record, the
`usage_records` columns, in seq order; gzip with no timestamp, so the same rows give the same
bytes), the file's SHA-256 is recorded in `ledger_archives`, and the partition is detached from
`usage_records` (kept as a plain table, or dropped with `drop=True`). The verifiable log keeps
every leaf, tree node and checkpoint: a record of an archived month is still proven by its
receipt, and the file's row projects to the very leaf the receipt proves (tests/ledger/test_archive.py).

Only months that can never change again are archived. The caller states what the month-end, the
log and the ledger's copies say (`Settled`); a month is refused, with the reason, unless it has
ended, it is closed and settled, every record it holds is covered by a settled close (late usage
included), is in the verifiable log, and is in every copy that reads the ledger in seq order.
Refusals raise `ArchiveRefused` before anything is changed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from revshare.instants import as_utc
from revshare.ledger.partitions import (
    DEFAULT_PARTITION,
    add_months,
    attached_months,
    create_month,
    is_partitioned,
    lock_partitions,
    month_of,
    partition_name,
)
from revshare.ledger.schema import ledger_archives, usage_records
from revshare.ledger.store import Ledger, LedgerError, record_from_row
from revshare.records.record import UsageRecord

__all__ = ["ArchiveRefused", "ArchivedMonth", "Settled", "archive_months", "archived_records", "file_sha256"]

_COLUMNS = tuple(c.name for c in usage_records.columns)
_TIMES = ("started_at", "ended_at", "appended_at")


class ArchiveRefused(LedgerError):
    """A month cannot be archived (yet); the message says which and why."""


@dataclass(frozen=True, slots=True)
class Settled:
    """What the caller read from the month-end and the log: the settled months (`YYYY-MM`), the
    last seq every settled close together covers, the last seq integrated into the log, and, for
    each copy read from the ledger in seq order (the usage rollups, the analytics store), its name
    and the last seq it holds: an archived month must not leave a gap in front of one."""

    months: frozenset[str]
    through_seq: int
    integrated_seq: int
    copies: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ArchivedMonth:
    month: str
    file: Path
    sha256: str
    records: int
    first_seq: int | None
    last_seq: int | None
    dropped: bool


def _label(month: datetime) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _stats(conn: Connection, table: str, month: datetime) -> tuple[int, int | None, int | None]:
    row = conn.execute(text(f"SELECT count(*), min(seq), max(seq) FROM {table} "
                            "WHERE started_at >= :lo AND started_at < :hi"),
                       {"lo": month, "hi": add_months(month, 1)}).one()
    return int(row[0]), row[1], row[2]


def _candidates(conn: Connection, before: datetime) -> list[datetime]:
    months = {p.month for p in attached_months(conn) if p.end <= before}
    strays = conn.execute(text(f"SELECT DISTINCT date_trunc('month', started_at AT TIME ZONE 'UTC') "
                               f"FROM {DEFAULT_PARTITION} WHERE started_at < :b"), {"b": before}).scalars()
    months.update(month_of(m) for m in strays)
    return sorted(months)


def _refusal(label: str, stats: tuple[int, int | None, int | None], settled: Settled,
             archived: set[str]) -> str | None:
    count, _, last = stats
    if label in archived:
        return (f"month {label} was archived already, and {count} record(s) started in it arrived since; "
                "they stay in the ledger")
    if label not in settled.months:
        return (f"month {label} is not settled: close it (`revshare period close`) and settle it "
                "(`revshare settle`) first")
    if last is not None and last > settled.through_seq:
        return (f"month {label} holds records up to seq {last} that no settled close covers yet (late usage of a "
                f"later month, settled only through seq {settled.through_seq}): settle the following months first")
    if last is not None and last > settled.integrated_seq:
        return (f"month {label} holds records up to seq {last} not yet in the verifiable log "
                f"(at seq {settled.integrated_seq})")
    for name, copied in settled.copies:
        if last is not None and last > copied:
            return (f"month {label} holds records up to seq {last} not yet copied into {name}, which holds seq "
                    f"1..{copied}: let it catch up first")
    return None


def archive_months(ledger: Ledger, before: datetime, out_dir: Path, settled: Settled, *, drop: bool = False,
                   by: str = "", now: datetime | None = None) -> list[ArchivedMonth]:
    """Archive every month before `before` (a month's first instant); see the module docstring.
    All months are checked before any is touched; an empty list: nothing to archive."""
    if ledger.is_sqlite:
        raise ArchiveRefused("this ledger is SQLite, which keeps one table: archiving needs a PostgreSQL ledger "
                             "partitioned by month")
    current = month_of(now or datetime.now(UTC))
    if before > current:
        raise ArchiveRefused(f"month {_label(add_months(before, -1))} has not ended: --before may be at most "
                             f"{_label(current)}")
    with ledger.engine.connect() as conn:
        if not is_partitioned(conn):
            raise ArchiveRefused("usage_records is not partitioned: run `revshare migrate` first")
        months = _candidates(conn, before)
        archived = {str(m) for m in conn.execute(text("SELECT month FROM ledger_archives")).scalars()}
        stats = {m: _stats(conn, "usage_records", m) for m in months}
    for month in months:
        reason = _refusal(_label(month), stats[month], settled, archived)
        if reason:
            raise ArchiveRefused(reason)
    for month in months:
        target = out_dir / f"usage-{_label(month)}.jsonl.gz"
        if target.exists():
            raise ArchiveRefused(f"{target} exists already: archive into another directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_archive_one(ledger, month, out_dir, drop, by) for month in months]


def _archive_one(ledger: Ledger, month: datetime, out_dir: Path, drop: bool, by: str) -> ArchivedMonth:
    label, name = _label(month), partition_name(month)
    with ledger.engine.begin() as conn:  # a month still in the default partition gets its own first
        lock_partitions(conn)
        create_month(conn, month)
    target = out_dir / f"usage-{label}.jsonl.gz"
    partial = target.with_name(target.name + ".partial")
    with ledger.engine.connect() as conn:
        written = _export(conn, name, partial)
    digest = file_sha256(partial)
    with ledger.engine.begin() as conn:
        lock_partitions(conn)
        conn.execute(text(f"ALTER TABLE usage_records DETACH PARTITION {name}"))
        now = _stats(conn, name, month)
        if now != written:
            raise ArchiveRefused(f"records of month {label} arrived while it was exported; run the archive again")
        conn.execute(ledger_archives.insert().values(
            month=label, file=target.name, sha256=digest, records=written[0], first_seq=written[1],
            last_seq=written[2], archived_at=datetime.now(UTC), archived_by=by, dropped=drop))
        if drop:
            conn.execute(text(f"DROP TABLE {name}"))
    os.replace(partial, target)  # the file takes its name once the detach has committed
    return ArchivedMonth(label, target, digest, written[0], written[1], written[2], drop)


def _export(conn: Connection, table: str, path: Path) -> tuple[int, int | None, int | None]:
    """Write the table's rows in seq order; return (count, first seq, last seq) as written."""
    count, first, last = 0, None, None
    result = conn.execution_options(stream_results=True, yield_per=10_000).execute(
        text(f"SELECT {', '.join(_COLUMNS)} FROM {table} ORDER BY seq"))
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        for row in result:
            values = dict(zip(_COLUMNS, row, strict=True))
            for column in _TIMES:
                values[column] = as_utc(values[column]).isoformat()
            out.write(json.dumps(values, sort_keys=True, separators=(",", ":")).encode() + b"\n")
            count, first, last = count + 1, first if first is not None else values["seq"], values["seq"]
        out.close()
        raw.flush()
        os.fsync(raw.fileno())
    return count, first, last


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def archived_records(path: Path) -> Iterator[UsageRecord]:
    """The records of an archive file, in seq order (to prove one against the log: project it)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row: dict[str, Any] = json.loads(line)
            for column in _TIMES:
                row[column] = datetime.fromisoformat(row[column])
            yield record_from_row(row)

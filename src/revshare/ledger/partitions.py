"""Monthly partitions of `usage_records` on PostgreSQL (migration 0012; docs/RELIABILITY.md).

`usage_records` is range-partitioned by `started_at`, one partition per UTC month
(`usage_records_yYYYYmMM`), plus `usage_records_default` for any instant no month partition
covers, so an insert never fails. The gateway creates the partitions of the coming months ahead
(`ensure_partitions`, a background chore); a month whose rows already sit in the default
partition is carved out of it (`create_month`: rows moved, then the table attached), since
PostgreSQL refuses to create a partition whose range the default partition already holds rows of.

Every change takes one transaction-scoped advisory lock, so gateway replicas running the same
chore create each month once. SQLite keeps one table: every function here is a no-op there.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from revshare.ledger.store import Ledger

__all__ = [
    "DEFAULT_PARTITION",
    "MONTHS_AHEAD",
    "MonthPartition",
    "add_months",
    "attached_months",
    "create_month",
    "ensure_partitions",
    "ensure_quietly",
    "is_partitioned",
    "lock_partitions",
    "month_of",
    "parse_month",
    "partition_name",
]

log = logging.getLogger("revshare.ledger")

PARENT = "usage_records"
DEFAULT_PARTITION = "usage_records_default"
MONTHS_AHEAD = 3  # the current month and this many after it always have their own partition
_LOCK_KEY = 0x7265767368617265  # "revshare": one advisory lock for partition maintenance
_NAME = re.compile(r"^usage_records_y(\d{4})m(\d{2})$")
_LABEL = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class MonthPartition:
    """One attached month partition: its first instant and its table name."""

    month: datetime
    name: str

    @property
    def label(self) -> str:
        return f"{self.month.year:04d}-{self.month.month:02d}"

    @property
    def end(self) -> datetime:
        return add_months(self.month, 1)


def month_of(instant: datetime) -> datetime:
    """The first instant (UTC) of the month holding `instant`."""
    utc = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def parse_month(label: str) -> datetime:
    """`YYYY-MM` as the month's first instant; ValueError with the reason otherwise."""
    found = _LABEL.match(label.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise ValueError(f"want a month as YYYY-MM, got {label!r}")
    return datetime(int(found.group(1)), int(found.group(2)), 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"usage_records_y{month.year:04d}m{month.month:02d}"


def is_partitioned(conn: Connection) -> bool:
    """True on a PostgreSQL ledger migrated to 0012 or later."""
    if conn.dialect.name != "postgresql":
        return False
    sql = "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t))"
    return bool(conn.execute(text(sql), {"t": PARENT}).scalar_one())


def attached_months(conn: Connection) -> list[MonthPartition]:
    """The month partitions attached to `usage_records`, oldest first (the default one aside)."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t)"), {"t": PARENT}).scalars()
    months = []
    for name in rows:
        found = _NAME.match(name)
        if found:
            months.append(MonthPartition(datetime(int(found.group(1)), int(found.group(2)), 1, tzinfo=UTC), name))
    return sorted(months, key=lambda p: p.month)


def lock_partitions(conn: Connection) -> None:
    """Serialise partition maintenance across gateway replicas until the transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def _table_exists(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar_one() is True


def create_month(conn: Connection, month: datetime) -> bool:
    """Attach the partition of `month` (moving its rows out of the default partition); False when
    a table of that name already exists (attached, or an archived month kept detached)."""
    name = partition_name(month)
    if _table_exists(conn, name):
        return False
    bounds = {"lo": month, "hi": add_months(month, 1)}
    where = "started_at >= :lo AND started_at < :hi"
    values = f"FOR VALUES FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}')"
    stray = conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE {where})"), bounds).scalar()
    if not stray:
        conn.execute(text(f"CREATE TABLE {name} PARTITION OF {PARENT} {values}"))
        return True
    conn.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    conn.execute(text(f"INSERT INTO {name} SELECT * FROM {DEFAULT_PARTITION} WHERE {where}"), bounds)
    conn.execute(text(f"DELETE FROM {DEFAULT_PARTITION} WHERE {where}"), bounds)
    conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {values}"))
    return True


def ensure_partitions(ledger: Ledger, *, ahead: int = MONTHS_AHEAD, now: datetime | None = None) -> list[str]:
    """Create the partitions of this month and the next `ahead` months that are missing; return
    their names. A no-op on SQLite and on a ledger not yet partitioned."""
    if ledger.is_sqlite:
        return []
    first = month_of(now or datetime.now(UTC))
    created = []
    with ledger.engine.begin() as conn:
        if not is_partitioned(conn):
            return []
        lock_partitions(conn)
        for n in range(ahead + 1):
            month = add_months(first, n)
            if create_month(conn, month):
                created.append(partition_name(month))
    return created


def ensure_quietly(ledger: Ledger, *, ahead: int = MONTHS_AHEAD) -> list[str]:
    """`ensure_partitions` for a background loop: a failure is logged, not raised (rows of a month
    without its partition land in the default partition meanwhile, and are moved later)."""
    try:
        created = ensure_partitions(ledger, ahead=ahead)
    except SQLAlchemyError as exc:
        log.warning("ledger: could not create the coming months' partitions: %s", exc.__class__.__name__)
        return []
    if created:
        log.info("ledger: created partition(s) %s", ", ".join(created))
    return created

"""Settle time for one month among 12 monthly partitions, against the same rows in one table.

`bench/scale.py --settle` runs it. One fresh PostgreSQL database, migrated (so `usage_records`
is partitioned by month), is filled by SQL with `rows` records a month for the 12 months of 2025
(started evenly over the year); the same rows are copied into `usage_flat`, one unpartitioned
table with the indexes the ledger had before migration 0012. Then, in interleaved rounds
(median kept): the settle query of October (`monthend.usage_sums.aggregate_sql`, the whole month
in one statement, as EXPLAIN checks it prunes) on each table, with 3, 6 and 12 months kept
(older months detached from the partitioned table, deleted from a copy of the flat one), and
dropping the oldest month (DETACH + DROP against DELETE).
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql

MONTHS = 12
_COLS = ("seq, id, started_at, ended_at, customer, key_id, model, licensors, engine, endpoint, stream, "
         "prompt_tokens, completion_tokens, cached_tokens, estimated, outcome, price_version, amount, currency, "
         "error_code, appended_at, end_user")


def _fill(conn: Any, rows_per_month: int) -> None:
    total = rows_per_month * MONTHS
    conn.execute(text(f"""
        INSERT INTO usage_records ({_COLS})
        SELECT g, 'rec_b' || g, t, t, 'cust' || (g % 50), 'key_' || (g % 200), 'model' || (g % 4), 'google',
               'local', 'chat.completions', false, 10 + g % 100, 20 + g % 50, 0, false,
               CASE WHEN g % 20 = 0 THEN 'engine_error' ELSE 'ok' END, 'pv1', '0.000001000000', 'USD', '',
               t + interval '1 second', ''
        FROM (SELECT g, timestamptz '2025-01-01 00:00:00+00' + (g - 1) * (interval '365 days' / {total}) AS t
              FROM generate_series(1, {total}) g) s"""))
    conn.execute(text("UPDATE ledger_state SET next_seq = :n WHERE id = 1"), {"n": total + 1})


def _flat(conn: Any, name: str) -> None:
    conn.execute(text(f"CREATE TABLE {name} (LIKE usage_records INCLUDING DEFAULTS)"))
    conn.execute(text(f"INSERT INTO {name} SELECT * FROM usage_records"))
    conn.execute(text(f"ALTER TABLE {name} ADD PRIMARY KEY (seq)"))
    conn.execute(text(f"ALTER TABLE {name} ADD UNIQUE (id)"))
    conn.execute(text(f"CREATE INDEX ON {name} (customer, seq)"))
    conn.execute(text(f"CREATE INDEX ON {name} (started_at)"))
    conn.execute(text(f"ANALYZE {name}"))


def _settle_sql() -> str:
    from revshare.monthend.usage_sums import aggregate_sql
    from revshare.settlement import Period
    from revshare.settlement.period import Window

    window = Window(Period.parse("2025-10"), closed_at=datetime(2025, 11, 3, tzinfo=UTC))
    return str(aggregate_sql(window).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def _time(conn: Any, sql: str) -> float:
    started = time.perf_counter()
    conn.execute(text(sql)).all()
    return time.perf_counter() - started


def settle_bench(admin_url: str, rows_per_month: int, rounds: int = 5) -> list[str]:
    """Run the comparison on a fresh database; return the report's lines."""
    from revshare.ledger.partitions import ensure_partitions
    from revshare.ledger.store import Ledger

    name = f"revshare_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    lines = []
    try:
        ledger = Ledger(url)
        ledger.migrate()
        ensure_partitions(ledger, now=datetime(2025, 1, 1, tzinfo=UTC), ahead=MONTHS - 1)
        started = time.perf_counter()
        with ledger.engine.begin() as conn:
            _fill(conn, rows_per_month)
            conn.execute(text("ANALYZE usage_records"))
            _flat(conn, "usage_flat")
        lines.append(f"settle: {rows_per_month:,} records a month, {MONTHS} months "
                     f"({rows_per_month * MONTHS:,} rows, loaded in {time.perf_counter() - started:.0f} s); "
                     f"October's settle query, median of {rounds} interleaved rounds")
        sql = _settle_sql()
        with ledger.engine.connect() as conn:
            gone = 0
            for kept in (12, 6, 3):
                if kept < MONTHS:  # keep the last `kept` months: older ones detached / deleted
                    with conn.begin():
                        for month in range(gone + 1, MONTHS - kept + 1):
                            conn.execute(text(f"ALTER TABLE usage_records DETACH PARTITION "
                                              f"usage_records_y2025m{month:02d}"))
                        conn.execute(text(f"DELETE FROM usage_flat WHERE started_at < "
                                          f"'2025-{MONTHS - kept + 1:02d}-01 00:00:00+00'"))
                    conn.execute(text("ANALYZE usage_flat"))
                    gone = MONTHS - kept
                parted, flat = [], []
                for _ in range(rounds):
                    parted.append(_time(conn, sql))
                    flat.append(_time(conn, sql.replace("usage_records", "usage_flat")))
                    conn.rollback()
                p, f = statistics.median(parted), statistics.median(flat)
                lines.append(f"  {kept:2d} months kept: partitioned {p * 1e3:8.1f} ms   one table {f * 1e3:8.1f} ms"
                             f"   partitioned/one table x{p / f:.2f}")
        with ledger.engine.connect() as conn:
            with conn.begin():
                conn.execute(text("CREATE TABLE drop_flat AS SELECT * FROM usage_records"))  # the 3 kept months
                conn.execute(text("CREATE INDEX ON drop_flat (started_at)"))
            with conn.begin():
                t0 = time.perf_counter()
                conn.execute(text("DELETE FROM drop_flat WHERE started_at < '2025-11-01 00:00:00+00'"))
                deleted = time.perf_counter() - t0
            with conn.begin():
                t0 = time.perf_counter()
                conn.execute(text("ALTER TABLE usage_records DETACH PARTITION usage_records_y2025m10"))
                conn.execute(text("DROP TABLE usage_records_y2025m10"))
                dropped = time.perf_counter() - t0
        lines.append(f"  drop the oldest month: DETACH + DROP {dropped * 1e3:.1f} ms   DELETE {deleted * 1e3:.1f} ms"
                     f"   x{dropped / deleted:.3f}")
        ledger.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    return lines

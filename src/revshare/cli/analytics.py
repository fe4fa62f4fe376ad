"""`revshare analytics feed|status|verify`: the columnar copy of the usage beside the ledger.

Thin commands over `revshare.analytics`; docs/SETTLEMENT.md ("Analytics store") explains the store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from revshare.cli._common import DEFAULT_CONFIG, ConfigOption, app, catalog_or_exit, fail, ledger_or_exit, out, shown

if TYPE_CHECKING:
    from revshare.config import Catalog

analytics_app = typer.Typer(help="The analytics store: a columnar copy of the usage records (DuckDB) that "
                            "`revshare settle` sums from.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")


def _enabled(config: Path) -> Catalog:
    catalog = catalog_or_exit(config)
    if not catalog.analytics.enabled:
        fail("the analytics store is off ([analytics] enabled = false in the catalog)")
    return catalog


@analytics_app.command("feed")
def feed_command(
    follow: Annotated[bool, typer.Option(
        "--follow", help="Keep feeding: look for new records every [analytics] interval_s until interrupted.",
    )] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Copy the ledger's records after the store's cursor into it, in seq order, exactly once.

    Run it once before `revshare settle`, from cron, or as one long-lived process with --follow
    (one feeder per store: DuckDB has one writer). A crash loses nothing: the next feed resumes.

    Example: revshare analytics feed
    """
    from revshare.analytics.feeder import feed
    from revshare.analytics.store import AnalyticsError, ColumnarStore

    catalog = _enabled(config)
    ledger = ledger_or_exit(catalog)
    path = catalog.analytics_path()
    try:
        while True:
            with ColumnarStore.open(path) as store:  # closed between rounds, so `revshare settle` can read it
                report = feed(ledger, store, batch=catalog.analytics.batch)
            if report.copied or not follow:
                pos = report.position
                out.print(f"copied {report.copied} record(s) in {report.seconds:.2f} s ({report.rate:,.0f}/s); "
                          f"{shown(path)} holds seq 1..{pos.copied_seq}, digest {pos.digest_hex}")
            if not follow:
                return
            time.sleep(catalog.analytics.interval_s)
    except AnalyticsError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@analytics_app.command("status")
def status_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Say what the store holds and how far behind the ledger it is.

    Example: revshare analytics status
    """
    from sqlalchemy import func, select

    from revshare.analytics.store import AnalyticsError, ColumnarStore
    from revshare.ledger.schema import usage_records

    catalog = _enabled(config)
    ledger = ledger_or_exit(catalog)
    path = catalog.analytics_path()
    try:
        with ColumnarStore.open(path, read_only=True) as store:
            pos, size = store.position(), store.size_bytes()
    except AnalyticsError as exc:
        fail(str(exc))
    with ledger.engine.connect() as conn:
        last = int(conn.execute(select(func.coalesce(func.max(usage_records.c.seq), 0))).scalar_one())
    per = f", {size / pos.records:.1f} bytes per record" if pos.records else ""
    out.print(f"{shown(path)}: seq 1..{pos.copied_seq}, digest {pos.digest_hex}, {size:,} bytes{per}; the ledger "
              f"is at seq {last} ({max(0, last - pos.copied_seq)} record(s) behind)")


@analytics_app.command("verify")
def verify_command(
    against_ledger: Annotated[bool, typer.Option(
        "--against-ledger", help="Also recompute the digest from the ledger's records (reads them all).")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Recount the store's rows and recompute their digest; exit 1 if they disagree with its cursor.

    Example: revshare analytics verify --against-ledger
    """
    from revshare.analytics.feeder import check_same_ledger, ledger_digest
    from revshare.analytics.store import AnalyticsError, ColumnarStore

    catalog = _enabled(config)
    ledger = ledger_or_exit(catalog)
    path = catalog.analytics_path()
    try:
        with ColumnarStore.open(path, read_only=True) as store:
            check = store.check()
    except AnalyticsError as exc:
        fail(str(exc))
    pos = check.position
    problems = list(check.problems)
    other = check_same_ledger(ledger, pos)
    if other:
        problems.append(other)
    elif against_ledger:
        rows, digest = ledger_digest(ledger, pos.copied_seq)
        if (rows, digest) != (pos.records, pos.digest):
            problems.append(f"the ledger's seq 1..{pos.copied_seq} give {rows} rows, digest {digest:016x}; "
                            f"the store's cursor says {pos.records}, {pos.digest_hex}")
    if problems:
        fail(f"{shown(path)} does not hold exactly seq 1..{pos.copied_seq}: " + "; ".join(problems))
    also = " and equal to the ledger's" if against_ledger else ""
    out.print(f"{shown(path)}: seq 1..{pos.copied_seq}, {check.counted} rows, digest {pos.digest_hex}: "
              f"recomputed{also}, ok")

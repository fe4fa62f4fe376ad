"""`revshare ledger partitions|archive`: the monthly partitions of a PostgreSQL ledger.

Thin commands over `revshare.ledger.partitions` and `revshare.ledger.archive`; docs/RELIABILITY.md
("A ledger partitioned by month") explains them.
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from revshare.cli._common import DEFAULT_CONFIG, ConfigOption, app, catalog_or_exit, fail, ledger_or_exit, out, shown

if TYPE_CHECKING:
    from revshare.config import Catalog
    from revshare.ledger.archive import Settled
    from revshare.ledger.store import Ledger

ledger_app = typer.Typer(help="The ledger's monthly partitions (PostgreSQL): create ahead, archive settled months.",
                         no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


def _copies(ledger: Ledger, catalog: Catalog) -> tuple[tuple[str, int], ...]:
    """The copies that read the ledger in seq order, and the last seq each holds: the usage
    rollups (folded by the gateway), and the analytics store when it is on and exists."""
    from revshare.analytics.store import AnalyticsError, ColumnarStore
    from revshare.reporting.fold import folded_seq

    copies = [("the usage rollups (the gateway folds them)", folded_seq(ledger))]
    path = catalog.analytics_path()
    if catalog.analytics.enabled and path.exists():
        try:
            with ColumnarStore.open(path, read_only=True) as store:
                copies.append(("the analytics store (run `revshare analytics feed`)", store.position().copied_seq))
        except AnalyticsError as exc:
            fail(str(exc))
    return tuple(copies)


def _settled(ledger: Ledger, catalog: Catalog) -> Settled:
    """What the month-end and the log say: settled months, the seq they cover, the log's cursor."""
    from revshare.ledger.archive import Settled
    from revshare.logstore.tree_store import LogReader
    from revshare.monthend.periods import closed_periods

    through = 0
    months = set()
    unsettled_before = False
    for closed in closed_periods(ledger):  # oldest first: the seq covered stops at the first unsettled close
        if closed.settled_at is None:
            unsettled_before = True
            continue
        months.add(closed.period.label)
        if not unsettled_before:
            through = closed.last_seq
    return Settled(frozenset(months), through, LogReader(ledger).integrated_seq(), _copies(ledger, catalog))


@ledger_app.command("partitions")
def partitions_command(
    ahead: Annotated[int, typer.Option("--ahead", min=0, max=120,
                                       help="Months after the current one that get their partition.")] = 3,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create the partitions of this month and the next --ahead months, and list them.

    The gateway does this itself every hour; run it by hand after a long stop.

    Example: revshare ledger partitions --ahead 6
    """
    from revshare.ledger.partitions import attached_months, ensure_partitions, is_partitioned

    ledger = ledger_or_exit(catalog_or_exit(config))
    if ledger.is_sqlite:
        fail("this ledger is SQLite, which keeps one table: partitions exist on a PostgreSQL ledger only")
    created = ensure_partitions(ledger, ahead=ahead)
    with ledger.engine.connect() as conn:
        months = attached_months(conn) if is_partitioned(conn) else []
    out.print(f"created {len(created)} partition(s); attached: " + (", ".join(p.label for p in months) or "none"))


@ledger_app.command("archive")
def archive_command(
    before: Annotated[str, typer.Option("--before", metavar="YYYY-MM",
                                        help="Archive every month before this one.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory the month files are written to.")] = Path("archive"),
    drop: Annotated[bool, typer.Option("--drop/--keep",
                                       help="Drop the detached partition (default: keep it, a plain table).")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Export closed, settled months to usage-YYYY-MM.jsonl.gz, record each file's SHA-256 in the
    ledger, and detach the month's partition (dropped with --drop).

    Refused, changing nothing, when a month has not ended, is not closed and settled, holds late
    usage a later settled close does not cover yet, or is not yet in the verifiable log.

    Example: revshare ledger archive --before 2026-02 --out /srv/revshare/archive --drop
    """
    from revshare.ledger.archive import ArchiveRefused, archive_months
    from revshare.ledger.partitions import parse_month

    try:
        month = parse_month(before)
    except ValueError as exc:
        fail(f"--before: {exc}", 2)
    catalog = catalog_or_exit(config)
    ledger = ledger_or_exit(catalog)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    try:
        done = archive_months(ledger, month, out_dir, _settled(ledger, catalog), drop=drop,
                              by=f"{user}@{socket.gethostname()}")
    except ArchiveRefused as exc:
        fail(str(exc))
    if not done:
        out.print(f"nothing to archive before {before}")
    for m in done:
        seqs = f"seq {m.first_seq}..{m.last_seq}" if m.records else "no records"
        out.print(f"archived {m.month}: {m.records} record(s), {seqs}, {shown(m.file)} sha256 {m.sha256}"
                  f" ({'dropped' if m.dropped else 'detached, kept'})")

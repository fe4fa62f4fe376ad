"""`revshare period close|list`, `revshare credit`, `revshare settle`, `revshare export statement-bundle`.

The month-end workflow: thin commands over `revshare.monthend.periods`, `.credits`, `.settle_run` and
`revshare.monthend.statement_bundle`; docs/SETTLEMENT.md and docs/VERIFY.md walk through them.
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from revshare.cli._common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    catalog_or_exit,
    err,
    fail,
    labelled,
    ledger_or_exit,
    out,
    shown,
)
from revshare.instants import format_instant
from revshare.settlement import Period
from revshare.tlog import TlogError

period_app = typer.Typer(help="Close settlement periods (calendar months, UTC) and list them.", no_args_is_help=True)
app.add_typer(period_app, name="period")
export_app = typer.Typer(help="Export what a licensor needs to verify its statements offline.", no_args_is_help=True)
app.add_typer(export_app, name="export")


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _period(text: str) -> Period:
    try:
        period = Period.parse(text)
    except ValueError as exc:
        fail(str(exc))
    try:
        _ = (period.start, period.end)  # a month the calendar holds, with a month after it
    except (ValueError, OverflowError):
        fail(f"period {text!r} is out of range: from 0001-01 to 9999-11")
    return period


@period_app.command("close")
def period_close(
    period: Annotated[str, typer.Argument(help="The month to close, YYYY-MM (UTC).")],
    early: Annotated[bool, typer.Option(
        "--early", help="Close the current month now, before it ends; its records appended later "
        "become late usage of the next month.")] = False,
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Freeze a period: what it settles never changes after this.

    Records of it that arrive later, credits and refunds land in the next period as dated adjustments.

    Periods close in order, once each, after the month has ended. The close then integrates the
    logs and signs each log's checkpoint at its cut-off: the checkpoints its statements name.

    Example: revshare period close 2026-01
    """
    from revshare.logstore.integrator import IntegrationError, checkpoints_at_seq, integrate
    from revshare.monthend.periods import SettlementLedgerError, close_period

    p = _period(period)
    catalog = catalog_or_exit(config)
    ledger = ledger_or_exit(catalog)
    try:
        closed = close_period(ledger, p, closed_by=_operator(), early=early, note=note)
    except SettlementLedgerError as exc:
        fail(str(exc))
    how = " early" if closed.early else ""
    out.print(f"closed {closed.period.label}{how}: cut-off {format_instant(closed.cutoff)}, records up to seq "
              f"{closed.last_seq}.")
    try:
        integrate(ledger, catalog)
        signed = checkpoints_at_seq(ledger, catalog, closed.last_seq)
    except (IntegrationError, TlogError, OSError) as exc:
        fail(f"{closed.period.label} is closed, but its checkpoints are not signed: {exc}. Fix the log (revshare "
             "log audit), then `revshare settle` signs them")
    for _, signed_cp in sorted(signed.items()):
        cp = signed_cp.checkpoint
        out.print(f"  checkpoint {cp.origin}: size {cp.size}, root {cp.root_hash.hex()}")
    out.print(f"Next: revshare settle --period {closed.period.label} --out .revshare/statements/{closed.period.label}")


@period_app.command("list")
def period_list(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List closed periods, their cut-offs and whether they are settled.

    Example: revshare period list
    """
    from revshare.monthend.periods import closed_periods, next_open_period

    ledger = ledger_or_exit(catalog_or_exit(config))
    rows = closed_periods(ledger)
    table = Table("period", "cut-off (UTC)", "last seq", "early", "closed by", "settled", "note",
                  title=f"{len(rows)} closed period(s)")
    for c in rows:
        table.add_row(c.period.label, f"{c.cutoff:%Y-%m-%d %H:%M:%S}", str(c.last_seq), "yes" if c.early else "",
                      c.closed_by, f"{c.settled_at:%Y-%m-%d %H:%M}" if c.settled_at else "no", c.note)
    out.print(table)
    nxt = next_open_period(ledger)
    out.print(f"next period to close: {nxt.label}" if nxt else "no period closed yet")


@app.command()
def credit(
    customer: Annotated[str, typer.Option(help="The customer's name in the catalog.")],
    amount: Annotated[str, typer.Option(help="A decimal amount > 0, e.g. 12.50 (at most the currency's minor unit).")],
    reason: Annotated[str, typer.Option(help="Shown on the invoice and the statement.")],
    kind: Annotated[str, typer.Option(help="credit, refund or discount (all lower a net basis).")] = "credit",
    model: Annotated[str | None, typer.Option(help="The model it concerns; only its revenue is lowered.")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code [default: the currency of the prices].")] = None,
    refers_to: Annotated[str | None, typer.Option(help="The period it corrects, YYYY-MM (informational).")] = None,
    reference: Annotated[str | None, typer.Option(
        "--id", help="Your reference for this credit (a ticket number): granted once per reference; "
        "running the command again answers with the credit already granted.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Grant a credit, refund or discount, dated now; it lands in the next period to close.

    Granted once: with --id, a repeat is answered with the credit already granted; without it, an
    identical credit granted in the last 10 minutes is refused as a retry. The credit is printed
    only once it is written, and every error comes before anything is written.

    Example: revshare credit --customer acme --amount 12.50 --reason "outage 2026-01-14" --kind refund --id T-1042
    """
    from revshare.monthend.credits import grant_credit_once
    from revshare.monthend.periods import SettlementLedgerError

    catalog = catalog_or_exit(config)
    ledger = ledger_or_exit(catalog)
    try:
        granted = grant_credit_once(ledger, catalog, customer=customer, amount=amount, reason=reason, kind=kind,
                                    model=model, currency=currency, refers_to=refers_to, created_by=_operator(),
                                    reference=reference)
    except SettlementLedgerError as exc:
        fail(str(exc))
    c = granted.credit
    lands = f"period {granted.lands_in.label}" if granted.lands_in else "the first period you close"
    ref = f" (--id {granted.reference})" if granted.reference else ""
    what = f"{c.kind} {c.id}{ref}: {c.amount} {c.currency} to {c.customer} ({shown(c.reason)}); it lands in {lands}"
    if granted.repeated:
        out.print(f"already granted: {what}; granted at {format_instant(c.date)}, nothing written now")
    else:
        out.print(what)


@app.command(name="settle")
def settle_command(
    period: Annotated[str, typer.Option(help="The closed period to settle, YYYY-MM.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where the statements and invoices are written.")],
    usage: Annotated[str, typer.Option(
        help="Where to sum the usage: auto (the analytics store when it holds every record up to the close, "
        "else the ledger), columnar (the store, or refuse) or ledger. The files are the same.")] = "auto",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Settle a closed period: licensors' statements and customers' invoices (JSON, CSV, HTML).

    Usage is summed in SQL on the analytics store (`revshare analytics feed`) when it is current up to
    the close, else on the ledger; the command says which. Balances and the statement chain carry on
    from the previous period.

    Running it again writes byte-identical files and changes nothing.

    Each statement names its licensor's log checkpoints (this close's and the previous one's) and
    leaf range, and is signed by the host key (`<statement>.sig` beside its JSON).

    Example: revshare settle --period 2026-01 --out .revshare/statements/2026-01
    """
    from revshare.logstore.identity import load_identity
    from revshare.logstore.integrator import IntegrationError
    from revshare.monthend.periods import SettlementLedgerError, closed_period
    from revshare.monthend.settle_run import UsageChoice, settle_period
    from revshare.monthend.statement_bundle import statement_logs

    p = _period(period)
    if usage not in ("auto", "columnar", "ledger"):
        fail(f"--usage {shown(usage)}: want auto, columnar or ledger")
    catalog = catalog_or_exit(config)
    ledger = ledger_or_exit(catalog)
    closed = closed_period(ledger, p)
    if closed is None:
        fail(f"period {p.label} is not closed: run `revshare period close {p.label}` first")
    try:
        identity = load_identity(catalog)
        refs = statement_logs(ledger, catalog, closed, closed_period(ledger, p.previous()), identity=identity)
    except (IntegrationError, TlogError, OSError) as exc:
        fail(f"cannot bind the statements to the log: {exc}")
    columns = (TextColumn("reading usage of " + p.label), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("read", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            run = settle_period(ledger, catalog, p, out_dir, settled_by=_operator(), log=refs, signer=identity.key,
                                progress=progress, usage=cast("UsageChoice", usage))
        except SettlementLedgerError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write the statements to {shown(out_dir)}: {exc}")
    res = run.result
    source = "the analytics store" if run.usage.path == "columnar" else "the ledger"
    out.print(f"usage read from {source}: {shown(run.usage.note)}", soft_wrap=True)
    for w in run.warnings:
        err.print(labelled("warning:", "yellow", f"[{w.code}] {w.message}"), soft_wrap=True)
    statements = Table("licensor", "contract", "no.", "gross", "basis", "earned", "guarantee", "true-up", "recouped",
                       "amount due", title=f"Statements {p.label}")
    for s in res.statements:
        t = s.totals
        statements.add_row(s.licensor, s.contract, str(s.number), f"{t.gross}", f"{t.basis}", f"{t.earned}",
                           f"{t.minimum_guarantee}", f"{t.true_up}", f"{t.recouped}", f"{t.amount_due} {s.currency}")
    invoices = Table("customer", "lines", "subtotal", "credits", "total due", title=f"Invoices {p.label}")
    for i in res.invoices:
        invoices.add_row(i.customer, str(len(i.lines)), f"{i.subtotal}", f"{i.credits_total}",
                         f"{i.total_due} {i.currency}")
    host = Table("currency", "gross", "credits", "licensors", "host net", title="Host")
    for h in res.summaries:
        host.add_row(h.currency, f"{h.gross}", f"{h.credits}", f"{h.licensors_due}", f"{h.host_net}")
    # Pipes and logs get a width that fits the figures (rich would squeeze them into 80 columns).
    screen = out if out.is_terminal else Console(file=out.file, width=140, highlight=False, markup=False)
    screen.print(statements, invoices, host)
    again = " (already settled: files re-created identical to those issued; nothing stored)" if run.rerun else ""
    out.print(f"{run.requests} charged request(s) in {run.aggregates} group(s); wrote {len(run.files)} file(s) "
              f"to {shown(out_dir)}{again}")


@export_app.command("statement-bundle")
def export_statement_bundle(
    period: Annotated[str, typer.Option(help="The settled period, YYYY-MM.")],
    licensor: Annotated[str, typer.Option(help="The licensor id whose statements to export.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The bundle directory to write.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Write a licensor's statement bundle: everything `revshare verify statement` needs, offline.

    The signed statements, the previous statements they chain to, both checkpoints, the consistency
    proof, the range's leaves (JSONL), the carried leaves with inclusion proofs, the terms and the host key.
    The period is settled again on the side first: the bundle is always that of the issued statements.

    Example: revshare export statement-bundle --period 2026-01 --licensor google --out bundle/
    """
    from revshare.logstore.integrator import IntegrationError
    from revshare.monthend.periods import SettlementLedgerError
    from revshare.monthend.statement_bundle import export_bundle

    p = _period(period)
    catalog = catalog_or_exit(config)
    ledger = ledger_or_exit(catalog)
    try:
        written = export_bundle(ledger, catalog, p, licensor, out_dir, exported_by=_operator())
    except (SettlementLedgerError, IntegrationError, TlogError, OSError) as exc:
        fail(str(exc))
    out.print(f"wrote {len(written)} file(s) to {shown(out_dir)}: " + ", ".join(w.name for w in written))
    out.print(f"licensor: revshare verify statement {shown(out_dir)} --key HELD.vkey (its copy of `revshare log key`)")

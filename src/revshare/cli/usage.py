"""`revshare usage`: the ledger's records, as a table or JSON lines."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from revshare.cli._common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    catalog_or_exit,
    ledger_or_exit,
    out,
)

SEQ_MAX = 2**63 - 1  # the ledger's seq is a signed 64-bit integer


@app.command()
def usage(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one record each.")] = False,
    customer: Annotated[str | None, typer.Option(help="Only this customer's records.")] = None,
    after_seq: Annotated[int, typer.Option(help="Only records after this seq.", min=0, max=SEQ_MAX)] = 0,
    limit: Annotated[int | None, typer.Option(help="At most this many records.", min=0, max=SEQ_MAX)] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List usage records in ledger order.

    Example: revshare usage --json --customer demo
    """
    records = ledger_or_exit(catalog_or_exit(config)).records(customer=customer, after_seq=after_seq, limit=limit)
    if as_json:
        for r in records:
            print(json.dumps(r.to_json()))
        return
    rows = [{"seq": str(r.seq), "id": r.id, "customer": r.customer, "model": r.model, "in": str(r.prompt_tokens),
             "out": str(r.completion_tokens) + ("~" if r.estimated else ""), "outcome": r.outcome.value,
             "amount": f"{r.amount:f} {r.currency}", "price version": r.price_version} for r in records]
    shown_columns, hidden = fit_columns(rows, out.width)
    table = Table(*shown_columns, title=f"{len(records)} usage record(s)")
    for row in rows:
        table.add_row(*(row[c] for c in shown_columns))
    out.print(table)
    if hidden:
        out.print(f"not shown at this width: {', '.join(hidden)} (a wider terminal, or --json, shows every field)")


# Dropped first when the terminal is narrow: the columns a reader can most easily do without.
COLUMNS = ("seq", "id", "customer", "model", "in", "out", "outcome", "amount", "price version")
DROP_ORDER = ("price version", "outcome", "id", "in", "seq")


def fit_columns(rows: list[dict[str, str]], width: int) -> tuple[list[str], list[str]]:
    """The columns that fit `width` whole (a cell is never cut), in table order, and those left out.

    A rich table's column takes its widest cell plus 3 (padding and a border), plus 1 for the
    table's last border."""
    need = {c: max([len(c), *(len(row[c]) for row in rows)]) + 3 for c in COLUMNS}
    shown = list(COLUMNS)
    for column in DROP_ORDER:
        if sum(need[c] for c in shown) + 1 <= width:
            break
        shown.remove(column)
    return shown, [c for c in COLUMNS if c not in shown]

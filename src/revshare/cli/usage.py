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
    table = Table("seq", "id", "customer", "model", "in", "out", "outcome", "amount", "price version",
                  title=f"{len(records)} usage record(s)")
    for r in records:
        table.add_row(str(r.seq), r.id, r.customer, r.model, str(r.prompt_tokens),
                      str(r.completion_tokens) + ("~" if r.estimated else ""), r.outcome.value,
                      f"{r.amount:f} {r.currency}", r.price_version)
    out.print(table)

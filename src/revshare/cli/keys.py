"""`revshare keys`: create, list and revoke customers' API keys."""

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
    fail,
    ledger_or_exit,
    out,
)
from revshare.instants import format_instant

keys_app = typer.Typer(help="Create, list and revoke customers' API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    customer: Annotated[str, typer.Option(help="The customer's name in the catalog.")],
    label: Annotated[str, typer.Option(help="A note to tell keys apart.")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create an API key; the key is printed once, as the last line, and only its hash is kept.

    Example: revshare keys create --customer acme --label ci
    """
    catalog = catalog_or_exit(config)
    if catalog.customer(customer) is None:
        known = ", ".join(c.name for c in catalog.customers) or "none"
        fail(f"{catalog.source}: no customer named {customer!r} in [[customers]] (known: {known})")
    from revshare.ledger.store import LedgerError

    try:
        key, secret = ledger_or_exit(catalog).create_key(customer, label)
    except LedgerError as exc:
        fail(str(exc))
    out.print(f"created {key.key_id} for customer {customer!r}; store the key now, it is not shown again:")
    print(secret)


@keys_app.command("list")
def keys_list(
    customer: Annotated[str | None, typer.Option(help="Only this customer's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List API keys (ids and owners; never the secrets)."""
    rows = ledger_or_exit(catalog_or_exit(config)).keys(customer)
    if as_json:
        for k in rows:
            print(json.dumps({"key_id": k.key_id, "customer": k.customer, "label": k.label,
                              "created_at": format_instant(k.created_at),
                              "revoked_at": format_instant(k.revoked_at) if k.revoked_at else None}))
        return
    table = Table("key id", "customer", "label", "created", "revoked")
    for k in rows:
        table.add_row(k.key_id, k.customer, k.label, f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id, e.g. key_3f2a9c01b2d4.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Revoke a key; a running gateway stops accepting it within seconds."""
    if ledger_or_exit(catalog_or_exit(config)).revoke_keys([key_id]) == 0:
        fail(f"no live key {key_id!r}")
    out.print(f"revoked {key_id}")

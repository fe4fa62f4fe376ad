"""`revshare keys`: create, list, change and revoke customers' API keys.

Each change goes through `revshare.accounts.store.Accounts`, so it is audited (`revshare audit`)
and moves the accounts' version: every running gateway sees it within `server.accounts_refresh_s`.
A key's own limits hold on top of its customer's.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from revshare.accounts.errors import AccountError
from revshare.cli._common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    catalog_or_exit,
    fail,
    out,
)
from revshare.cli.customers import (
    LIMIT_FIELDS,
    BudgetOption,
    BudgetPeriodOption,
    ConcurrentOption,
    RpmOption,
    TpmOption,
    accounts_or_exit,
    cli_actor,
    limit_fields,
    limits_json,
    limits_text,
    refuse,
    say,
    unknown_customer,
)
from revshare.instants import format_instant

keys_app = typer.Typer(help="Create, list, change and revoke customers' API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

KeyIdArgument = Annotated[str, typer.Argument(metavar="KEY_ID", help="The key id, e.g. key_3f2a9c01b2d4.")]


@keys_app.command("create")
def keys_create(
    customer: Annotated[str, typer.Option(help="The customer's name (in the catalog or the database).")],
    label: Annotated[str, typer.Option(help="A note to tell keys apart.")] = "",
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    budget_period: BudgetPeriodOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create an API key; the key is printed once, as the last line, and only its hash is kept.

    The limit options set the key's own limits, on top of its customer's.

    Example: revshare keys create --customer acme --label ci --rpm 30 --budget 5.00 --budget-period day
    """
    from revshare.accounts.store import limits_of

    catalog = catalog_or_exit(config)
    fields = limit_fields(rpm, tpm, concurrent, budget, budget_period)
    try:
        limits = limits_of(fields) if fields else None
    except AccountError as exc:
        refuse(exc, catalog)
    accounts = accounts_or_exit(catalog)
    try:
        key, secret = accounts.create_key(customer, label, limits, cli_actor())
    except AccountError as exc:
        if exc.kind == "not_found" and exc.param == "customer":
            unknown_customer(customer, catalog, accounts.load())
        refuse(exc, catalog)
    own = f" (its own limits: {limits_text(limits)})" if limits is not None and limits_text(limits) else ""
    say(f"created {key.key_id} for customer {customer!r}{own}; store the key now, it is not shown again:")
    print(secret)


@keys_app.command("list")
def keys_list(
    customer: Annotated[str | None, typer.Option(help="Only this customer's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List API keys (ids, owners and their own limits; never the secrets)."""
    accounts = accounts_or_exit(catalog_or_exit(config))
    rows = accounts.ledger.keys(customer)
    directory = accounts.load()
    if as_json:
        for k in rows:
            print(json.dumps({"key_id": k.key_id, "customer": k.customer, "label": k.label,
                              "created_at": format_instant(k.created_at),
                              "revoked_at": format_instant(k.revoked_at) if k.revoked_at else None,
                              "limits": limits_json(directory.key_limit(k.key_id))}))
        return
    # The id is what one copies: never wrapped or cut; a date may wrap before its time, never be cut.
    table = Table(Column("key id", no_wrap=True, min_width=16), Column("customer", overflow="fold"),
                  Column("label", overflow="fold"), Column("created", min_width=10), Column("revoked", min_width=10),
                  Column("limits", overflow="fold"))
    for k in rows:
        table.add_row(k.key_id, Text(k.customer), Text(k.label), f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
                      Text(limits_text(directory.key_limit(k.key_id))))
    out.print(table)


@keys_app.command("update")
def keys_update(
    key_id: KeyIdArgument,
    label: Annotated[str | None, typer.Option(help="A new label.")] = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    budget_period: BudgetPeriodOption = None,
    clear_limits: Annotated[bool, typer.Option(
        "--clear-limits", help="Remove the key's own limits: only its customer's hold.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Relabel a live key or change its own limits: the limit options given change, the others keep
    their value; --clear-limits removes them all.

    Example: revshare keys update key_3f2a9c01b2d4 --rpm 10 --budget 2.00 --budget-period day
    """
    from revshare.accounts.store import limits_of

    catalog = catalog_or_exit(config)
    fields = limit_fields(rpm, tpm, concurrent, budget, budget_period)
    if fields and clear_limits:
        fail("give either --clear-limits or limit options, not both")
    if not fields and not clear_limits and label is None:
        fail("nothing to change: give --label, a limit option or --clear-limits (revshare keys update --help)")
    accounts = accounts_or_exit(catalog)
    try:
        key = accounts.key(key_id)
        before = accounts.load().key_limit(key_id)
        limits = None
        if fields:  # on top of the key's own limits, so that only those given change
            limits = limits_of({**(before.model_dump(include=set(LIMIT_FIELDS)) if before else {}), **fields})
        updated = accounts.update_key(key_id, cli_actor(), label=label, limits=limits, clear_limits=clear_limits)
    except AccountError as exc:
        refuse(exc, catalog)
    after = accounts.load().key_limit(key_id)
    changed = updated.label != key.label or limits_json(after) != limits_json(before)
    own = limits_text(after) or "none (its customer's only)"
    say(f"{'updated' if changed else 'no change to'} {key_id}: label {updated.label!r}, its own limits: {own}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: KeyIdArgument,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Revoke a key; every running gateway stops accepting it within seconds."""
    catalog = catalog_or_exit(config)
    try:
        accounts_or_exit(catalog).revoke_key(key_id, cli_actor())
    except AccountError as exc:
        if exc.kind not in ("not_found", "conflict"):
            refuse(exc, catalog)
        fail(f"no live key {key_id!r}" + (" (it was revoked before)" if exc.kind == "conflict" else ""))
    say(f"revoked {key_id}")

"""`revshare customers` and `revshare audit`: the customers kept in the ledger database, and the
append-only trail of every change to them and to their keys.

Thin, over `revshare.accounts.store.Accounts`: options become the fields it takes, and its
refusals (`AccountError`) one `error:` line naming the option. Every command first writes the
catalog's customers into the database, as `revshare serve` does at start (the catalog wins), and
each change is audited as `cli:<user>` via `cli`. `keys` shares the helpers marked public here.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.text import Text

from revshare.accounts.errors import AccountError
from revshare.cli._common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    catalog_or_exit,
    err,
    fail,
    ledger_or_exit,
    out,
    shown,
)
from revshare.config import Catalog
from revshare.config.sections import Limits
from revshare.instants import format_instant

if TYPE_CHECKING:  # the store needs the server extras; it is imported when a command runs
    from revshare.accounts.directory import Account, Directory
    from revshare.accounts.store import Accounts, Actor, AuditEvent

__all__ = [
    "LIMIT_FIELDS",
    "BudgetOption",
    "BudgetPeriodOption",
    "ConcurrentOption",
    "RpmOption",
    "TpmOption",
    "accounts_or_exit",
    "cli_actor",
    "limit_fields",
    "limits_json",
    "limits_text",
    "refuse",
    "say",
    "unknown_customer",
]

customers_app = typer.Typer(help="Create, change, suspend and list customers kept in the ledger database.",
                            no_args_is_help=True)
app.add_typer(customers_app, name="customers")

COUNT_MAX = 2**63 - 1  # what the admin API accepts, and a signed 64-bit integer holds
SEQ_MAX = 2**63 - 1
# A plain decimal, as the admin API takes it: no sign, exponent, NaN or float.
AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,12})?")
GLOB_MAX, DESCRIPTION_MAX, KNOWN_SHOWN = 128, 1000, 20

# The option that sets each field, to name it in an error.
OPTIONS = {"requests_per_minute": "--rpm", "tokens_per_minute": "--tpm", "max_concurrent": "--concurrent",
           "budget": "--budget", "budget_period": "--budget-period", "models": "--models",
           "description": "--description", "name": "NAME", "label": "--label", "customer": "--customer",
           "key_id": "KEY_ID"}
LIMIT_FIELDS = frozenset(Limits.model_fields)

RpmOption = Annotated[int | None, typer.Option("--rpm", help="Requests per minute, at least 1.")]
TpmOption = Annotated[int | None, typer.Option("--tpm", help="Tokens (prompt and completion) per minute, at least 1.")]
ConcurrentOption = Annotated[int | None, typer.Option("--concurrent", help="Requests in flight at once, at least 1.")]
BudgetOption = Annotated[str | None, typer.Option(
    "--budget", metavar="AMOUNT", help="Most to spend per budget period, a decimal in the price currency: 250.00.")]
BudgetPeriodOption = Annotated[str | None, typer.Option(
    "--budget-period", metavar="day|month|total", help="The budget's period; total never resets (prepaid credit) "
    "[default: month].")]


# shared with `revshare keys` ---------------------------------------------------------------------

def accounts_or_exit(catalog: Catalog) -> Accounts:
    """The accounts in the catalog's ledger, with the catalog's customers written in first."""
    ledger = ledger_or_exit(catalog)  # exits with an install hint when the server extras are missing
    from revshare.accounts.store import Accounts, Actor

    accounts = Accounts(ledger)
    try:
        accounts.import_catalog(catalog, Actor(shown(catalog.source)[-200:] or "catalog", "catalog"))
    except AccountError as exc:
        refuse(exc, catalog)
    return accounts


def cli_actor() -> Actor:
    """Who changes accounts from this command line: `cli:<login name>`, or `cli` when none is known."""
    from revshare.accounts.store import ACTOR_MAX, Actor

    try:
        name = f"cli:{getpass.getuser()}"
    except (KeyError, OSError, ImportError):  # no login name in the environment or the user database
        name = "cli"
    return Actor(name if name.isprintable() and len(name) <= ACTOR_MAX else "cli", "cli")


def limit_fields(rpm: int | None, tpm: int | None, concurrent: int | None, budget: str | None,
                 budget_period: str | None) -> dict[str, Any]:
    """The limit options given, as `Limits` fields (those not given are left out); bad ones exit."""
    given: dict[str, Any] = {"requests_per_minute": rpm, "tokens_per_minute": tpm, "max_concurrent": concurrent}
    for field, value in given.items():
        if value is not None and not 1 <= value <= COUNT_MAX:
            fail(f"{OPTIONS[field]} ({field}): must be a whole number from 1 to {COUNT_MAX}, got {value}")
    if budget is not None and not AMOUNT.fullmatch(budget):
        fail(f"--budget (budget): {shown(repr(budget))} is not a decimal amount such as 250.00 "
             "(digits, at most 12 after the point)")
    given.update(budget=budget, budget_period=budget_period)
    return {field: value for field, value in given.items() if value is not None}


def limits_json(limits: Limits | None) -> dict[str, Any] | None:
    """Limits as the admin API shows them: the budget as a string, never a float."""
    if limits is None:
        return None
    return {"requests_per_minute": limits.requests_per_minute, "tokens_per_minute": limits.tokens_per_minute,
            "max_concurrent": limits.max_concurrent,
            "budget": None if limits.budget is None else str(limits.budget), "budget_period": limits.budget_period}


def limits_text(limits: Limits | None) -> str:
    """`rpm 60, tpm 20000, concurrent 4, budget 250.00/month`; empty when nothing is limited."""
    if limits is None:
        return ""
    parts = [f"{label} {value}" for label, value in (
        ("rpm", limits.requests_per_minute), ("tpm", limits.tokens_per_minute), ("concurrent", limits.max_concurrent))
        if value is not None]
    if limits.budget is not None:
        parts.append(f"budget {limits.budget}/{limits.budget_period}")
    return ", ".join(parts)


def say(message: str) -> None:
    """Print one line exactly as written: neither markup nor `:emoji:` codes are read in it."""
    out.print(Text(message))


def refuse(exc: AccountError, catalog: Catalog) -> NoReturn:
    """A refusal of the store as one `error:` line, naming the option of a bad field."""
    if exc.kind == "managed_by_catalog":
        fail(f"{shown(catalog.source)}: {exc.message}")
    field = (exc.param or "").split(".")[0]
    if exc.kind == "invalid" and field in OPTIONS:
        fail(f"{OPTIONS[field]} ({field}): {exc.message.removeprefix(f'{exc.param}: ')}")
    fail(exc.message)


def unknown_customer(name: str, catalog: Catalog, directory: Directory) -> NoReturn:
    """No customer of that name: list the known ones, the catalog's first, in its order."""
    names = [c.name for c in catalog.customers]
    names += sorted(set(directory.accounts) - set(names))
    known = ", ".join(names[:KNOWN_SHOWN]) or "none"
    if len(names) > KNOWN_SHOWN:
        known += f" and {len(names) - KNOWN_SHOWN} more"
    fail(f"no customer named {name!r} (known: {known}); add one to [[customers]] in {shown(catalog.source)} "
         "or with revshare customers create")


# revshare customers ----------------------------------------------------------------------------

ModelsOption = Annotated[list[str] | None, typer.Option(
    "--models", metavar="GLOB", help="A model the customer may call, a glob such as gemma-*; repeat for more "
    "[default on create: *].")]
DescriptionOption = Annotated[str | None, typer.Option(help="A note about the customer.")]
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The customer's name, e.g. acme.")]


def _customer_fields(models: list[str] | None, description: str | None, rpm: int | None, tpm: int | None,
                     concurrent: int | None, budget: str | None, budget_period: str | None) -> dict[str, Any]:
    fields = limit_fields(rpm, tpm, concurrent, budget, budget_period)
    if models is not None:
        if not models or any(not 1 <= len(glob) <= GLOB_MAX or not glob.isprintable() for glob in models):
            fail(f"--models (models): each glob is 1 to {GLOB_MAX} printable characters")
        fields["models"] = models
    if description is not None:
        if len(description) > DESCRIPTION_MAX:
            fail(f"--description (description): at most {DESCRIPTION_MAX} characters, got {len(description)}")
        fields["description"] = description
    return fields


def _summary(account: Account) -> str:
    c = account.customer
    parts = [f"models {' '.join(c.models) or '(none)'}", limits_text(c) or "no limits"]
    if c.description:
        parts.append(f"description {c.description!r}")
    if account.suspended_at is not None:
        parts.append(f"suspended since {format_instant(account.suspended_at)}")
    return shown("; ".join(parts))


def _state(account: Account | None) -> object:
    return None if account is None else (account.customer.model_dump(mode="json"), account.suspended)


def _change(catalog: Catalog, name: str, changes: Mapping[str, Any]) -> tuple[Account, bool]:
    """Apply `changes` to the customer `name`; the account after, and whether anything changed."""
    accounts = accounts_or_exit(catalog)
    before = accounts.account(name)
    if before is None:
        unknown_customer(name, catalog, accounts.load())
    try:
        after = accounts.update_customer(name, changes, cli_actor())
    except AccountError as exc:
        refuse(exc, catalog)
    return after, _state(after) != _state(before)


@customers_app.command("list")
def customers_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List customers, the catalog's and those made here: models, limits, budget, suspension.

    Example: revshare customers list --json
    """
    from rich.table import Column, Table

    directory = accounts_or_exit(catalog_or_exit(config)).load()
    accounts = [directory.accounts[name] for name in sorted(directory.accounts)]
    if as_json:
        for a in accounts:
            c = a.customer
            print(json.dumps({"name": c.name, "models": list(c.models), "description": c.description,
                              **(limits_json(c) or {}), "source": a.source,
                              "suspended_at": format_instant(a.suspended_at) if a.suspended_at else None,
                              "created_at": format_instant(a.created_at), "updated_at": format_instant(a.updated_at)}))
        return
    # Nothing is cut: a long name, glob or note folds onto the next line.
    table = Table(*(Column(h, overflow="fold") for h in ("name", "source", "models", "limits")),
                  Column("suspended", min_width=10), Column("description", overflow="fold"),
                  title=f"{len(accounts)} customer(s)")
    for a in accounts:
        c = a.customer
        table.add_row(Text(c.name), a.source, Text(" ".join(c.models)), Text(limits_text(c)),
                      f"{a.suspended_at:%Y-%m-%d %H:%M}" if a.suspended_at else "", Text(shown(c.description)))
    out.print(table)


@customers_app.command("create")
def customers_create(
    name: NameArgument,
    models: ModelsOption = None,
    description: DescriptionOption = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    budget_period: BudgetPeriodOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create a customer in the ledger database; a running gateway serves it within seconds.

    Example: revshare customers create globex --models 'gemma-*' --rpm 60 --budget 250.00
    """
    from revshare.accounts.store import customer_of

    catalog = catalog_or_exit(config)
    fields = _customer_fields(models, description, rpm, tpm, concurrent, budget, budget_period)
    try:
        customer = customer_of(name, fields)
    except AccountError as exc:
        refuse(exc, catalog)
    accounts = accounts_or_exit(catalog)
    try:
        account = accounts.create_customer(customer, cli_actor())
    except AccountError as exc:
        refuse(exc, catalog)
    say(f"created customer {name!r}: {_summary(account)}")


@customers_app.command("update")
def customers_update(
    name: NameArgument,
    models: ModelsOption = None,
    description: DescriptionOption = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    budget_period: BudgetPeriodOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Change a customer made here: only the options given change. The catalog's customers are
    changed in the catalog.

    Example: revshare customers update globex --rpm 120 --budget-period day
    """
    catalog = catalog_or_exit(config)
    fields = _customer_fields(models, description, rpm, tpm, concurrent, budget, budget_period)
    if not fields:
        fail("nothing to change: give at least one option (revshare customers update --help)")
    account, changed = _change(catalog, name, fields)
    say(f"{'updated' if changed else 'no change to'} customer {name!r}: {_summary(account)}")


@customers_app.command("suspend")
def customers_suspend(name: NameArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Suspend a customer: its keys are refused (403) until it is resumed; its records stay.

    Example: revshare customers suspend globex
    """
    _, changed = _change(catalog_or_exit(config), name, {"suspended": True})
    say(f"suspended customer {name!r}" if changed else f"customer {name!r} was already suspended")


@customers_app.command("resume")
def customers_resume(name: NameArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Resume a suspended customer: its keys are accepted again.

    Example: revshare customers resume globex
    """
    _, changed = _change(catalog_or_exit(config), name, {"suspended": False})
    say(f"resumed customer {name!r}" if changed else f"customer {name!r} was not suspended")


# revshare audit --------------------------------------------------------------------------------

def _value(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def change_text(before: object, after: object) -> str:
    """A change in one line: the fields that differ, `field: old -> new`."""
    if isinstance(before, dict) and isinstance(after, dict):
        fields = sorted(set(before) | set(after))
        return "; ".join(f"{f}: {_value(before.get(f))} -> {_value(after.get(f))}"
                         for f in fields if before.get(f) != after.get(f)) or "no change"
    if before is None and isinstance(after, dict):
        return "+ " + ", ".join(f"{f}={_value(v)}" for f, v in sorted(after.items()) if v is not None)
    if after is None and isinstance(before, dict):
        return "- " + ", ".join(f"{f}={_value(v)}" for f, v in sorted(before.items()) if v is not None)
    return f"{_value(before)} -> {_value(after)}"


def _event_line(e: AuditEvent) -> str:
    change = change_text(e.detail.get("before"), e.detail.get("after"))
    return shown(f"{e.seq} {format_instant(e.at)} {e.actor} via {e.via}: {e.action} {e.subject} ({change})")


@app.command("audit")
def audit(
    customer: Annotated[str | None, typer.Option(help="Only changes to this customer and its keys.")] = None,
    after_seq: Annotated[int, typer.Option(help="Only events after this seq.", min=0, max=SEQ_MAX)] = 0,
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1, max=SEQ_MAX)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one event each.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List the audit trail of changes to customers and keys, oldest first: seq, time, actor, via,
    action, subject, and what changed (before -> after). No event holds a secret.

    Example: revshare audit --customer acme --after-seq 40
    """
    events = accounts_or_exit(catalog_or_exit(config)).audit(after_seq=after_seq, limit=limit, customer=customer)
    for e in events:
        if as_json:
            print(json.dumps({"seq": e.seq, "at": format_instant(e.at), "actor": e.actor, "via": e.via,
                              "action": e.action, "subject": e.subject, "customer": e.customer, "detail": e.detail}))
        else:
            say(_event_line(e))
    if len(events) == limit and not as_json:  # JSON readers page on the last seq they read
        err.print(f"(at most {limit} shown: --after-seq {events[-1].seq} shows the next)")

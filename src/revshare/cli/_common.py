"""What every `revshare` command shares: the app objects, consoles, options and exits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from revshare.config import Catalog, ConfigError, load_catalog

app = typer.Typer(
    name="revshare",
    help="Meter open-weight model usage exactly once, settle licensors' shares, prove it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Markup off: what is printed is often the user's own text (names, paths, messages); style with `labelled`.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, markup=False)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The catalog file.", envvar="REVSHARE_CONFIG")
]
DEFAULT_CONFIG = Path("revshare.toml")


def labelled(label: str, style: str, message: str) -> Text:
    """A styled label, then `message` exactly as given: user text is never read as rich markup."""
    return Text.assemble((label, style), " ", message)


def fail(message: str, code: int = 1) -> NoReturn:
    # The message may quote the user's own text (a catalog's "[[prices]]", a customer name): never markup.
    err.print(labelled("error:", "bold red", message), soft_wrap=True)
    raise typer.Exit(code)


def catalog_or_exit(path: Path) -> Catalog:
    try:
        return load_catalog(path)
    except ConfigError as exc:
        fail(str(exc), 2)


def ledger_or_exit(catalog: Catalog):  # type: ignore[no-untyped-def]
    try:
        from revshare.ledger.store import Ledger, LedgerError
    except ImportError:
        fail("the ledger needs the server extras: pip install 'revshare[server]'")
    ledger = Ledger(catalog.database_url(), synchronous=catalog.server.sqlite_synchronous)
    try:
        ledger.migrate()
    except LedgerError as exc:
        fail(str(exc))
    return ledger



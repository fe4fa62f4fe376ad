"""What every `revshare` command shares: the app objects, consoles, options and exits.

User text is printed literally everywhere: the consoles have markup off, help texts are plain
(no rich markup mode, so `[log] interval_s` and `[default: …]` stay as written), and every
command line argument is checked to be text before any command sees it. An error nobody
foresaw is one `error:` line, never a traceback (set REVSHARE_TRACEBACK=1 to see where it came from).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.core
from rich.console import Console
from rich.text import Text

from revshare.config import Catalog, ConfigError, load_catalog
from revshare.verify.errors import one_line

TRACEBACK_ENV = "REVSHARE_TRACEBACK"

# Markup off: what is printed is often the user's own text (names, paths, messages); style with `labelled`.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, markup=False, emoji=False)

_NOT_TEXT = re.compile(r"[\x00\ud800-\udfff]")


def shown(value: object) -> str:
    """A path or name inside a one-line message: as written, non-printable characters escaped
    (a newline as \\n, ESC as \\x1b), so the line stays one line and cannot drive the terminal."""
    return one_line(str(value))


def labelled(label: str, style: str, message: str) -> Text:
    """A styled label, then `message` exactly as given: user text is never read as rich markup."""
    return Text.assemble((label, style), " ", message)


def fail(message: str, code: int = 1) -> NoReturn:
    # The message may quote the user's own text (a catalog's "[[prices]]", a customer name): never markup.
    err.print(labelled("error:", "bold red", message), soft_wrap=True)
    raise typer.Exit(code)


def _check_arguments(args: Sequence[str]) -> None:
    """Refuse an argument that is not text: bytes that are not UTF-8 (surrogates) or a NUL."""
    for i, arg in enumerate(args, 1):
        if _NOT_TEXT.search(arg):
            try:
                raw = arg.encode("utf-8", "surrogateescape")  # the bytes the shell passed
            except UnicodeEncodeError:
                raw = arg.encode("utf-8", "backslashreplace")
            fail(f"argument {i} is not UTF-8 text (or holds a NUL): {raw!r}", 2)


def _unexpected(exc: Exception) -> NoReturn:
    """The last resort: a ledger that fails mid-command, or a bug, as one line."""
    ledger_errors: tuple[type[Exception], ...] = ()
    with contextlib.suppress(ImportError):  # the base install (verify only) has no database
        from sqlalchemy.exc import SQLAlchemyError

        ledger_errors = (SQLAlchemyError,)
    if isinstance(exc, ledger_errors):
        reason = getattr(exc, "orig", None) or exc
        fail(f"the ledger could not be read or written: {type(reason).__name__}: {reason}")
    fail(f"unexpected {type(exc).__name__}: {exc} (a bug in revshare: set {TRACEBACK_ENV}=1 to see where)")


class _Guarded(typer.core.TyperGroup):
    """The root command: arguments are checked before parsing; no exception escapes as a traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        _check_arguments(args)
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors and exits: click reports them
            raise
        except Exception as exc:
            if os.environ.get(TRACEBACK_ENV) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
                raise  # a closed pipe (`revshare usage | head`) is click's to end quietly
            _unexpected(exc)


app = typer.Typer(
    name="revshare",
    cls=_Guarded,
    help="Meter open-weight model usage exactly once, settle licensors' shares, prove it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The catalog file.", envvar="REVSHARE_CONFIG")
]
DEFAULT_CONFIG = Path("revshare.toml")


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
    try:
        ledger = Ledger(catalog.database_url(), synchronous=catalog.server.sqlite_synchronous)
        ledger.migrate()
    except LedgerError as exc:
        fail(str(exc))
    return ledger

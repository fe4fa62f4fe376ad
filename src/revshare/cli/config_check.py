"""`revshare config check`: validate a catalog without starting anything."""

from __future__ import annotations

import typer

from revshare.cli._common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    catalog_or_exit,
    out,
)

config_app = typer.Typer(help="Check a catalog.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate a catalog and summarise it; exit 2 with the file, entry and field if it is bad."""
    catalog = catalog_or_exit(config)
    out.print(f"{catalog.source}: ok: {len(catalog.engines)} engine(s), {len(catalog.models)} model(s), "
              f"{len(catalog.prices)} price version(s), {len(catalog.customers)} customer(s)")

"""The `revshare` command: serve the gateway, manage keys, read usage, settle, verify.

Each command is thin: parse options, call the library, turn its errors into a clear message
and a non-zero exit. Each module below registers its commands on the one `app`.
"""

from __future__ import annotations

from revshare.cli import (  # noqa: F401 - registers commands
    analytics,
    canary,
    config_check,
    customers,
    keys,
    ledger,
    log,
    serve,
    settle,
    terms,
    usage,
    verify,
    witness,
)
from revshare.cli._common import app

__all__ = ["app", "main"]


def main() -> None:
    app()

"""The `revshare` command: serve the gateway, manage keys, read usage, settle, verify.

Each command is thin: parse options, call the library, turn its errors into a clear message
and a non-zero exit. Each module below registers its commands on the one `app`.
"""

from __future__ import annotations

from revshare.cli import config_check, keys, log, serve, usage, verify  # noqa: F401 - registers commands
from revshare.cli import settle  # noqa: F401 - registers period, credit, settle
from revshare.cli._common import app

__all__ = ["app", "main"]


def main() -> None:
    app()

"""What the app's lifespan starts (the gateway, the log service, the end users) is read from
`GatewayApp`'s attributes only: one left reading `app.state` finds nothing there and falls back
silently (the console would seal sessions with a random secret, and close and settle unsigned)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "revshare"
_STATE_READ = re.compile(r"""\.state\.(gateway|tlog|end_users)\b|getattr\([^)]*\bstate\b[^)]*["'](gateway|tlog|end_users)["']""")


def test_no_module_reads_the_started_services_from_app_state() -> None:
    found = [f"{path.relative_to(SRC)}:{n}: {line.strip()}"
             for path in sorted(SRC.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if _STATE_READ.search(line)]
    assert found == []


def test_the_pattern_finds_both_spellings() -> None:
    assert _STATE_READ.search('service = getattr(request.app.state, "tlog", None)')
    assert _STATE_READ.search("gateway: Gateway = request.app.state.gateway")
    assert _STATE_READ.search('tlog = getattr(state, "tlog", None)')
    assert not _STATE_READ.search("request.app.tlog")

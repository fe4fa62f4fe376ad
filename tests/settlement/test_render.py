"""Rendering: JCS JSON, CSV, escaped HTML, the statement hash and the state round trip."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import rfc8785

import revshare.settlement as settlement
from revshare.settlement import (
    Period,
    SettlementState,
    aggregate,
    settle,
    statement_hash,
    statement_html,
    statement_json,
    window_for,
    write_files,
)
from tests.support.settlement_builders import M, catalog, record

CAT = catalog([{"id": "meta", "licensor": "meta", "lineage": "llama-3", "share": "0.15",
                "effective_from": "2025-01-01", "exempt_keys": ["<script>alert(1)</script>"]}],
              licensors=[{"id": "meta", "name": "Meta & <Friends>"}, {"id": "acme", "name": "Acme"},
                         {"id": "google", "name": "Google"}])


def close() -> settlement.SettlementResult:
    window = window_for(CAT.contracts, Period(2026, 1))
    recs = [record(CAT, "2026-01-02", prompt=3 * M, completion=M, key_id="<script>alert(1)</script>"),
            record(CAT, "2026-01-03", customer="bob", model="llama-ft", prompt=M)]
    return settle(CAT, window, aggregate(recs, window))


def test_json_is_jcs_and_money_is_text() -> None:
    (s,) = close().statements
    raw = statement_json(s)
    doc = json.loads(raw)
    assert raw == rfc8785.dumps(doc) + b"\n"
    assert doc["totals"]["amount_due"] == "0.30" and doc["log"] is None and doc["previous_hash"] is None
    assert statement_hash(doc) == hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


def test_html_escapes_everything() -> None:
    (s,) = close().statements
    page = statement_html(s).decode()
    assert "<script>" not in page and "&lt;script&gt;" in page and "Meta &amp; &lt;Friends&gt;" in page


def test_write_files_twice_gives_identical_bytes(tmp_path: Path) -> None:
    r = close()
    a = write_files(tmp_path / "a", r.statements, r.invoices)
    b = write_files(tmp_path / "b", close().statements, close().invoices)
    assert [p.name for p in a] == [p.name for p in b]
    assert len(a) == 9  # one statement and two invoices, three formats each
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))


def test_state_round_trips_and_chains() -> None:
    r = close()
    state = SettlementState.from_json(json.loads(json.dumps(r.state.to_json())))
    assert state == r.state
    assert state.contracts[0].last_hash == statement_hash(r.statements[0].to_json())
    window = window_for(CAT.contracts, Period(2026, 2))
    feb = settle(CAT, window, (), prior=state)
    assert feb.statements[0].number == 2 and feb.statements[0].previous_hash == state.contracts[0].last_hash
    again = settle(CAT, window_for(CAT.contracts, Period(2026, 1)), (), prior=feb.state)
    assert again.statements == () and again.errors[0].code == "period-closed"


def test_public_api_is_pinned() -> None:
    assert sorted(settlement.__all__) == settlement.__all__
    assert {"settle", "aggregate", "merge_aggregates", "window_for", "statement_hash", "write_files",
            "validate_settlement", "SettlementState", "UsageAggregate", "Credit"} <= set(settlement.__all__)
    # The SQL form of `aggregate` is the month-end room's (revshare.monthend.usage_sums): settlement is pure.
    assert "aggregate_sql" not in settlement.__all__


def test_settlement_imports_nothing_server_side() -> None:
    import subprocess
    import sys

    code = ("import sys, revshare.settlement; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'fastapi', 'httpx', 'llama_cpp') or m.startswith(('revshare.api', 'revshare.ledger'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

"""A period closed early says so on the files `settle` writes: its cut-off, taken by `period close`.

The current month is closed `early`, settled, and its statement and invoice read back as a
finance team would: the JSON names the cut-off and `closed_early`, the CSV is one table that
`csv.DictReader` reads with the same fields, the HTML says "closed early" with the instant.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from revshare.config import Catalog
from revshare.instants import format_instant, utc_now
from revshare.ledger.store import Ledger
from revshare.monthend.periods import close_period, closed_period
from revshare.monthend.settle_run import settle_period
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import Period
from revshare.settlement.pages.text import instant_text

PRICE = "gemma-3-270m@2026-01-01T00:00:00Z"


def test_an_early_close_names_its_cutoff_in_every_file(ledger: Ledger, demo: Catalog, tmp_path: Path) -> None:
    now = utc_now()
    period = Period.containing(now)
    started = max(period.start, now - timedelta(seconds=5))
    amount = (Decimal(2_000_000) * Decimal("0.10") + Decimal(500_000) * Decimal("0.40")).scaleb(-6)
    ledger.append_now([UsageRecord(
        id="rec_early00000001", started_at=started, ended_at=started, customer="demo", key_id="key_1",
        model="gemma-3-270m", engine="local", endpoint="chat.completions", outcome=Outcome.OK,
        prompt_tokens=2_000_000, completion_tokens=500_000, amount=amount, currency="USD", price_version=PRICE)])
    close_period(ledger, period, closed_by="test", early=True, note="demo")
    closed = closed_period(ledger, period)
    assert closed is not None and closed.early
    cutoff = format_instant(closed.cutoff)

    run = settle_period(ledger, demo, period, tmp_path / "out", settled_by="test")
    stems = [p.stem for p in run.files if p.suffix == ".json"]
    assert any(s.startswith("statement-") for s in stems) and any(s.startswith("invoice-") for s in stems)
    for stem in stems:
        doc = json.loads((tmp_path / "out" / f"{stem}.json").read_bytes())
        assert doc["cutoff"] == cutoff and doc["closed_early"] is True, stem
        text = (tmp_path / "out" / f"{stem}.csv").read_bytes().decode()
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        fields = {r["item"]: r["value"] for r in rows if r["section"] == "document"}
        assert fields["cutoff"] == cutoff and fields["closed_early"] == "true", stem
        assert all(None not in r for r in rows)
        page = (tmp_path / "out" / f"{stem}.html").read_text()
        assert "closed early" in page and instant_text(cutoff) in page, stem

    again = settle_period(ledger, demo, period, tmp_path / "again", settled_by="test")
    assert again.rerun
    assert all((tmp_path / "again" / p.name).read_bytes() == p.read_bytes() for p in run.files)

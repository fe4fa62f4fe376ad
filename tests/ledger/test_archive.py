"""`revshare ledger archive`: settled months leave the ledger as files the log still proves."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from revshare.config import load_catalog
from revshare.ledger.archive import ArchiveRefused, Settled, archive_months, archived_records
from revshare.ledger.partitions import attached_months, parse_month
from revshare.ledger.schema import ledger_archives
from revshare.ledger.store import Ledger
from revshare.logstore.identity import load_identity
from revshare.logstore.tree_store import LogReader
from revshare.records.projection import project
from revshare.reporting.fold import fold_new_records
from revshare.verify import verify_receipt_text
from tests.support.databases import postgres_database
from tests.support.settled_bundles import Env, two_months
from tests.support.statement_bundles import at, catalog_toml, rec


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with postgres_database() as url:
        config = tmp_path / "revshare.toml"
        config.write_text(catalog_toml(url, tmp_path / "data") + "\n[analytics]\nenabled = false\n")
        ledger = Ledger(url)
        ledger.migrate()
        yield Env(ledger, config, tmp_path)
        ledger.close()


@pytest.mark.postgres
def test_a_settled_month_is_archived_and_its_records_stay_provable(env: Env) -> None:
    two_months(env)  # January and February closed and settled; a February record appended after the close
    out = env.tmp / "archive"
    before = {r.seq: r for r in env.ledger.records()}

    code, said = env.run("ledger", "archive", "--before", "2026-02", "--out", str(out))
    assert code == 1 and "not yet copied into the usage rollups (the gateway folds them), which holds seq 1..0" in said
    while fold_new_records(env.ledger):  # what the gateway does every rollup_interval_s
        pass
    code, said = env.run("ledger", "archive", "--before", "2026-03", "--out", str(out))
    assert code == 1 and "month 2026-02 holds records up to seq" in said and "settle the following months" in said
    assert not out.exists()  # refused before anything changed

    said = env.ok("ledger", "archive", "--before", "2026-02", "--out", str(out), "--drop")
    january = out / "usage-2026-01.jsonl.gz"
    assert "archived 2026-01: 7 record(s)" in said and "dropped" in said
    with env.ledger.engine.connect() as conn:
        row = conn.execute(select(ledger_archives)).one()._mapping
        assert [p.label for p in attached_months(conn)][:1] != ["2026-01"]
        assert conn.execute(text("SELECT to_regclass('usage_records_y2026m01')")).scalar() is None
    assert row["month"] == "2026-01" and row["records"] == 7 and row["dropped"] is True
    assert row["sha256"] == hashlib.sha256(january.read_bytes()).hexdigest()
    gzip.decompress(january.read_bytes())  # a plain gzip file

    archived = list(archived_records(january))
    assert archived == [before[r.seq] for r in archived]  # the file holds the records exactly
    left = {r.seq for r in env.ledger.records()}
    assert left == set(before) - {r.seq for r in archived} and left  # the ledger no longer holds them

    # A record of the archived month is still proven by the log: its receipt verifies against the
    # signed checkpoint, and the file's row projects to the very leaf the receipt proves.
    catalog = load_catalog(env.config)
    identity = load_identity(catalog, create=False)
    record = next(r for r in archived if "google" in r.licensors)
    receipt = LogReader(env.ledger).receipt("google", record.seq)
    verify_receipt_text(receipt.to_json(), identity.key.verifier_text())
    assert receipt.record == project(record, identity.secret)

    code, said = env.run("ledger", "archive", "--before", "2026-02", "--out", str(out))
    assert code == 0 and "nothing to archive before 2026-02" in said


@pytest.mark.postgres
def test_unsettled_open_and_malformed_months_are_refused(env: Env) -> None:
    code, said = env.run("ledger", "archive", "--before", "2026-13")
    assert code == 2 and "want a month as YYYY-MM" in said
    code, said = env.run("ledger", "archive", "--before", "2999-01")
    assert code == 1 and "has not ended" in said
    env.ledger.append_now([rec("acme", at(4, 3), 10, 10)])
    code, said = env.run("ledger", "archive", "--before", "2026-05", "--out", str(env.tmp / "a"))
    assert code == 1 and "month 2026-04 is not settled" in said


def test_a_sqlite_ledger_has_nothing_to_archive(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    with pytest.raises(ArchiveRefused, match="SQLite"):
        archive_months(ledger, parse_month("2026-01"), tmp_path, Settled(frozenset(), 0, 0))
    ledger.close()

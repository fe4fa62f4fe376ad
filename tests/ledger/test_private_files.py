"""The ledger's SQLite files and the data directory are the owner's alone (issue 17).

The ledger holds customers' usage and, for the retention window, idempotent responses: it is
created owner-only (directory 0700, files 0600, the WAL and shared-memory files too) whatever the
umask, and a ledger file left readable by an older version is tightened when it is opened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revshare.cli import app
from revshare.ledger.store import Ledger
from tests.support.paths import REPO
from tests.support.records import record


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    before = os.umask(0o022)  # the usual default: files 0644, directories 0755
    yield
    os.umask(before)


def test_a_new_sqlite_ledger_is_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "data" / "ledger.db"
    ledger = Ledger(f"sqlite:///{db}")
    ledger.migrate()
    ledger.append_now([record(1)])
    with ledger.engine.connect():  # WAL and shared memory exist while a connection is open
        files = {p.name: mode(p) for p in db.parent.iterdir() if p.name.startswith("ledger.db")}
        assert files == {"ledger.db": 0o600, "ledger.db-wal": 0o600, "ledger.db-shm": 0o600}
    assert mode(db.parent) == 0o700
    ledger.close()


def test_an_existing_readable_ledger_is_tightened_and_a_shared_directory_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    db = shared / "ledger.db"
    first = Ledger(f"sqlite:///{db}")
    first.migrate()
    first.close()
    for p in shared.iterdir():
        p.chmod(0o644)
    ledger = Ledger(f"sqlite:///{db}")
    ledger.migrate()
    ledger.append_now([record(2)])
    assert mode(db) == 0o600
    assert all(mode(p) == 0o600 for p in shared.iterdir() if p.name.startswith("ledger.db"))
    assert mode(shared) == 0o755  # not ours to change: it may be the working directory
    ledger.close()


def test_the_cli_creates_the_data_directory_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "revshare.toml"
    data = tmp_path / "state" / ".revshare"
    config.write_text((REPO / "revshare.toml").read_text().replace(
        'host_name = "revshare-demo"', f'host_name = "revshare-demo"\ndata_dir = "{data}"'))
    monkeypatch.delenv("REVSHARE_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["log", "key", "--config", str(config)])  # the host key first: no ledger yet
    assert result.exit_code == 0, result.output
    assert mode(data) == 0o700 and mode(data / "log.key") == 0o600
    result = runner.invoke(app, ["keys", "create", "--customer", "demo", "--config", str(config)])
    assert result.exit_code == 0, result.output
    ledger_files = {p.name: mode(p) for p in data.iterdir() if p.name.startswith("ledger.db")}
    assert "ledger.db" in ledger_files and set(ledger_files.values()) == {0o600}, ledger_files

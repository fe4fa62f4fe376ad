"""`revshare log` and `revshare licensor`: thin commands, clear messages, non-zero exits."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

import tests.support.tlog_ledger as h
from revshare.cli import app
from revshare.ledger.store import Ledger
from revshare.logstore.licensor_tokens import find_token
from tests.support.catalogs import gateway_catalog_toml as catalog_toml

runner = CliRunner()


def test_integrate_audit_and_refusals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = tmp_path / "revshare.toml"
    config.write_text(catalog_toml(url, tmp_path / "data"))
    ledger = Ledger(url)
    ledger.migrate()
    h.fill(ledger, 1, 5)

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--config", str(config)])
        return result.exit_code, result.output

    code, out = run("log", "integrate")
    assert code == 0 and "google: size 5" in out and "_host: size 0" in out
    vkey = run("log", "key")[1].strip()
    assert vkey.startswith("test-host/revshare+") and (tmp_path / "data" / "log.key").stat().st_mode & 0o777 == 0o600
    code, receipt = run("log", "receipt", "rec_t00000002")
    (tmp_path / "r.json").write_text(receipt)
    assert runner.invoke(app, ["verify", "receipt", str(tmp_path / "r.json"), "--key", vkey]).exit_code == 0
    assert run("log", "checkpoint", "google")[1].startswith("test-host/revshare/google\n5\n")
    assert run("log", "audit") == (0, "OK: every log matches its signed checkpoints and the ledger\n")

    code, out = run("licensor", "token", "create", "--licensor", "google")
    assert code == 0 and find_token(ledger, out.strip().splitlines()[-1]).licensor == "google"  # type: ignore[union-attr]
    code, out = run("licensor", "token", "create", "--licensor", "nobody")
    assert code == 1 and "no licensor 'nobody' (known: google)" in out

    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE usage_records SET completion_tokens = 2 WHERE seq = 4"))
        conn.execute(text("UPDATE tlog_nodes SET hash = :h WHERE log_id = 'google' AND level = 2 AND idx = 0"),
                     {"h": b"\x00" * 32})
    code, out = run("log", "audit")
    assert code == 1
    assert "log google: edited: record rec_t00000004 (seq 4, leaf 3) was edited: completion_tokens is 2" in out
    assert "log google: tree: the stored tree gives root" in out
    h.fill(ledger, 6, 6)
    code, out = run("log", "integrate")
    assert code == 1 and "refusing to sign size 6: it is not consistent with the checkpoint signed at size 5" in out
    ledger.close()

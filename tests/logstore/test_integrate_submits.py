"""`revshare log integrate` submits the checkpoints it signs to the catalog's witnesses (one round), so a
checkpoint signed with no gateway running is cosigned too; a witness that is down is a warning, not a failure."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import tests.support.tlog_ledger as h
from revshare.cli import app
from revshare.ledger.store import Ledger
from revshare.logstore.identity import HOST_LOG, load_identity
from revshare.logstore.tree_store import LogReader
from tests.support.catalogs import catalog_dict
from tests.support.servers import free_port
from tests.support.stub_gateway import to_toml
from tests.support.witness import running_witness

runner = CliRunner()
W1 = "witness.one.example/w1"


def test_log_integrate_submits_what_it_signs_to_the_witnesses(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ident = load_identity(h.catalog(tmp_path / "host"))
    follows = [(ident.origin(log_id), ident.key.verifier_text()) for log_id in ("google", HOST_LOG)]
    ledger = Ledger(url)
    ledger.migrate()
    h.fill(ledger, 1, 5)
    config = tmp_path / "revshare.toml"
    with running_witness(tmp_path / "w1", follows, name=W1) as w1:
        raw = catalog_dict(data_dir=str(tmp_path / "host"), database_url=url)
        raw["witnesses"] = [{"name": "w1", "url": w1.url, "vkey": w1.vkey, "timeout_s": 5}]
        config.write_text(to_toml(raw))
        result = runner.invoke(app, ["log", "integrate", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert "google: size 5" in result.output and "witness w1: 2 new cosignature(s) kept" in result.output
        note = LogReader(ledger).latest_checkpoint("google")
        assert f"\u2014 {W1} " in note and w1.latest(ident.origin("google")) is not None
    # The witness is gone: the records are integrated and signed all the same, with a warning.
    raw["witnesses"][0]["url"] = f"http://127.0.0.1:{free_port()}"
    config.write_text(to_toml(raw))
    h.fill(ledger, 6, 7)
    result = runner.invoke(app, ["log", "integrate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "google: size 7" in result.output and "warning: witness w1:" in result.output
    ledger.close()

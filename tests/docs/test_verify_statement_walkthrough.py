"""docs/VERIFY.md section 4 is run, not just read: its `shell` blocks, in order, on a ledger with two months."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from revshare.ledger.store import Ledger
from tests.support.paths import REPO
from tests.support.statement_bundles import at, catalog_toml, rec

DOC = REPO / "docs" / "VERIFY.md"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```shell\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_statement_walk_through_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    (tmp_path / "revshare.toml").write_text(catalog_toml(url, tmp_path / "data"))
    ledger = Ledger(url)
    ledger.migrate()
    ledger.append_now([rec("acme", at(1, 3), 2_000_000, 500_000), rec("demo", at(1, 17), 1_000_000, 0),
                       rec("acme", at(2, 1, 0), 1_000_000, 0)])
    blocks = shell_blocks(DOC.read_text())
    assert len(blocks) == 3
    env = {**os.environ, "REVSHARE_CONFIG": str(tmp_path / "revshare.toml"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def run(script: str) -> str:
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    out = run(blocks[0] + blocks[1])
    assert "OK: statement-google-google-gemma-2026-01 verifies" in out
    ledger.append_now([rec("acme", at(1, 20), 1_000_000, 0), rec("acme", at(2, 10), 4_000_000, 1_000_000)])
    out = run(blocks[2])
    assert "OK: statement-google-google-gemma-2026-02 verifies" in out
    assert "extends the checkpoint held in google-2026-01" in out and "chained to the previous statement" in out
    ledger.close()

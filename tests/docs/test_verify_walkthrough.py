"""docs/VERIFY.md is run, not just read: its shell blocks, in order, against a live gateway."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.catalogs import gateway_catalog_toml as catalog_toml
from tests.support.paths import REPO

DOC = REPO / "docs" / "VERIFY.md"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_documented_walk_through_runs(embedded_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gw = embedded_gateway
    auth = {"Authorization": f"Bearer {gw.keys['demo']}"}
    body = {"model": "gemma-3-270m", "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]}
    reply = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=auth, timeout=60)
    httpx.get(f"{gw.url}/v1/receipts/{reply.headers['x-revshare-record-id']}", headers=auth).raise_for_status()
    (tmp_path / "revshare.toml").write_text(catalog_toml(gw.ledger.url, Path(".revshare").resolve()))
    blocks = shell_blocks(DOC.read_text())
    assert len(blocks) >= 6
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {**os.environ, "GATEWAY": gw.url, "OPENAI_API_KEY": gw.keys["demo"],
           "REVSHARE_CONFIG": str(tmp_path / "revshare.toml"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "OK: receipt receipt.json verifies" in out
    assert re.search(r"OK: \d+ leaves rebuild test-host/revshare/google", out)
    assert "extends google.checkpoint" in out
    assert "OK: every log matches its signed checkpoints and the ledger" in out

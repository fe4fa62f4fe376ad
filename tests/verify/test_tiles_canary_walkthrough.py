"""docs/VERIFY.md sections 6 (tiles) and 7 (a canary audit) run as written, against `revshare serve`.

The blocks run in one bash, in order, after the test starts the host's gateway (the stub upstream as
its engine) on a ledger holding a few records of this month, integrated, and a checkpoint the
licensor kept (`google.checkpoint`, as sections 0 and 1 leave it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from revshare.config import load_catalog
from revshare.instants import utc_now
from revshare.ledger.store import Ledger
from revshare.logstore.identity import load_identity
from revshare.logstore.integrator import integrate
from revshare.logstore.licensor_tokens import create_token
from revshare.logstore.tree_store import LogReader
from tests.support.paths import REPO
from tests.support.servers import free_port
from tests.support.statement_bundles import catalog_toml, rec
from tests.support.stub_gateway import stub_upstream

DOC = REPO / "docs" / "VERIFY.md"

GATEWAY_STARTS = """
revshare serve --config revshare.toml --port "$GATEWAY_PORT" --log-level warning > gateway.log 2>&1 &
for _ in $(seq 300); do curl -sf "$GATEWAY/healthz" > /dev/null && break; sleep 0.2; done
"""


def blocks(heading: str, until: str | None) -> list[str]:
    section = DOC.read_text().split(heading, 1)[1]
    if until is not None:
        section = section.split(until, 1)[0]
    return re.findall(r"^```bash\n(.*?)^```$", section, flags=re.M | re.S)


def test_the_tiles_and_canary_walk_throughs_run_against_a_gateway(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    tiles = blocks("## 6. Reading a log from tiles", "## 7. A canary audit")
    canary = blocks("## 7. A canary audit", None)
    assert (len(tiles), len(canary)) == (2, 2)
    with stub_upstream(tokens=1) as upstream:
        toml = catalog_toml(url, tmp_path / "data").replace(
            'kind = "embedded"', f'kind = "upstream"\nbase_url = "{upstream}"')
        (tmp_path / "revshare.toml").write_text(toml)
        catalog = load_catalog(tmp_path / "revshare.toml")
        ledger = Ledger(url)
        ledger.migrate()
        earlier = utc_now() - timedelta(seconds=2)
        ledger.append_now([rec("acme", earlier, 2_000_000, 500_000), rec("demo", earlier, 1_000_000, 0)])
        _, customer_key = ledger.create_key("acme", "canary")
        _, licensor_token = create_token(ledger, "google")
        integrate(ledger, catalog)
        (tmp_path / "host.vkey").write_text(load_identity(catalog).key.verifier_text() + "\n")
        (tmp_path / "google.checkpoint").write_text(LogReader(ledger).latest_checkpoint("google"))
        ledger.close()
        port = free_port()
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "REVSHARE_CONFIG": str(tmp_path / "revshare.toml"), "REVSHARE_ADMIN_TOKEN": "rsa_walk_through",
               "GATEWAY": f"http://127.0.0.1:{port}", "GATEWAY_PORT": str(port),
               "LICENSOR_TOKEN": licensor_token, "OPENAI_API_KEY": customer_key}
        script = "\n".join([GATEWAY_STARTS, *tiles, *canary])
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out + (tmp_path / "gateway.log").read_text()
    assert re.search(r"OK: test-host/revshare/google size 2 root [0-9a-f]{64}: 2 tiles rebuild it", out), out
    assert ", extends google.checkpoint" in out and '{"index": 0, "data": "{' in out
    assert "sent 3 canaries to" in out and "3 served with a record id, 3 receipts kept in canaries" in out
    assert out.count("OK canary ") == 3 and "OK: every canary is accounted for in test-host/revshare/google" in out

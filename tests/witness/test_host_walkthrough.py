"""docs/VERIFY.md section 5 runs as written: a licensor's witness, the host naming it in its catalog, a
gateway submitting its checkpoints, and a checkpoint, a receipt and a statement held to the licensor's policy.

The blocks run in one bash, in order; between the host's catalog block and the licensor's checks the
test starts `revshare serve` on that catalog (the host's restart the section describes) and waits
until the witness's cosignature is on the checkpoint the gateway serves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from revshare.config import load_catalog
from revshare.ledger.store import Ledger
from revshare.logstore.identity import load_identity
from revshare.logstore.integrator import integrate
from revshare.logstore.licensor_tokens import create_token
from revshare.logstore.tree_store import LogReader
from tests.support.paths import REPO
from tests.support.servers import free_port
from tests.support.statement_bundles import at, catalog_toml, rec
from tests.support.stub_gateway import stub_upstream

DOC = REPO / "docs" / "VERIFY.md"
WITNESS_LINE = "— witness.licensor.example/w1 "


def section_5_blocks() -> list[str]:
    section = DOC.read_text().split("## 5. Running a witness", 1)[1].split("\n## 6. ", 1)[0]
    return re.findall(r"^```bash\n(.*?)^```$", section, flags=re.M | re.S)


GATEWAY_STARTS = """
# (the test) the host restarts its gateway with the witness in its catalog, and it submits
revshare serve --config revshare.toml --port "$GATEWAY_PORT" --log-level warning > gateway.log 2>&1 &
for _ in $(seq 300); do curl -sf "$GATEWAY/healthz" > /dev/null && break; sleep 0.2; done
for _ in $(seq 300); do
  curl -sf -H "Authorization: Bearer $LICENSOR_TOKEN" "$GATEWAY/v1/log/google/checkpoint" \\
    | grep -q "$WITNESS_LINE" && break
  sleep 0.2
done
"""


def test_the_witness_walk_through_runs_against_a_gateway(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with stub_upstream() as upstream:
        toml = catalog_toml(url, tmp_path / "data").replace(
            'kind = "embedded"', f'kind = "upstream"\nbase_url = "{upstream}"')
        (tmp_path / "revshare.toml").write_text(toml)
        catalog = load_catalog(tmp_path / "revshare.toml")
        ledger = Ledger(url)
        ledger.migrate()
        records = [rec("acme", at(3, 3), 2_000_000, 500_000), rec("demo", at(3, 17), 1_000_000, 0)]
        ledger.append_now(records)
        _, customer_key = ledger.create_key("acme", "walk-through")
        _, licensor_token = create_token(ledger, "google")
        # What sections 0 and 1 left in the licensor's folder: the host key it holds, a checkpoint of its log.
        identity = load_identity(catalog)
        integrate(ledger, catalog)
        (tmp_path / "host.vkey").write_text(identity.key.verifier_text() + "\n")
        (tmp_path / "google.checkpoint").write_text(LogReader(ledger).latest_checkpoint("google"))
        ledger.close()

        blocks = section_5_blocks()
        assert len(blocks) == 6
        witness_port, gateway_port = str(free_port()), free_port()
        script = "\n".join([*blocks[:3], GATEWAY_STARTS, *blocks[3:]]).replace("7380", witness_port)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "REVSHARE_CONFIG": str(tmp_path / "revshare.toml"), "REVSHARE_ADMIN_TOKEN": "rsa_walk_through",
               "GATEWAY": f"http://127.0.0.1:{gateway_port}", "GATEWAY_PORT": str(gateway_port),
               "LICENSOR_TOKEN": licensor_token, "OPENAI_API_KEY": customer_key, "RECORD_ID": records[0].id,
               "WITNESS_LINE": WITNESS_LINE}
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "gateway.log").read_text() if (tmp_path / "gateway.log").exists() else ""
    assert done.returncode == 0, done.stdout + done.stderr + log
    out = " ".join(done.stdout.split())
    assert out.count("cosigned by w1: quorum w1 met") == 3, out  # the checkpoint, the receipt, the statement
    assert re.search(r"OK: test-host/revshare/google size \d+ root [0-9a-f]{64}, cosigned by w1", out)
    assert "OK: receipt receipt.json verifies" in out
    assert "OK: statement-google-google-gemma-2026-03 verifies" in out
    checkpoint = (tmp_path / ".revshare" / "bundles" / "google-2026-03" / "checkpoint").read_text()
    assert WITNESS_LINE in checkpoint and WITNESS_LINE in (tmp_path / "receipt.json").read_text()
    assert (tmp_path / "witness" / "witness.key").stat().st_mode & 0o777 == 0o600

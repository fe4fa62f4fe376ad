"""The witness docs are real: TLOG.md's cosigned example verifies, and VERIFY.md section 5 runs as written."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from revshare.tlog import open_note
from revshare.tlog.cosignature import WitnessKey, verify_cosignatures
from tests.support.paths import REPO
from tests.support.servers import free_port
from tests.support.witness import HOST_KEY, Log


def test_the_cosigned_example_in_tlog_md_verifies() -> None:
    doc = (REPO / "docs" / "TLOG.md").read_text()
    host_vkey = re.search(r"verifier \(publish\):\s+(\S+)", doc)
    witness_vkey = re.search(r"witness vkey: `(\S+)`", doc)
    assert host_vkey and witness_vkey
    note = next(b for b in re.findall(r"```[a-z]*\n(.*?)```", doc, flags=re.S) if "— witness.example/w1 " in b)
    text = open_note(note, host_vkey.group(1))
    (cosig,) = verify_cosignatures(note, [witness_vkey.group(1)]).values()
    assert cosig.timestamp == 1767225600
    witness = WitnessKey("witness.example/w1", bytes(range(32)))  # the example seed the doc names
    assert witness.verifier_text() == witness_vkey.group(1)
    assert note.endswith(witness.cosign(text, 1767225600).to_line())


def section_5_blocks() -> list[str]:
    doc = (REPO / "docs" / "VERIFY.md").read_text()
    section = doc.split("## 5. Running a witness", 1)[1]
    return re.findall(r"^```bash\n(.*?)^```$", section, flags=re.M | re.S)


def test_the_witness_walk_through_runs(tmp_path: Path) -> None:
    # What sections 0 and 1 leave in the licensor's folder: the host key it holds, two checkpoints, a proof.
    log = Log().append(5)
    (tmp_path / "host.vkey").write_text(HOST_KEY.verifier_text() + "\n")
    (tmp_path / "google.checkpoint").write_text(log.note())
    log.append(4)
    (tmp_path / "google.new.checkpoint").write_text(log.note())
    proof = {"log_id": "google", "old": 5, "new": 9,
             "proof": [base64.b64encode(h).decode() for h in log.proof(5)]}
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    blocks = section_5_blocks()
    assert len(blocks) == 4
    port = str(free_port())
    script = "\n".join(blocks).replace("7380", port)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
                           + script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("— witness.licensor.example/w1 ") == 2
    assert f"OK: {log.origin} at size 9 is cosigned by w1" in done.stdout
    assert (tmp_path / "witness" / "witness.key").stat().st_mode & 0o777 == 0o600

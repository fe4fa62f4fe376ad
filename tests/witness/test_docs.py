"""The witness docs are real: TLOG.md's cosigned example verifies (VERIFY.md section 5 runs as written in
tests/witness/test_host_walkthrough.py)."""

from __future__ import annotations

import re

from revshare.tlog import open_note
from revshare.tlog.cosignature import WitnessKey, verify_cosignatures
from tests.support.paths import REPO


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

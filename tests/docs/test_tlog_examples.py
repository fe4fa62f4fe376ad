"""The examples in docs/TLOG.md are real: the receipt and notes there verify."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from revshare.tlog import (
    Checkpoint,
    HostKey,
    Receipt,
    open_note,
    verify_receipt,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "TLOG.md"
ORIGIN = "revshare.example/log"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def _blocks(doc: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", doc, flags=re.S)


def _vkey(doc: str) -> str:
    m = re.search(r"verifier \(publish\):\s+(\S+)", doc)
    assert m
    return m.group(1)


def test_keys_match(doc: str) -> None:
    skey = re.search(r"signer \(secret\):\s+(\S+)", doc)
    assert skey
    key = HostKey.from_text(skey.group(1))
    assert key.verifier_text() == _vkey(doc)
    assert key.seed == bytes(range(32))


def test_checkpoint_and_note(doc: str) -> None:
    note = next(b for b in _blocks(doc) if b.startswith(ORIGIN) and "\u2014" in b)
    text = open_note(note, _vkey(doc))
    assert text in _blocks(doc)
    assert Checkpoint.from_text(text).size == 5


def test_receipts(doc: str) -> None:
    blocks = _blocks(doc)
    as_json = Receipt.from_json(next(b for b in blocks if b.startswith('{"checkpoint"')))
    as_text = Receipt.from_tlog_proof(
        next(b for b in blocks if b.startswith("c2sp.org/tlog-proof"))
    )
    assert as_json == as_text
    verified = verify_receipt(as_json, _vkey(doc), origin=ORIGIN)
    assert verified.index == 2 and verified.record["seq"] == 3

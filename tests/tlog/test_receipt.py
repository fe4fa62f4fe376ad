"""Receipts end to end: build a log, sign a checkpoint, prove a record, tamper with each part."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest

from revshare.tlog import (
    Checkpoint,
    HostKey,
    IndexOutOfRangeError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedReceiptError,
    MemoryStore,
    MerkleTree,
    OriginMismatchError,
    ProjectionError,
    ProofSizeError,
    Receipt,
    RootMismatchError,
    UnknownKeyError,
    leaf_hash,
    verify_receipt,
)
from revshare.tlog.receipt import TLOG_PROOF_HEADER

ORIGIN = "revshare.example/log"
KEY = HostKey(ORIGIN, bytes(range(32)))  # fixed, so failures are reproducible


def _record(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "record_id": f"rec-{seq:06d}",
        "customer": "acme",
        "model": "gemma-3-270m",
        "prompt_tokens": 100 + seq,
        "completion_tokens": 7,
        "amount": "0.000123000000",
        "currency": "USD",
        "estimated": False,
    }


RECORDS = [_record(i) for i in range(13)]


def _receipt(index: int = 5, key: HostKey = KEY) -> Receipt:
    tree = MerkleTree(MemoryStore())
    tree.append_many(leaf_hash(r) for r in RECORDS)
    checkpoint = key.sign_note(Checkpoint(ORIGIN, tree.size, tree.root()).to_text())
    return Receipt(RECORDS[index], index, tuple(tree.inclusion_proof(index)), checkpoint)


def test_verify() -> None:
    verified = verify_receipt(_receipt(), KEY.verifier_text(), origin=ORIGIN)
    assert verified.index == 5
    assert verified.record == RECORDS[5]
    assert verified.checkpoint.size == 13
    assert verified.leaf_hash == leaf_hash(RECORDS[5])


def test_every_record_verifies() -> None:
    for i in range(len(RECORDS)):
        verify_receipt(_receipt(i), KEY.verifier())


def test_json_round_trip() -> None:
    r = _receipt()
    text = r.to_json()
    assert json.loads(text)["format"] == "revshare.receipt/v1"
    assert Receipt.from_json(text) == r
    assert Receipt.from_json(text.encode()).to_json() == text


def test_tlog_proof_round_trip() -> None:
    r = _receipt()
    text = r.to_tlog_proof()
    assert text.startswith(TLOG_PROOF_HEADER + "\nextra ")
    assert "\nindex 5\n" in text
    assert text.endswith(r.checkpoint)
    assert Receipt.from_tlog_proof(text) == r


def _verify(r: Receipt, vkey: str | None = None) -> None:
    verify_receipt(r, vkey or KEY.verifier_text(), origin=ORIGIN)


def test_tampered_record() -> None:
    r = _receipt()
    with pytest.raises(RootMismatchError):
        _verify(dataclasses.replace(r, record={**r.record, "amount": "0.000124000000"}))


def test_flipped_bit_in_proof() -> None:
    r = _receipt()
    proof = list(r.proof)
    proof[1] = bytes([proof[1][0] ^ 1]) + proof[1][1:]
    with pytest.raises(RootMismatchError):
        _verify(dataclasses.replace(r, proof=tuple(proof)))


def test_wrong_index() -> None:
    r = _receipt()
    with pytest.raises((RootMismatchError, ProofSizeError)):
        _verify(dataclasses.replace(r, index=4))
    with pytest.raises(IndexOutOfRangeError, match="index 13 is beyond size: want index < 13"):
        _verify(dataclasses.replace(r, index=13))


def test_tampered_checkpoint_size_or_root() -> None:
    r = _receipt()
    with pytest.raises(InvalidSignatureError):
        _verify(dataclasses.replace(r, checkpoint=r.checkpoint.replace("\n13\n", "\n14\n", 1)))
    root_line = r.checkpoint.split("\n")[2]
    flipped = base64.b64encode(
        bytes([base64.b64decode(root_line)[0] ^ 1]) + base64.b64decode(root_line)[1:]
    )
    with pytest.raises(InvalidSignatureError):
        _verify(
            dataclasses.replace(r, checkpoint=r.checkpoint.replace(root_line, flipped.decode()))
        )


def test_forged_checkpoint_signed_by_another_key() -> None:
    forger = HostKey.generate(ORIGIN)
    with pytest.raises(UnknownKeyError):
        _verify(_receipt(key=forger))


def test_wrong_trusted_key() -> None:
    with pytest.raises(UnknownKeyError):
        _verify(_receipt(), HostKey.generate("someone-else").verifier_text())


def test_other_origin() -> None:
    with pytest.raises(OriginMismatchError, match="want 'another/log'"):
        verify_receipt(_receipt(), KEY.verifier(), origin="another/log")


def test_signed_but_malformed_checkpoint() -> None:
    r = dataclasses.replace(_receipt(), checkpoint=KEY.sign_note("just one line\n"))
    with pytest.raises(MalformedCheckpointError):
        _verify(r)


def test_float_in_record() -> None:
    r = _receipt()
    with pytest.raises(ProjectionError):
        _verify(dataclasses.replace(r, record={**r.record, "amount": 0.1}))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: "not json",
        lambda o: "[]",
        lambda o: json.dumps({**o, "format": "other/v1"}),
        lambda o: json.dumps({**o, "extra": 1}),
        lambda o: json.dumps({**o, "record": [1]}),
        lambda o: json.dumps({**o, "index": -1}),
        lambda o: json.dumps({**o, "index": "5"}),
        lambda o: json.dumps({**o, "proof": ["AAAA"]}),
        lambda o: json.dumps({**o, "proof": ["***"]}),
        lambda o: json.dumps({**o, "proof": "AAAA"}),
        lambda o: json.dumps({**o, "checkpoint": 1}),
        lambda o: json.dumps({**o, "record": {**o["record"], "amount": 0.5}}),
        lambda o: json.dumps(o)[:-1] + ',"index":5}',  # duplicate key
    ],
)
def test_malformed_json(mutate: Any) -> None:
    obj = json.loads(_receipt().to_json())
    with pytest.raises(MalformedReceiptError):
        Receipt.from_json(mutate(obj))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace(TLOG_PROOF_HEADER, "c2sp.org/tlog-proof@v2"),
        lambda t: t.replace("\n\n", "\n", 1),
        lambda t: t.replace("extra ", "xtra ", 1),
        lambda t: t.replace("index 5", "index five"),
        lambda t: t.replace("index 5", "idx 5"),
        lambda t: t.replace("extra ", "extra !!", 1),
        lambda t: t.replace("\nindex", "\nAAAA\nindex", 1),
    ],
)
def test_malformed_tlog_proof(mutate: Any) -> None:
    with pytest.raises(MalformedReceiptError):
        Receipt.from_tlog_proof(mutate(_receipt().to_tlog_proof()))

"""Receipts: everything a customer needs to check one usage record offline.

A receipt bundles the record's projection (the JSON object whose RFC 8785 bytes are the
leaf), its leaf index, the inclusion proof, and a signed checkpoint that covers it. The
main form is JSON; the same content also reads and writes as C2SP tlog-proof text
(`c2sp.org/tlog-proof@v1`, as transparency-dev/merkle `proof/tlog_proof.go` writes it),
with the record's canonical JSON in its `extra` line.

The checkpoint is the signed note as the host publishes it: its own signature line, then the
cosignature/v1 lines of the witnesses that cosigned it (C2SP tlog-cosignature). The format is
unchanged by them (a receipt without cosignatures reads as before); `verify_receipt` checks the
host's signature and skips the witnesses' lines, which a witness policy checks
(`revshare.tlog.policy.verify_with_policy`, `revshare verify receipt --policy`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revshare.tlog.checkpoint import Checkpoint
from revshare.tlog.errors import (
    IndexOutOfRangeError,
    MalformedReceiptError,
    OriginMismatchError,
)
from revshare.tlog.hashing import HASH_SIZE, leaf_data, leaf_hash
from revshare.tlog.jcs import canonicalize
from revshare.tlog.note import Verifier, open_note
from revshare.tlog.proof import verify_inclusion

__all__ = ["RECEIPT_FORMAT", "TLOG_PROOF_HEADER", "Receipt", "VerifiedReceipt", "verify_receipt"]

RECEIPT_FORMAT = "revshare.receipt/v1"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"


@dataclass(frozen=True)
class Receipt:
    """An unverified proof bundle for one record.

    Attributes:
        record: the record projection (a JSON object; money as strings).
        index: the record's leaf index in the log.
        proof: inclusion proof hashes, leaf to root.
        checkpoint: the signed checkpoint note (C2SP signed note) the proof leads to, with the
            witnesses' cosignature lines the host had for it, if any.
    """

    record: Mapping[str, Any]
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def to_json(self) -> str:
        """Canonical (RFC 8785) JSON text of the receipt."""
        return canonicalize(
            {
                "format": RECEIPT_FORMAT,
                "record": dict(self.record),
                "index": self.index,
                "proof": [base64.b64encode(h).decode() for h in self.proof],
                "checkpoint": self.checkpoint,
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        """Parse `to_json` output; refuse other formats, duplicate keys and floats."""
        try:
            obj = json.loads(
                text,
                object_pairs_hook=_no_duplicate_keys,
                parse_float=_refuse_float,
                parse_constant=_refuse_float,
            )
        except ValueError as e:  # JSONDecodeError and our hooks' errors
            raise MalformedReceiptError(f"receipt is not JSON in our form: {e}") from None
        if not isinstance(obj, dict):
            raise MalformedReceiptError("receipt is not a JSON object")
        if obj.get("format") != RECEIPT_FORMAT:
            raise MalformedReceiptError(f"format {obj.get('format')!r}, want {RECEIPT_FORMAT!r}")
        if set(obj) != {"format", "record", "index", "proof", "checkpoint"}:
            raise MalformedReceiptError(f"receipt has fields {sorted(obj)}")
        record, index, proof, checkpoint = (
            obj[k] for k in ("record", "index", "proof", "checkpoint")
        )
        if not isinstance(record, dict):
            raise MalformedReceiptError("record is not a JSON object")
        if type(index) is not int or index < 0:
            raise MalformedReceiptError(f"index {index!r}: want an int >= 0")
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            raise MalformedReceiptError("proof: want a list of base64 strings")
        if not isinstance(checkpoint, str):
            raise MalformedReceiptError("checkpoint: want the signed note text")
        return cls(record, index, tuple(_decode_hash(h) for h in proof), checkpoint)

    def to_tlog_proof(self) -> str:
        """C2SP tlog-proof text; the record's canonical JSON rides in the `extra` line."""
        lines = [
            TLOG_PROOF_HEADER,
            "extra " + base64.b64encode(leaf_data(self.record)).decode(),
            f"index {self.index}",
            *(base64.b64encode(h).decode() for h in self.proof),
            "",
        ]
        return "\n".join(lines) + "\n" + self.checkpoint

    @classmethod
    def from_tlog_proof(cls, text: str) -> Receipt:
        """Parse C2SP tlog-proof text whose `extra` line is a record's canonical JSON."""
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise MalformedReceiptError("tlog-proof has no blank line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != TLOG_PROOF_HEADER:
            raise MalformedReceiptError(
                f"tlog-proof header {lines[0]!r}, want {TLOG_PROOF_HEADER!r}"
            )
        if len(lines) < 3 or not lines[1].startswith("extra "):
            raise MalformedReceiptError("tlog-proof has no `extra` line carrying the record")
        try:
            record = json.loads(
                base64.b64decode(lines[1][len("extra ") :], validate=True),
                object_pairs_hook=_no_duplicate_keys,
                parse_float=_refuse_float,
                parse_constant=_refuse_float,
            )
        except (binascii.Error, ValueError) as e:
            raise MalformedReceiptError(
                f"tlog-proof extra is not a base64 JSON record: {e}"
            ) from None
        if not isinstance(record, dict):
            raise MalformedReceiptError("tlog-proof extra is not a JSON object")
        index_text = lines[2].removeprefix("index ")
        if not lines[2].startswith("index ") or not (index_text.isascii() and index_text.isdigit()):
            raise MalformedReceiptError(f"tlog-proof index line {lines[2]!r}: want 'index <n>'")
        return cls(record, int(index_text), tuple(_decode_hash(h) for h in lines[3:]), checkpoint)


@dataclass(frozen=True)
class VerifiedReceipt:
    """What `verify_receipt` established.

    Attributes:
        record: the record projection, now known to be in the log.
        index: its leaf index.
        leaf_hash: hash_leaf(JCS(record)).
        checkpoint: the verified checkpoint (origin, size, root) that includes it.
    """

    record: Mapping[str, Any]
    index: int
    leaf_hash: bytes
    checkpoint: Checkpoint


def verify_receipt(
    receipt: Receipt,
    verifier: Verifier | str | Sequence[Verifier | str],
    *,
    origin: str | None = None,
) -> VerifiedReceipt:
    """Check a receipt offline against the log's verifier key(s).

    Raises the specific TlogError of the first step that fails.
    """
    # (1) The checkpoint is signed by a key we trust.
    checkpoint = Checkpoint.from_text(open_note(receipt.checkpoint, verifier))
    # (2) ... for the log we expect.
    if origin is not None and checkpoint.origin != origin:
        raise OriginMismatchError(checkpoint.origin, origin)
    # (3) The index lies inside the signed tree: the proof's size is the checkpoint's.
    if not 0 <= receipt.index < checkpoint.size:
        raise IndexOutOfRangeError(receipt.index, checkpoint.size)
    # (4) The leaf is the record we hold, recomputed, never taken from the receipt.
    leaf = leaf_hash(receipt.record)
    # (5) The proof leads from that leaf to the signed root.
    verify_inclusion(receipt.index, checkpoint.size, leaf, receipt.proof, checkpoint.root_hash)
    return VerifiedReceipt(receipt.record, receipt.index, leaf, checkpoint)


def _decode_hash(text: str) -> bytes:
    try:
        h = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedReceiptError(f"proof hash {text!r} is not base64") from None
    if len(h) != HASH_SIZE:
        raise MalformedReceiptError(f"proof hash has {len(h)} bytes, want {HASH_SIZE}")
    return h


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _refuse_float(text: str) -> Any:
    raise ValueError(f"number {text} is not an int: money and counts are strings or ints")

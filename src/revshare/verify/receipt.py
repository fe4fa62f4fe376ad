"""Check a receipt offline: the record, its inclusion proof and the signed checkpoint.

The steps are those of `revshare.tlog.verify_receipt`: (1) the checkpoint note is signed by
the host key the caller trusts; (2) its origin is the expected log, if one is given; (3) the
index lies inside the signed size; (4) the leaf is recomputed from the record; (5) the proof
leads from that leaf to the signed root. The first failure raises its own TlogError, and only a
TlogError: a receipt nested too deep, or a record no leaf can be (a lone surrogate in a key), is a
MalformedReceiptError.

With a witness policy (C2SP tlog-policy, `policy=`), (6) the checkpoint's cosignatures must meet
its quorum (`revshare.verify.witnessed`): a receipt of a log shown to this customer only, forked
from the one the witnesses saw, fails here, naming the missing witnesses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from revshare.tlog import MalformedReceiptError, Receipt, ReceiptError, TlogError, VerifiedReceipt, verify_receipt
from revshare.tlog.note import Verifier
from revshare.tlog.policy import Policy, PolicyVerdict
from revshare.tlog.receipt import TLOG_PROOF_HEADER
from revshare.verify.witnessed import check_cosigned, describe

__all__ = ["ReceiptVerdict", "read_receipt", "verify_receipt_text"]


@dataclass(frozen=True)
class ReceiptVerdict:
    """A receipt that verified.

    Attributes:
        verified: what tlog.verify_receipt established (record, index, leaf hash, checkpoint).
        witnessed: with a policy, the cosignatures that met its quorum (and the policy); else None.
    """

    verified: VerifiedReceipt
    witnessed: tuple[PolicyVerdict, Policy] | None = None

    @property
    def record(self) -> Any:
        return self.verified.record

    def lines(self) -> list[str]:
        """A human summary: what is now proven."""
        v = self.verified
        r = v.record
        return [
            f"record {r.get('record_id')} (seq {r.get('seq')}) is leaf {v.index} of {v.checkpoint.origin}",
            f"checkpoint size {v.checkpoint.size}, root {v.checkpoint.root_hash.hex()}",
            f"model {r.get('model')}, {r.get('prompt_tokens')} prompt + {r.get('completion_tokens')} completion "
            f"tokens, {r.get('amount')} {r.get('currency')}, outcome {r.get('outcome')}",
            *([describe(*self.witnessed)] if self.witnessed is not None else []),
        ]


def read_receipt(text: str) -> Receipt:
    """A receipt from its JSON form or its C2SP tlog-proof form (told apart by the first line)."""
    try:
        if text.startswith(TLOG_PROOF_HEADER):
            return Receipt.from_tlog_proof(text)
        return Receipt.from_json(text)
    except RecursionError:
        raise MalformedReceiptError("receipt is not JSON in our form: nested too deep") from None


def verify_receipt_text(
    text: str, verifier: Verifier | str | Sequence[Verifier | str], *, origin: str | None = None,
    record_id: str | None = None, policy: Policy | None = None,
) -> ReceiptVerdict:
    """Parse and verify a receipt; `record_id`, if given, must be the record it proves; `policy`, if
    given, the witness policy its checkpoint's cosignatures must meet."""
    receipt = read_receipt(text)
    try:
        verified = verify_receipt(receipt, verifier, origin=origin)
    except TlogError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:  # the record's JCS: a lone surrogate in a key
        raise MalformedReceiptError(f"the record cannot be a leaf: {type(exc).__name__}: {exc}") from None
    if record_id is not None and verified.record.get("record_id") != record_id:
        raise ReceiptError(f"receipt proves record {verified.record.get('record_id')!r}, want {record_id!r}")
    if policy is None:
        return ReceiptVerdict(verified)
    witnessed = check_cosigned(receipt.checkpoint, policy, verifier, origin=verified.checkpoint.origin)
    return ReceiptVerdict(verified, (witnessed, policy))

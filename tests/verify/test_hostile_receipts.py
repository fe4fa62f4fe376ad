"""Receipts and checkpoints a customer or licensor was handed: whatever they hold, a TlogError, never another.

`revshare verify receipt` prints one FAILED line for a TlogError; anything else would be a traceback.
"""

from __future__ import annotations

import base64
import json

import pytest

from revshare.settlement import bundle_layout as layout
from revshare.tlog import MalformedReceiptError, Receipt, TlogError
from revshare.verify import verify_receipt_text
from tests.support.settled_bundles import Settled

NESTED = "[" * 100_000


def _genuine(settled: Settled) -> Receipt:
    carried = layout.CarriedLeaf.parse((settled.feb / layout.CARRIED).read_bytes(), 1)
    return Receipt(json.loads(carried.data), carried.index, carried.proof, (settled.feb / layout.CHECKPOINT).read_text())


@pytest.mark.parametrize("text", [
    NESTED, '{"format": "revshare.receipt/v1", "record": ' + NESTED,
    "c2sp.org/tlog-proof@v1\nextra " + base64.b64encode(NESTED.encode()).decode() + "\nindex 0\n\nx\n",
], ids=["nested-json", "nested-record", "nested-tlog-proof-extra"])
def test_a_receipt_nested_too_deep_is_malformed(settled_bundles: Settled, text: str) -> None:
    with pytest.raises(MalformedReceiptError, match="nested too deep"):
        verify_receipt_text(text, settled_bundles.vkey.read_text().strip())


@pytest.mark.parametrize("record", [{"a": "\ud800"}, {"a": 2**64}, {"\ud800": 1}],
                         ids=["lone-surrogate", "integer-beyond-2^53", "lone-surrogate-key"])
def test_a_record_that_cannot_be_a_leaf_is_a_tlog_error(settled_bundles: Settled, record: dict[str, object]) -> None:
    genuine = _genuine(settled_bundles)
    text = json.dumps({"format": "revshare.receipt/v1", "record": record, "index": genuine.index,
                       "proof": [base64.b64encode(h).decode() for h in genuine.proof],
                       "checkpoint": genuine.checkpoint})
    with pytest.raises(TlogError):
        verify_receipt_text(text, settled_bundles.vkey.read_text().strip())

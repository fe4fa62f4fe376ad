"""revshare.verify: what a licensor or a customer runs, offline, on what the host gave them.

Imports only `revshare.tlog` (and, for statements, `revshare.settlement`, `revshare.records` for
the leaf projection and `revshare.instants`): never the API, the ledger or an engine, so
`pip install revshare` with the base dependencies is enough. A statement's verification is in
`statement` (the numbered steps), `files` (regular files of a bounded size, never waited on),
`bundle` (reading the files), `leaves` and `scan` (the range's leaves, streamed), `figures`
(step (5)) and `errors`.

    verify_receipt_text(text, vkey)             a receipt (JSON or C2SP tlog-proof) -> ReceiptVerdict
    verify_leaves(leaves, checkpoint, vkey)     exported leaves rebuild a signed checkpoint's root
    verify_extension(old, new, proof, vkey)     a newer checkpoint extends an older one (consistency)
    verify_bundle(directory, vkey)              a licensor's statement bundle, steps (0)-(5)
"""

from __future__ import annotations

from revshare.verify.log import LeavesVerdict, verify_extension, verify_leaves
from revshare.verify.receipt import ReceiptVerdict, read_receipt, verify_receipt_text
from revshare.verify.statement import StatementVerdict, StatementVerifyError, verify_bundle

__all__ = [
    "LeavesVerdict",
    "ReceiptVerdict",
    "StatementVerdict",
    "StatementVerifyError",
    "read_receipt",
    "verify_bundle",
    "verify_extension",
    "verify_leaves",
    "verify_receipt_text",
]

"""The acceptance history of a statement bundle (acceptances.json): signed by the host, read strictly.

    check_acceptances(directory, verifier, licensor, period) -> AcceptanceHistory | None

None for a bundle without the file (exported before it existed). Otherwise the signature in
acceptances.sig must verify under the trusted key over the document's JCS bytes, the document
must be exactly what `revshare.settlement.bundle_acceptances` writes, and it must be of the
statements' licensor and period; else a StatementVerifyError of one line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from revshare.settlement import bundle_layout as layout
from revshare.settlement.bundle_acceptances import ACCEPTANCES, ACCEPTANCES_SIG, AcceptanceHistory
from revshare.tlog import TlogError, verify_json
from revshare.tlog.note import Verifier
from revshare.verify.bundle import read_json, read_signature
from revshare.verify.errors import BundleFormatError, StatementSignatureError

__all__ = ["check_acceptances"]


def check_acceptances(directory: Path, verifier: Verifier | str, licensor: str,
                      period: str) -> AcceptanceHistory | None:
    """The bundle's acceptance history, verified, or None when it has none."""
    if not os.path.lexists(directory / ACCEPTANCES):
        return None
    doc = read_json(directory / ACCEPTANCES, layout.MAX_DOCUMENT, "the acceptance history")
    signature, _, _ = read_signature(directory / ACCEPTANCES_SIG, ACCEPTANCES)
    try:
        verify_json(doc, signature, verifier)
    except (TlogError, ValueError) as exc:
        raise StatementSignatureError(f"{ACCEPTANCES_SIG} does not verify under the trusted key ({exc})",
                                      ACCEPTANCES) from None
    try:
        history = AcceptanceHistory.from_json(doc)
    except ValueError as exc:
        raise BundleFormatError(str(exc), ACCEPTANCES) from None
    if (history.licensor, history.period) != (licensor, period):
        raise BundleFormatError(f"{ACCEPTANCES} is of {history.licensor!r} {history.period!r}, the statements of "
                                f"{licensor!r} {period!r}", ACCEPTANCES)
    return history

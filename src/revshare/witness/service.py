"""The witness: check a submitted checkpoint against the latest one cosigned, then cosign it.

`Witness.add_checkpoint(body)` follows C2SP tlog-witness, in the spec's order:

    (1) parse the body: old size, proof lines, blank line, signed note   MalformedRequestError (400)
    (2) the origin is a log this witness follows                        UnknownLogError (404)
    (3) a signature of the log's key verifies; others are ignored       LogSignatureError (403)
    (4) it is a checkpoint with no extension line, old size <= size     MalformedRequestError (400)
    (5) the old size is the latest cosigned size (0 if none)            StaleSizeError (409, that size)
    (6) the proof leads from the latest cosigned root to this root;     BadProofError (422)
        at the same size, the same root                                 ForkError (409)
    (7) cosign, and store the new state only if the state read in (5)
        is still there (compare-and-swap), else                         StaleSizeError (409)

and returns the cosignature line. Requests refused at (6) are kept as evidence. The HTTP
status of each error is app.py's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from revshare.tlog.checkpoint import Checkpoint
from revshare.tlog.cosignature import WitnessKey
from revshare.tlog.errors import MalformedCheckpointError, NoteError, ProofError
from revshare.tlog.hashing import EMPTY_ROOT
from revshare.tlog.note import Verifier, open_note, parse_note
from revshare.tlog.proof import verify_consistency
from revshare.witness.errors import (
    BadProofError,
    ForkError,
    LogSignatureError,
    MalformedRequestError,
    StaleSizeError,
    UnknownLogError,
)
from revshare.witness.protocol import MAX_SIZE, AddCheckpointRequest, parse_add_checkpoint, render_add_checkpoint
from revshare.witness.store import LogState, WitnessStore

__all__ = ["Witness"]


class Witness:
    """Cosigns checkpoints of the logs it follows, never two that are inconsistent.

    Args:
        key: the witness's cosigning key.
        logs: origin -> the log's verifier keys.
        store: where the latest cosigned state of each log lives.
        clock: POSIX seconds, for cosignature timestamps.
        before_swap: called after every check passed, just before the compare-and-swap (tests
            use it to line up concurrent submissions against the same state).
    """

    def __init__(
        self,
        key: WitnessKey,
        logs: Mapping[str, tuple[Verifier, ...]],
        store: WitnessStore,
        *,
        clock: Callable[[], float] = time.time,
        before_swap: Callable[[], None] | None = None,
    ) -> None:
        self.key = key
        self.logs = dict(logs)
        self.store = store
        self.clock = clock
        self.before_swap = before_swap

    def add_checkpoint(self, body: bytes) -> str:
        """Handle one add-checkpoint request body; return the cosignature line(s) to send back."""
        request = parse_add_checkpoint(body)  # (1)
        try:
            note = parse_note(request.note)
        except NoteError as exc:
            raise MalformedRequestError(f"checkpoint note: {exc}") from None
        origin = note.text.split("\n", 1)[0]
        keys = self.logs.get(origin)  # (2)
        if keys is None:
            raise UnknownLogError(origin)
        try:  # (3)
            text = open_note(request.note, keys)
        except NoteError as exc:
            raise LogSignatureError(f"{origin}: {exc}") from None
        checkpoint = self._checkpoint(text, request)  # (4)
        now = int(self.clock())
        current = self.store.latest(origin)  # (5)
        known = 0 if current is None else current.size
        if request.old_size != known:
            raise StaleSizeError(request.old_size, known)
        self._check_consistency(checkpoint, current, request, now)  # (6)
        cosignature = self.key.cosign(text, now)  # (7)
        log_lines = "".join(s.to_line() for s in note.signatures
                            if any((s.name, s.key_id) == (k.name, k.key_id) for k in keys))
        new = LogState(checkpoint.size, checkpoint.root_hash, text + "\n" + log_lines + cosignature.to_line(), now)
        if self.before_swap is not None:
            self.before_swap()
        written, found = self.store.compare_and_swap(origin, current, new)
        if not written:
            raise StaleSizeError(request.old_size, 0 if found is None else found.size)
        return cosignature.to_line()

    def _checkpoint(self, text: str, request: AddCheckpointRequest) -> Checkpoint:
        try:
            checkpoint = Checkpoint.from_text(text)
        except MalformedCheckpointError as exc:
            raise MalformedRequestError(f"checkpoint: {exc}") from None
        if checkpoint.extensions:
            raise MalformedRequestError(
                f"checkpoint has {len(checkpoint.extensions)} extension line(s): this witness cosigns none")
        if checkpoint.size > MAX_SIZE:
            raise MalformedRequestError(f"checkpoint size {checkpoint.size}: want <= 2**63 - 1")
        if request.old_size > checkpoint.size:
            raise MalformedRequestError(f"old size {request.old_size} > checkpoint size {checkpoint.size}")
        return checkpoint

    def _check_consistency(self, checkpoint: Checkpoint, current: LogState | None,
                           request: AddCheckpointRequest, now: int) -> None:
        if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            self._refuse(checkpoint.origin, now, request, BadProofError(
                f"a checkpoint of size 0 has root {checkpoint.root_hash.hex()}, want {EMPTY_ROOT.hex()}"))
        if current is None:
            return  # first contact: old size 0 and no proof (protocol.py); trust on first use
        if checkpoint.size == current.size:
            if request.proof:
                self._refuse(checkpoint.origin, now, request, BadProofError(
                    f"{len(request.proof)} proof hashes between equal sizes, want none"))
            if checkpoint.root_hash != current.root:
                self._refuse(checkpoint.origin, now, request, ForkError(
                    checkpoint.origin, checkpoint.size, checkpoint.root_hash, current.root))
            return
        if current.size == 0:
            return  # nothing to prove from the empty tree, and the proof is empty (protocol.py)
        try:
            verify_consistency(current.size, checkpoint.size, request.proof, current.root, checkpoint.root_hash)
        except ProofError as exc:
            self._refuse(checkpoint.origin, now, request, BadProofError(
                f"consistency proof from size {current.size} to {checkpoint.size}: {exc}"))

    def _refuse(self, origin: str, now: int, request: AddCheckpointRequest, error: BadProofError | ForkError) -> None:
        """Keep a request the log signed that shows a fork or a bad proof, then raise its error."""
        body = render_add_checkpoint(request.old_size, request.proof, request.note).decode()
        self.store.record_evidence(origin, now, f"{type(error).__name__}: {error}", body)
        raise error

    def latest_checkpoint(self, origin: str) -> str:
        """The latest checkpoint of `origin` this witness cosigned, as a signed note with its cosignature."""
        if origin not in self.logs:
            raise UnknownLogError(origin)
        state = self.store.latest(origin)
        if state is None:
            raise UnknownLogError(origin, "has no checkpoint cosigned by this witness yet")
        return state.note


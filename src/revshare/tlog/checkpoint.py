"""C2SP tlog-checkpoint: the note text that states a log's size and root.

    example.com/revshare
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

Lines: the origin (the log's identity), the tree size in ASCII decimal, the standard base64
of the 32-byte RFC 6962 root, then optional non-empty extension lines; every line ends in
a newline. The signature lines around it belong to the signed note (revshare.tlog.note).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from revshare.tlog.errors import (
    CheckpointExtensionError,
    CheckpointNewlineError,
    CheckpointOriginError,
    CheckpointRootHashError,
    CheckpointSizeError,
    CheckpointTooShortError,
    OriginMismatchError,
)
from revshare.tlog.hashing import HASH_SIZE
from revshare.tlog.proof import verify_consistency

__all__ = ["Checkpoint", "verify_checkpoint_consistency"]


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of (origin, size, root).

    Attributes:
        origin: the log's unique identity, e.g. "revshare.example.com/log".
        size: number of leaves.
        root_hash: the 32-byte RFC 6962 root of the first `size` leaves.
        extensions: opaque extra lines, each non-empty (C2SP says NOT RECOMMENDED).
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointOriginError(f"origin {self.origin!r}: want one non-empty line")
        if type(self.size) is not int or self.size < 0:
            raise CheckpointSizeError(f"size {self.size!r}: want an int >= 0")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointRootHashError(
                f"root hash has {len(self.root_hash)} bytes, want {HASH_SIZE}"
            )
        for line in self.extensions:
            if not line or "\n" in line:
                raise CheckpointExtensionError(f"extension {line!r}: want one non-empty line")

    def to_text(self) -> str:
        """The checkpoint body, ending in a newline: the text a signed note signs."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (C2SP tlog-checkpoint), refusing any malformed line."""
        if not text.endswith("\n"):
            raise CheckpointNewlineError("checkpoint text does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointTooShortError(f"checkpoint has {len(lines)} lines, want >= 3")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise CheckpointOriginError("checkpoint origin line is empty")
        return cls(origin, _parse_size(size_text), _parse_root(root_text), tuple(extensions))


def _parse_size(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0"):
        raise CheckpointSizeError(f"size {text!r}: want a decimal without sign or leading 0")
    size = int(text)
    if size >= 2**64:
        raise CheckpointSizeError(f"size {text!r}: want < 2**64")
    return size


def _parse_root(text: str) -> bytes:
    try:
        root = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise CheckpointRootHashError(f"root hash {text!r} is not base64: {e}") from None
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != text:
        raise CheckpointRootHashError(f"root hash {text!r}: want base64 of {HASH_SIZE} bytes")
    return root


def verify_checkpoint_consistency(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that checkpoint `new` extends `old` of the same log (RFC 9162 section 2.1.4.2).

    Sizes and roots come from the (already verified) checkpoints, never from the proof's
    sender. Same size-0 policy as verify_consistency: an old size of 0 is refused.
    """
    if old.origin != new.origin:
        raise OriginMismatchError(new.origin, old.origin)
    verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)

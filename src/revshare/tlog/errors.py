"""Every way a transparency-log operation can fail, one class per failure.

Verifiers raise these with got/want in the message, so a licensor reading a failed check
sees what was computed and what was expected. The HTTP layer maps them to status codes;
nothing here knows about HTTP.

    TlogError
    ├── ProjectionError              a record projection is not a JSON object we can canonicalize
    ├── TreeError                    producer side: asked the tree for something it cannot give
    │   ├── TreeSizeError            a size beyond the tree's current size
    │   ├── MissingNodeError         the store lacks a subtree hash it must hold
    │   └── StaleAppendError         the tree grew after an append was prepared
    ├── ProofError                   a proof did not verify
    │   ├── IndexOutOfRangeError     leaf index >= tree size
    │   ├── HashSizeError            a leaf hash that is not 32 bytes
    │   ├── ProofSizeError           wrong number of hashes in the proof
    │   ├── RootMismatchError        recomputed root != expected root
    │   ├── InconsistentTreeError    size2 < size1: a log never shrinks
    │   └── EmptyTreeProofError      consistency from size 0 (refused by policy, see TLOG.md)
    ├── MalformedCheckpointError     checkpoint text not in C2SP tlog-checkpoint form
    │   ├── CheckpointNewlineError   text does not end with a newline
    │   ├── CheckpointTooShortError  fewer than three lines
    │   ├── CheckpointOriginError    empty origin line
    │   ├── CheckpointSizeError      size not a canonical decimal
    │   ├── CheckpointRootHashError  root hash not base64 of 32 bytes
    │   └── CheckpointExtensionError an empty extension line
    ├── NoteError                    C2SP signed-note failures
    │   ├── MalformedNoteError       note text not in signed-note form
    │   ├── MalformedKeyError        verifier or signer key text not in C2SP form
    │   ├── UnsupportedKeyTypeError  key algorithm byte other than 0x01 (Ed25519)
    │   ├── KeyIdMismatchError       key id in the key text does not match name and key
    │   ├── UnknownKeyError          no signature from any known key
    │   ├── InvalidSignatureError    a known key's signature does not verify
    │   └── InsecureKeyFileError     a private key file readable by group or others
    ├── OriginMismatchError          a checkpoint of another log than the one expected
    └── ReceiptError
        └── MalformedReceiptError    receipt JSON or tlog-proof text not in our form
"""

from __future__ import annotations

__all__ = [
    "CheckpointExtensionError",
    "CheckpointNewlineError",
    "CheckpointOriginError",
    "CheckpointRootHashError",
    "CheckpointSizeError",
    "CheckpointTooShortError",
    "EmptyTreeProofError",
    "HashSizeError",
    "InconsistentTreeError",
    "IndexOutOfRangeError",
    "InsecureKeyFileError",
    "InvalidSignatureError",
    "KeyIdMismatchError",
    "MalformedCheckpointError",
    "MalformedKeyError",
    "MalformedNoteError",
    "MalformedReceiptError",
    "MissingNodeError",
    "NoteError",
    "OriginMismatchError",
    "ProjectionError",
    "ProofError",
    "ProofSizeError",
    "ReceiptError",
    "RootMismatchError",
    "StaleAppendError",
    "TlogError",
    "TreeError",
    "TreeSizeError",
    "UnknownKeyError",
    "UnsupportedKeyTypeError",
]


class TlogError(Exception):
    """Base of every error raised by revshare.tlog."""


class ProjectionError(TlogError, ValueError):
    """A record projection that cannot become a leaf (not an object, a float, a huge int...)."""


class TreeError(TlogError):
    """The tree was asked for something it cannot produce."""


class TreeSizeError(TreeError):
    """A requested size is beyond the tree's current size."""

    def __init__(self, got: int, size: int) -> None:
        super().__init__(f"size {got} is beyond the tree: want <= {size}")
        self.got, self.size = got, size


class MissingNodeError(TreeError):
    """The store lacks a perfect-subtree hash that the tree's size says it must hold."""

    def __init__(self, level: int, index: int) -> None:
        super().__init__(f"store has no node at level {level}, index {index}")
        self.level, self.index = level, index


class StaleAppendError(TreeError):
    """An append prepared for a tree of one size, applied to the tree at another size."""

    def __init__(self, prepared_at: int, size: int) -> None:
        super().__init__(f"the append was prepared for a tree of {prepared_at} leaves; the tree now has {size}")
        self.prepared_at = prepared_at
        self.size = size


class ProofError(TlogError):
    """A Merkle proof did not verify."""


class IndexOutOfRangeError(ProofError):
    """A leaf index at or beyond the tree size (RFC 9162 requires 0 <= index < size)."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(f"index {index} is beyond size: want index < {size}")
        self.index, self.size = index, size


class HashSizeError(ProofError):
    """A leaf hash of the wrong length."""

    def __init__(self, got: int, want: int) -> None:
        super().__init__(f"leaf hash has {got} bytes, want {want}")
        self.got, self.want = got, want


class ProofSizeError(ProofError):
    """A proof with the wrong number of hashes for its index and sizes."""

    def __init__(self, got: int, want: int) -> None:
        super().__init__(f"proof has {got} hashes, want {want}")
        self.got, self.want = got, want


class RootMismatchError(ProofError):
    """The root recomputed from a proof is not the expected root."""

    def __init__(self, got: bytes, want: bytes, what: str = "root") -> None:
        super().__init__(f"calculated {what} {got.hex()} does not match expected {want.hex()}")
        self.got, self.want, self.what = got, want, what


class InconsistentTreeError(ProofError):
    """size2 < size1: no append-only log can get smaller."""

    def __init__(self, size1: int, size2: int) -> None:
        super().__init__(f"size2 ({size2}) < size1 ({size1}): want size1 <= size2")
        self.size1, self.size2 = size1, size2


class EmptyTreeProofError(ProofError):
    """A consistency proof from size 0, which proves nothing; refused (see docs/TLOG.md)."""

    def __init__(self) -> None:
        super().__init__("consistency proof from an empty tree (size1 = 0) is meaningless")


class MalformedCheckpointError(TlogError, ValueError):
    """Checkpoint text that is not a C2SP tlog-checkpoint body."""


class CheckpointNewlineError(MalformedCheckpointError):
    """Checkpoint text does not end with a newline."""


class CheckpointTooShortError(MalformedCheckpointError):
    """Checkpoint text has fewer than the three mandatory lines."""


class CheckpointOriginError(MalformedCheckpointError):
    """The origin line is empty."""


class CheckpointSizeError(MalformedCheckpointError):
    """The size line is not a canonical ASCII decimal (no sign, no leading zeros)."""


class CheckpointRootHashError(MalformedCheckpointError):
    """The root hash line is not standard base64 of 32 bytes."""


class CheckpointExtensionError(MalformedCheckpointError):
    """An extension line is empty."""


class NoteError(TlogError):
    """A C2SP signed note or note key failed."""


class MalformedNoteError(NoteError, ValueError):
    """Text that is not a signed note (no signature block, bad line, control characters)."""


class MalformedKeyError(NoteError, ValueError):
    """Key text that is not `<name>+<hex id>+<base64>` (or `PRIVATE+KEY+...` for signers)."""


class UnsupportedKeyTypeError(NoteError):
    """A key whose algorithm byte is not 0x01 (Ed25519)."""

    def __init__(self, got: int) -> None:
        super().__init__(f"key algorithm 0x{got:02x} is not supported, want 0x01 (Ed25519)")
        self.got = got


class KeyIdMismatchError(NoteError):
    """The key id written in the key text is not the hash of its name and key."""

    def __init__(self, got: bytes, want: bytes) -> None:
        super().__init__(f"key id {got.hex()} does not match the key, want {want.hex()}")
        self.got, self.want = got, want


class UnknownKeyError(NoteError):
    """The note carries no signature from any key the caller trusts."""

    def __init__(self, got: list[str], want: list[str]) -> None:
        super().__init__(f"no signature from a known key: note signed by {got}, want one of {want}")
        self.got, self.want = got, want


class InvalidSignatureError(NoteError):
    """A signature by a known key that does not verify over the text."""

    def __init__(self, name: str, key_id: bytes) -> None:
        super().__init__(f"invalid signature for key {name}+{key_id.hex()}")
        self.name, self.key_id = name, key_id


class InsecureKeyFileError(NoteError):
    """A private key file that group or others may read or write."""

    def __init__(self, path: str, mode: int) -> None:
        super().__init__(f"key file {path} has mode {mode:o}, want 600")
        self.path, self.mode = path, mode


class ReceiptError(TlogError):
    """A receipt (proof bundle) could not be read or checked."""


class MalformedReceiptError(ReceiptError, ValueError):
    """Receipt text that is not in our JSON or C2SP tlog-proof form."""


class OriginMismatchError(TlogError):
    """A checkpoint names another log than the one the caller expects."""

    def __init__(self, got: str, want: str) -> None:
        super().__init__(f"checkpoint origin {got!r}, want {want!r}")
        self.got, self.want = got, want

"""Every way a statement bundle can fail to verify, one class per step of `verify_bundle`.

The first failure raises the error of its step (`step`, numbered as in
`revshare.verify.statement`), prefixed with the statement's file; the message names the file,
the leaf (index, seq, line) or the figure (JSON path, got/want):

    StatementVerifyError
    ├── BundleFormatError          a file is missing or malformed (step -1: the bundle)
    ├── StatementSignatureError    (0) the statement's signature does not verify
    ├── CheckpointBindingError     (1) a checkpoint does not verify or is not the one named
    │   └── WitnessPolicyError     (1) with a witness policy: its cosignatures do not meet the quorum
    ├── LeafRootError              (2) the border and the leaves do not rebuild the roots
    ├── ConsistencyError           (3) the current checkpoint does not extend the previous one
    ├── LeafRangeError             (4) a leaf out of the range, not a projection, not carried
    └── FigureMismatchError        (5) a figure the leaves and terms do not give
"""

from __future__ import annotations

__all__ = [
    "BundleFormatError",
    "CheckpointBindingError",
    "ConsistencyError",
    "FigureMismatchError",
    "LeafRangeError",
    "LeafRootError",
    "StatementSignatureError",
    "StatementVerifyError",
    "WitnessPolicyError",
]


def one_line(text: str) -> str:
    """`text` as one line of printable text: a control character (a newline, an escape) as its Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class StatementVerifyError(Exception):
    """A statement bundle that does not verify; `step` is the step that failed (-1: the bundle).

    The message is one line: what it quotes from the bundle cannot break it or drive a terminal.
    """

    step = -1

    def __init__(self, message: str, statement: str = "") -> None:
        super().__init__(one_line(f"{statement}: {message}" if statement else message))


class BundleFormatError(StatementVerifyError):
    """A bundle file is missing or malformed."""


class StatementSignatureError(StatementVerifyError):
    """(0) The statement's Ed25519 signature does not verify under the trusted key."""

    step = 0


class CheckpointBindingError(StatementVerifyError):
    """(1) A checkpoint note does not verify, or is not the checkpoint the statement names."""

    step = 1


class WitnessPolicyError(CheckpointBindingError):
    """(1) With a witness policy: the current checkpoint lacks cosignatures its quorum wants, or one fails."""


class LeafRootError(StatementVerifyError):
    """(2) The border does not fold to the previous root, or the leaves do not extend it to the current one."""

    step = 2


class ConsistencyError(StatementVerifyError):
    """(3) The consistency proof fails, or the history differs from the bundle the licensor holds."""

    step = 3


class LeafRangeError(StatementVerifyError):
    """(4) A leaf is out of the range or not a usage projection; a carried or deferred leaf is wrong."""

    step = 4


class FigureMismatchError(StatementVerifyError):
    """(5) A figure of the statement is not what the leaves and the terms give."""

    step = 5

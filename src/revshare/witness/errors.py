"""Why a witness refuses a checkpoint, one class per answer of C2SP tlog-witness.

The service raises these; only the HTTP layer (app.py) knows their status codes, listed here
for the reader:

    WitnessError
    ├── MalformedRequestError   400  not an add-checkpoint body, a malformed checkpoint, extension
    │                                lines, or an old size larger than the checkpoint's size
    ├── LogSignatureError       403  no signature of the log's key verifies
    ├── UnknownLogError         404  an origin this witness does not follow (or has not cosigned yet)
    ├── StaleSizeError          409  the old size is not the latest cosigned size (body: that size)
    ├── ForkError               409  same size as the latest cosigned checkpoint, another root
    ├── BadProofError           422  the consistency proof does not verify
    └── WitnessConfigError           the operator's witness folder or witness.toml is wrong
"""

from __future__ import annotations

__all__ = [
    "BadProofError",
    "ForkError",
    "LogSignatureError",
    "MalformedRequestError",
    "StaleSizeError",
    "UnknownLogError",
    "WitnessConfigError",
    "WitnessError",
]


class WitnessError(Exception):
    """Base of every refusal of revshare.witness."""


class MalformedRequestError(WitnessError, ValueError):
    """The request is not what the add-checkpoint protocol allows."""


class LogSignatureError(WitnessError):
    """The checkpoint carries no valid signature of the log's key."""


class UnknownLogError(WitnessError):
    """The origin is not a log this witness follows, or it has cosigned none of its checkpoints."""

    def __init__(self, origin: str, why: str = "is not a log this witness follows") -> None:
        super().__init__(f"origin {origin!r} {why}")
        self.origin = origin


class StaleSizeError(WitnessError):
    """The old size is not the size of the latest checkpoint this witness cosigned for the log."""

    def __init__(self, got: int, known: int) -> None:
        super().__init__(f"old size {got} is not the latest cosigned size {known}")
        self.got, self.known = got, known


class ForkError(WitnessError):
    """A checkpoint of the latest cosigned size with another root hash: the log has forked."""

    def __init__(self, origin: str, size: int, got: bytes, want: bytes) -> None:
        super().__init__(f"{origin} at size {size}: root {got.hex()} differs from the cosigned root {want.hex()}")
        self.origin, self.size, self.got, self.want = origin, size, got, want


class BadProofError(WitnessError):
    """The consistency proof from the latest cosigned checkpoint does not verify."""


class WitnessConfigError(WitnessError):
    """The witness folder, its key or its witness.toml cannot be used; the message names the file."""

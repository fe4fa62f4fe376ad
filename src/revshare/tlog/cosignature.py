"""C2SP tlog-cosignature, `cosignature/v1`: a witness's timestamped Ed25519 signature of a checkpoint.

A cosignature is one more signed-note line under a checkpoint (revshare.tlog.note):

    — <witness name> base64(key id || timestamp || Ed25519 signature)

    key id          = SHA-256(name || 0x0A || 0x04 || public key)[:4]   (0x04: cosignature/v1)
    timestamp       = 8 bytes, big-endian POSIX seconds, at most 2**63 - 1
    signed message  = "cosignature/v1\\n" || "time <timestamp>\\n" || checkpoint body (with its final newline)
    verifier key    = <name>+<hex key id>+<base64(0x04 || public key)>
    signer key file = PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>, mode 0600

The line format, key ids and name rules are those of note.py; only the algorithm byte, the
signed message and the 72-byte signature differ. A checkpoint's cosignature and its log's
signature cannot be confused: the key ids differ (0x04 against 0x01), and so do the messages.

Errors (all NoteError, see revshare.tlog.errors):

    MalformedCosignatureError       a line of a known witness that is not 8 + 64 bytes, or time > 2**63 - 1
    InvalidCosignatureError         a known witness's cosignature that does not verify (an InvalidSignatureError)
    DuplicateCosignatureError       two cosignature lines of one witness in one note
    FutureCosignatureError          a timestamp further in the future than the caller allows
    UnsupportedCosignatureKeyError  a key whose algorithm byte is not 0x04 (an UnsupportedKeyTypeError)
"""

from __future__ import annotations

import base64
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from revshare.tlog.errors import (
    InsecureKeyFileError,
    InvalidSignatureError,
    KeyIdMismatchError,
    MalformedKeyError,
    NoteError,
    UnsupportedKeyTypeError,
)
from revshare.tlog.note import Signature, decode_key, is_valid_name, key_id, parse_note

__all__ = [
    "ALG_COSIGNATURE_V1",
    "COSIGNATURE_SIZE",
    "HEADER",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignatureVerifier",
    "DuplicateCosignatureError",
    "FutureCosignatureError",
    "InvalidCosignatureError",
    "MalformedCosignatureError",
    "UnsupportedCosignatureKeyError",
    "WitnessKey",
    "cosigned_message",
    "verify_cosignatures",
]

ALG_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
COSIGNATURE_SIZE = 8 + 64  # timestamp, then the Ed25519 signature
MAX_TIMESTAMP = 2**63 - 1


class MalformedCosignatureError(NoteError, ValueError):
    """A known witness's signature line that is not a cosignature/v1 (72 bytes, time <= 2**63 - 1)."""


class InvalidCosignatureError(InvalidSignatureError):
    """A known witness's cosignature that does not verify over the checkpoint and its time."""


class DuplicateCosignatureError(NoteError):
    """Two cosignature lines of one witness (name and key id) in one note."""

    def __init__(self, name: str, key_id: bytes) -> None:
        super().__init__(f"two cosignatures of witness {name}+{key_id.hex()} in one note, want one")
        self.name, self.key_id = name, key_id


class FutureCosignatureError(NoteError):
    """A cosignature dated later than the verifier's clock allows."""

    def __init__(self, name: str, timestamp: int, latest: int) -> None:
        super().__init__(f"cosignature of {name} is dated {timestamp}, in the future: want <= {latest}")
        self.name, self.timestamp, self.latest = name, timestamp, latest


class UnsupportedCosignatureKeyError(UnsupportedKeyTypeError):
    """A witness key whose algorithm byte is not 0x04 (Ed25519 cosignature/v1)."""

    def __init__(self, got: int) -> None:
        NoteError.__init__(self, f"key algorithm 0x{got:02x} is not supported for cosignatures, want 0x04 "
                                 "(Ed25519 cosignature/v1)")
        self.got = got


def cosigned_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header, time line, then the checkpoint body."""
    if not text.endswith("\n"):
        raise MalformedCosignatureError("checkpoint text does not end with a newline")
    _check_timestamp(timestamp)
    return f"{HEADER}time {timestamp}\n{text}".encode()


def _check_timestamp(timestamp: int) -> None:
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedCosignatureError(f"timestamp {timestamp!r}: want an int in [0, 2**63 - 1]")


def _key_id(name: str, public_key: bytes) -> bytes:
    return key_id(name, bytes([ALG_COSIGNATURE_V1]) + public_key)


def _decode_key(name: str, hex_id: str, b64: str) -> bytes:
    """Check a cosignature key text's fields (type 0x04); return the raw 32 bytes."""
    return decode_key(name, hex_id, b64, alg=ALG_COSIGNATURE_V1, unsupported=UnsupportedCosignatureKeyError)


@dataclass(frozen=True)
class Cosignature:
    """One cosignature/v1 line, parsed (not yet verified).

    Attributes:
        name: the witness's key name.
        key_id: 4 bytes, SHA-256(name || 0x0A || 0x04 || public key)[:4].
        timestamp: POSIX seconds when the witness signed.
        signature: the 64-byte Ed25519 signature of cosigned_message(text, timestamp).
    """

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    @classmethod
    def from_signature(cls, sig: Signature) -> Cosignature:
        """Read a note signature line as a cosignature: 8-byte big-endian time, 64-byte signature."""
        if len(sig.signature) != COSIGNATURE_SIZE:
            raise MalformedCosignatureError(
                f"cosignature of {sig.name} has {len(sig.signature)} bytes after its key id, want {COSIGNATURE_SIZE}")
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise MalformedCosignatureError(f"cosignature of {sig.name}: time {timestamp} > 2**63 - 1")
        return cls(sig.name, sig.key_id, timestamp, sig.signature[8:])

    def to_signature(self) -> Signature:
        """The note signature this cosignature is (key id, then time and signature)."""
        return Signature(self.name, self.key_id, self.timestamp.to_bytes(8, "big") + self.signature)

    def to_line(self) -> str:
        """`— <name> <base64(key id || time || signature)>` with its newline."""
        return self.to_signature().to_line()


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's public key, which checks its cosignature/v1 lines.

    Attributes:
        name: the witness's key name (a schema-less URL, by C2SP's advice).
        key_id: 4 bytes, see Cosignature.
        public_key: the 32-byte Ed25519 public key.
    """

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> CosignatureVerifier:
        """A verifier for `name` and a raw 32-byte Ed25519 public key."""
        if not is_valid_name(name):
            raise MalformedKeyError(f"key name {name!r}: want non-empty, no spaces or '+'")
        if len(public_key) != 32:
            raise MalformedKeyError(f"public key has {len(public_key)} bytes, want 32")
        return cls(name, _key_id(name, public_key), public_key)

    @classmethod
    def from_text(cls, vkey: str) -> CosignatureVerifier:
        """Parse `<name>+<hex key id>+<base64(0x04 || public key)>`."""
        parts = vkey.split("+", 2)  # base64 may itself hold '+'
        if len(parts) != 3:
            raise MalformedKeyError("witness verifier key: want <name>+<hex id>+<base64>")
        name, hex_id, b64 = parts
        key = _decode_key(name, hex_id, b64)
        got, want = bytes.fromhex(hex_id), _key_id(name, key)
        if got != want:
            raise KeyIdMismatchError(got, want)
        return cls(name, got, key)

    def to_text(self) -> str:
        """The C2SP vkey text to publish."""
        key = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{key}"

    def matches(self, sig: Signature | Cosignature) -> bool:
        """Whether a signature line is this witness's (same name and key id)."""
        return (sig.name, sig.key_id) == (self.name, self.key_id)

    def verify(self, text: str, cosignature: Cosignature) -> None:
        """Check this witness's cosignature over checkpoint `text`; raise InvalidCosignatureError."""
        if not self.matches(cosignature):
            raise InvalidCosignatureError(cosignature.name, cosignature.key_id)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                cosignature.signature, cosigned_message(text, cosignature.timestamp))
        except InvalidSignature:
            raise InvalidCosignatureError(self.name, self.key_id) from None


def verify_cosignatures(
    note_text: str,
    verifiers: Iterable[CosignatureVerifier | str],
    *,
    not_after: int | None = None,
) -> dict[CosignatureVerifier, Cosignature]:
    """The cosignatures of trusted witnesses on a signed checkpoint, each verified.

    Lines of other keys (the log's own signature, unknown witnesses) are skipped. A trusted
    witness's line must be well formed, verify, and appear once; with `not_after` (POSIX
    seconds), its time must not be later. The log's signature is not checked here: open the
    note with the log's key first (note.open_note).
    """
    known: dict[tuple[str, bytes], CosignatureVerifier] = {}
    for item in verifiers:
        v = CosignatureVerifier.from_text(item) if isinstance(item, str) else item
        if known.setdefault((v.name, v.key_id), v) != v:
            raise MalformedKeyError(f"ambiguous witness key {v.name}+{v.key_id.hex()}")
    note = parse_note(note_text)
    found: dict[CosignatureVerifier, Cosignature] = {}
    for sig in note.signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        if witness in found:
            raise DuplicateCosignatureError(witness.name, witness.key_id)
        cosig = Cosignature.from_signature(sig)
        witness.verify(note.text, cosig)
        if not_after is not None and cosig.timestamp > not_after:
            raise FutureCosignatureError(witness.name, cosig.timestamp, not_after)
        found[witness] = cosig
    return found


@dataclass(frozen=True)
class WitnessKey:
    """A witness's named Ed25519 key, which makes cosignature/v1 lines.

    Attributes:
        name: the witness's key name, e.g. "witness.example.org/w1".
        seed: the 32-byte Ed25519 private seed (left out of repr).
    """

    name: str
    seed: bytes = field(repr=False)
    _private: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    _verifier: CosignatureVerifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise MalformedKeyError(f"key name {self.name!r}: want non-empty, no spaces or '+'")
        if len(self.seed) != 32:
            raise MalformedKeyError(f"Ed25519 seed has {len(self.seed)} bytes, want 32")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "_verifier", CosignatureVerifier.from_public_key(self.name, public))

    @classmethod
    def generate(cls, name: str) -> WitnessKey:
        """A fresh random key named `name`."""
        return cls(name, os.urandom(32))

    @classmethod
    def from_text(cls, skey: str) -> WitnessKey:
        """Parse `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>`."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedKeyError("witness signer key: want PRIVATE+KEY+<name>+<hex id>+<base64>")
        _, _, name, hex_id, b64 = parts
        key = cls(name, _decode_key(name, hex_id, b64))
        if bytes.fromhex(hex_id) != key.key_id:
            raise KeyIdMismatchError(bytes.fromhex(hex_id), key.key_id)
        return key

    def to_text(self) -> str:
        """The signer key text (secret)."""
        b64 = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64}"

    @property
    def key_id(self) -> bytes:
        """4-byte key id (algorithm byte 0x04)."""
        return self._verifier.key_id

    def verifier(self) -> CosignatureVerifier:
        """The matching public verifier."""
        return self._verifier

    def verifier_text(self) -> str:
        """The vkey to publish: `<name>+<hex id>+<base64(0x04 || public key)>`."""
        return self._verifier.to_text()

    def cosign(self, text: str, timestamp: int | None = None) -> Cosignature:
        """A cosignature/v1 of checkpoint `text` at `timestamp` (default: now)."""
        when = int(time.time()) if timestamp is None else timestamp
        return Cosignature(self.name, self.key_id, when, self._private.sign(cosigned_message(text, when)))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the signer key text to a new file with mode 0600 (never overwrites)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (self.to_text() + "\n").encode())
        finally:
            os.close(fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WitnessKey:
        """Read a key file written by `save`; refuse one that group or others can access."""
        p = Path(path)
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            raise InsecureKeyFileError(str(p), mode)
        return cls.from_text(p.read_text().rstrip("\n"))

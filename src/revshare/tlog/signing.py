"""The host's Ed25519 key: generate, store, sign notes and JSON statements.

One key signs checkpoints (as C2SP signed notes) and statements (Ed25519 over the RFC 8785
bytes of a JSON object). The two can never be confused: a note's signed text ends with a
newline, and canonical JSON never contains a raw newline.

The signer key text is the C2SP form `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ||
seed)>`, the same as golang.org/x/mod/sumdb/note, so Go tools can use the same key file.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from revshare.tlog.errors import (
    InsecureKeyFileError,
    InvalidSignatureError,
    KeyIdMismatchError,
    MalformedKeyError,
)
from revshare.tlog.jcs import canonicalize
from revshare.tlog.note import ALG_ED25519, Verifier, decode_key, is_valid_name, sign_note

__all__ = ["HostKey", "verify_json"]


@dataclass(frozen=True)
class HostKey:
    """A named Ed25519 signing key; satisfies the note.Signer protocol.

    Attributes:
        name: the key name, by convention the log's origin.
        seed: the 32-byte Ed25519 private seed (left out of repr).
    """

    name: str
    seed: bytes = field(repr=False)
    _private: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    _verifier: Verifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise MalformedKeyError(f"key name {self.name!r}: want non-empty, no spaces or '+'")
        if len(self.seed) != 32:
            raise MalformedKeyError(f"Ed25519 seed has {len(self.seed)} bytes, want 32")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "_verifier", Verifier.from_public_key(self.name, public))

    @classmethod
    def generate(cls, name: str) -> HostKey:
        """A fresh random key named `name`."""
        return cls(name, os.urandom(32))

    @classmethod
    def from_text(cls, skey: str) -> HostKey:
        """Parse `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`."""
        parts = skey.split("+", 4)  # base64 may itself hold '+'
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedKeyError("signer key: want PRIVATE+KEY+<name>+<hex id>+<base64>")
        _, _, name, hex_id, b64 = parts
        key = cls(name, decode_key(name, hex_id, b64))
        if bytes.fromhex(hex_id) != key.key_id:
            raise KeyIdMismatchError(bytes.fromhex(hex_id), key.key_id)
        return key

    def to_text(self) -> str:
        """The C2SP signer key text (secret)."""
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64}"

    @property
    def key_id(self) -> bytes:
        """4-byte key id (see note.key_id)."""
        return self._verifier.key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._verifier.public_key

    def verifier(self) -> Verifier:
        """The matching public verifier."""
        return self._verifier

    def verifier_text(self) -> str:
        """The C2SP verifier key text to publish: `<name>+<hex id>+<base64>`."""
        return self._verifier.to_text()

    def sign(self, message: bytes) -> bytes:
        """64-byte Ed25519 signature of `message`."""
        return self._private.sign(message)

    def sign_note(self, text: str) -> str:
        """`text` as a C2SP signed note, signed by this key."""
        return sign_note(text, self)

    def sign_json(self, obj: object) -> str:
        """Base64 Ed25519 signature of the RFC 8785 (JCS) bytes of `obj`."""
        return base64.b64encode(self.sign(canonicalize(obj))).decode()

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the signer key text to `path` with mode 0600 (refuses to overwrite)."""
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (self.to_text() + "\n").encode())
        finally:
            os.close(fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HostKey:
        """Read a key file written by `save`; refuse one that group or others can access."""
        p = Path(path)
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            raise InsecureKeyFileError(str(p), mode)
        return cls.from_text(p.read_text().rstrip("\n"))


def verify_json(obj: object, signature: str, verifier: Verifier | str) -> None:
    """Check a `sign_json` signature over `obj`; raise InvalidSignatureError if it fails."""
    v = Verifier.from_text(verifier) if isinstance(verifier, str) else verifier
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignatureError(v.name, v.key_id) from None
    if not v.verify(canonicalize(obj), raw):
        raise InvalidSignatureError(v.name, v.key_id)

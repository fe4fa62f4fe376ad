"""C2SP signed-note: a text plus Ed25519 signature lines, and its verifier keys.

    <text, ending in a newline>
    <blank line>
    — <key name> <base64(key id || signature)>
    ...

The key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), so a
verifier finds its line by (name, key id) and ignores others (witness cosignatures, say).
A verifier key is written `<name>+<hex key id>+<base64(0x01 || public key)>`.
Compatible with golang.org/x/mod/sumdb/note; its test vectors are our known answers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revshare.tlog.errors import (
    InvalidSignatureError,
    KeyIdMismatchError,
    MalformedKeyError,
    MalformedNoteError,
    UnknownKeyError,
    UnsupportedKeyTypeError,
)

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "SIG_PREFIX",
    "Note",
    "Signature",
    "Signer",
    "Verifier",
    "is_valid_name",
    "key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, then a space
MAX_SIGNATURES = 100  # as sumdb/note: bound the work an attacker's note can cost


def key_id(name: str, key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || key), where key = 0x01 || public key."""
    return hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]


def is_valid_name(name: str) -> bool:
    """A key name: non-empty, no whitespace, no '+'."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


class Signer(Protocol):
    """Something that signs note text under a named Ed25519 key (see signing.HostKey)."""

    @property
    def name(self) -> str:
        """The key name written on the signature line."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of `message`."""
        ...


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key that checks note signatures.

    Attributes:
        name: the key name, usually the log's origin.
        key_id: 4 bytes, see key_id().
        public_key: the 32-byte Ed25519 public key.
    """

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Verifier:
        """A verifier for `name` and a raw 32-byte Ed25519 public key."""
        if not is_valid_name(name):
            raise MalformedKeyError(f"key name {name!r}: want non-empty, no spaces or '+'")
        if len(public_key) != 32:
            raise MalformedKeyError(f"public key has {len(public_key)} bytes, want 32")
        return cls(name, key_id(name, bytes([ALG_ED25519]) + public_key), public_key)

    @classmethod
    def from_text(cls, vkey: str) -> Verifier:
        """Parse `<name>+<hex key id>+<base64(0x01 || public key)>`."""
        parts = vkey.split("+", 2)  # base64 may itself hold '+'
        if len(parts) != 3:
            raise MalformedKeyError("verifier key: want <name>+<hex id>+<base64>")
        name, hex_id, b64 = parts
        key = decode_key(name, hex_id, b64)
        got, want = bytes.fromhex(hex_id), key_id(name, bytes([ALG_ED25519]) + key)
        if got != want:
            raise KeyIdMismatchError(got, want)
        return cls(name, got, key)

    def to_text(self) -> str:
        """The C2SP verifier key text."""
        key = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{key}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def decode_key(name: str, hex_id: str, b64: str, *, alg: int = ALG_ED25519,
               unsupported: Callable[[int], Exception] = UnsupportedKeyTypeError) -> bytes:
    """Check a key text's fields; return the raw 32-byte key (public key or seed). `alg` is the
    key type byte it must carry (0x01 a signer's, 0x04 a witness's: `tlog.cosignature`), and
    `unsupported` the error for another type."""
    if not is_valid_name(name):
        raise MalformedKeyError(f"key name {name!r}: want non-empty, no spaces or '+'")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id.lower()):
        raise MalformedKeyError(f"key id {hex_id!r}: want 8 hex digits")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedKeyError(f"key {b64!r} is not base64") from None
    if not raw:
        raise MalformedKeyError("key is empty")
    if raw[0] != alg:
        raise unsupported(raw[0])
    if len(raw) != 33:
        raise MalformedKeyError(f"Ed25519 key has {len(raw) - 1} bytes, want 32")
    return raw[1:]


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key id and the 64-byte signature."""

    name: str
    key_id: bytes
    signature: bytes

    def to_line(self) -> str:
        """`— <name> <base64(key id || signature)>` with its newline."""
        return (
            f"{SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"
        )


@dataclass(frozen=True)
class Note:
    """A parsed signed note (signatures not yet checked)."""

    text: str
    signatures: tuple[Signature, ...]


def parse_note(note_text: str) -> Note:
    """Split a signed note into text and signature lines; check form only, not signatures."""
    if any(ord(c) < 0x20 and c != "\n" for c in note_text):
        raise MalformedNoteError("note has a control character other than newline")
    try:
        note_text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNoteError("note is not valid UTF-8") from None
    split = note_text.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = note_text[: split + 1], note_text[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("note's signature block is empty or lacks its final newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has {len(lines)} signatures, want <= {MAX_SIGNATURES}")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(SIG_PREFIX):
        raise MalformedNoteError(f"signature line {line[:40]!r} does not start with '— '")
    name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
    if not is_valid_name(name) or not b64:
        raise MalformedNoteError(f"signature line {line[:40]!r}: want '— <name> <base64>'")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNoteError(f"signature of {name!r} is not base64") from None
    if len(raw) < 5:
        raise MalformedNoteError(f"signature of {name!r} has {len(raw)} bytes, want >= 5")
    return Signature(name, raw[:4], raw[4:])


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note of `text` (which must end with a newline), one line per signer."""
    if not text.endswith("\n"):
        raise MalformedNoteError("note text does not end with a newline")
    if not signers:
        raise MalformedNoteError("a signed note needs at least one signer")
    message = text.encode()
    lines = []
    for s in signers:
        if not is_valid_name(s.name):
            raise MalformedKeyError(f"signer name {s.name!r}: want non-empty, no spaces or '+'")
        lines.append(Signature(s.name, s.key_id, s.sign(message)).to_line())
    return text + "\n" + "".join(lines)


def open_note(note_text: str, verifiers: Verifier | str | Iterable[Verifier | str]) -> str:
    """Check a signed note against trusted keys and return its text.

    Signatures from keys not in `verifiers` are ignored (they may be witnesses); at least
    one trusted key must have signed, and every trusted key's signature must verify.
    """
    known = _verifier_map(verifiers)
    note = parse_note(note_text)
    message = note.text.encode()
    verified = 0
    for sig in note.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        if not v.verify(message, sig.signature):
            raise InvalidSignatureError(sig.name, sig.key_id)
        verified += 1
    if not verified:
        raise UnknownKeyError(
            [f"{s.name}+{s.key_id.hex()}" for s in note.signatures],
            [f"{n}+{i.hex()}" for n, i in known],
        )
    return note.text


def _verifier_map(
    verifiers: Verifier | str | Iterable[Verifier | str],
) -> dict[tuple[str, bytes], Verifier]:
    if isinstance(verifiers, (Verifier, str)):
        verifiers = [verifiers]
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        v = Verifier.from_text(v) if isinstance(v, str) else v
        seen = known.setdefault((v.name, v.key_id), v)
        if seen != v:
            raise MalformedKeyError(f"ambiguous key {v.name}+{v.key_id.hex()}")
    return known

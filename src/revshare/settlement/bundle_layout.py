"""The statement bundle's layout: the name of every file, and the format of its proof files. Pure.

`revshare export statement-bundle` (`revshare.monthend.statement_bundle`) writes a bundle under
these names and `revshare verify statement` (`revshare.verify`) reads it by them; the files'
contents are described in docs/VERIFY.md ("The bundle"):

    checkpoint, checkpoint.previous     the signed checkpoints at sizes n and m (the second absent when m = 0)
    consistency.json                    the consistency proof from m to n
    border.json                         the border of the tree [0, m)
    leaves.jsonl                        the range's leaves [m, n), one per line
    carried.jsonl                       the carried leaves, with inclusion proofs at size n
    terms.json                          the terms the statements were settled under
    host.vkey                           the host's verifier key
    <name>.json, <name>.sig             each statement (`statement-*`) and its signature
    <name>.previous.json                the statement it chains to, when the host has it

The three proof files are defined here once, for both sides: `BorderFile` (border.json),
`ConsistencyFile` (consistency.json) and `CarriedLeaf` (a line of carried.jsonl). The writer
builds them and calls `to_bytes()` / `to_line()` (RFC 8785 JSON, each hash in base64, a newline
after); the reader calls `parse()`, which accepts exactly what the writer can write (every field
present, once, and no other; an integer that is not a bool, not negative and at most 2^53 - 1; a string
of UTF-8 text; a hash as the canonical base64 of 32 bytes) and otherwise raises `BundleFileError`,
whose message names the file, the line and the field.

How large a file may be is part of its format, so that a verifier can refuse a file before it
reads it: a leaf is at most `MAX_LEAF` bytes, so leaves.jsonl holds at most `MAX_LEAF + 1` bytes a
leaf of the signed range, and carried.jsonl `MAX_CARRIED_LINE` a carried leaf the signed statement
names; the signed notes, the proof files, the signature files and host.vkey are at most
`MAX_SMALL_FILE` bytes, statements and terms.json at most `MAX_DOCUMENT`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import rfc8785

__all__ = [
    "BORDER",
    "BUNDLE_FILES",
    "CARRIED",
    "CHECKPOINT",
    "CONSISTENCY",
    "HASH_SIZE",
    "HOST_KEY",
    "LEAVES",
    "MAX_CARRIED_LINE",
    "MAX_DOCUMENT",
    "MAX_LEAF",
    "MAX_SMALL_FILE",
    "PREVIOUS_CHECKPOINT",
    "TERMS",
    "BorderFile",
    "BundleFileError",
    "CarriedLeaf",
    "ConsistencyFile",
    "previous_statement_file",
    "signature_file",
    "statement_file",
    "statement_names",
]

CHECKPOINT = "checkpoint"
PREVIOUS_CHECKPOINT = "checkpoint.previous"
CONSISTENCY = "consistency.json"
BORDER = "border.json"
LEAVES = "leaves.jsonl"
CARRIED = "carried.jsonl"
TERMS = "terms.json"
HOST_KEY = "host.vkey"

BUNDLE_FILES = (CHECKPOINT, PREVIOUS_CHECKPOINT, CONSISTENCY, BORDER, LEAVES, CARRIED, TERMS, HOST_KEY)
"""The files a bundle holds besides its statements."""

_STATEMENT_PREFIX = "statement-"
_STATEMENT_SUFFIX = ".json"
_PREVIOUS_SUFFIX = ".previous.json"


def statement_file(name: str) -> str:
    """The file of statement `name` (an issued document's name, `statement-...`)."""
    return name + _STATEMENT_SUFFIX


def signature_file(name: str) -> str:
    """The file of statement `name`'s signature."""
    return f"{name}.sig"


def previous_statement_file(name: str) -> str:
    """The file of the statement that statement `name` chains to."""
    return name + _PREVIOUS_SUFFIX


def statement_names(file_names: Iterable[str]) -> list[str]:
    """The statements among a bundle's file names (`statement-*.json`, not `*.previous.json`), sorted."""
    return sorted(f[:-len(_STATEMENT_SUFFIX)] for f in file_names
                  if f.startswith(_STATEMENT_PREFIX) and f.endswith(_STATEMENT_SUFFIX)
                  and not f.endswith(_PREVIOUS_SUFFIX))


HASH_SIZE = 32
"""The bytes of a tree hash (SHA-256)."""

_MAX_INT = 2**53 - 1  # the largest integer RFC 8785 writes

MAX_LEAF = 65_536
"""The most bytes a leaf may hold (a line of leaves.jsonl, its newline not counted). A projection
is about 600 bytes: ids are at most 128 characters, the pseudonyms 64 hex digits; what is left is
room for a long licensor chain."""

MAX_CARRIED_LINE = 2 * MAX_LEAF + 8_192
"""The most bytes a line of carried.jsonl may hold: the leaf as a JSON string (each byte escaped at
most once), its index and seq, and an inclusion proof of at most 64 hashes."""

MAX_SMALL_FILE = 65_536
"""The most bytes of a checkpoint note (at most 100 signatures), border.json and consistency.json
(at most 128 hashes), a statement's .sig and host.vkey."""

MAX_DOCUMENT = 16 << 20
"""The most bytes of a statement (`<name>.json`, `<name>.previous.json`) and of terms.json."""


class BundleFileError(ValueError):
    """A bundle file, or a line of one, that is not its format; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class BorderFile:
    """border.json: the size m of the previous tree and its border, the roots of the perfect subtrees
    that tile [0, m), left to right."""

    size: int
    hashes: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return rfc8785.dumps({"size": self.size, "hashes": _b64(self.hashes)}) + b"\n"

    @classmethod
    def from_json(cls, value: object) -> BorderFile:
        obj = _fields(value, BORDER, '{"size": m, "hashes": [base64, ...]}', ("size", "hashes"))
        return cls(_count(obj, "size", BORDER), _hashes(obj, "hashes", BORDER))

    @classmethod
    def parse(cls, data: bytes) -> BorderFile:
        """The border of border.json's bytes; raises BundleFileError."""
        return cls.from_json(_load(data, BORDER))


@dataclass(frozen=True, slots=True)
class ConsistencyFile:
    """consistency.json: the consistency proof from tree size `old` to `new` (RFC 9162 2.1.4)."""

    old: int
    new: int
    proof: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return rfc8785.dumps({"old": self.old, "new": self.new, "proof": _b64(self.proof)}) + b"\n"

    @classmethod
    def from_json(cls, value: object) -> ConsistencyFile:
        obj = _fields(value, CONSISTENCY, '{"old": m, "new": n, "proof": [base64, ...]}', ("old", "new", "proof"))
        return cls(_count(obj, "old", CONSISTENCY), _count(obj, "new", CONSISTENCY),
                   _hashes(obj, "proof", CONSISTENCY))

    @classmethod
    def parse(cls, data: bytes) -> ConsistencyFile:
        """The proof of consistency.json's bytes; raises BundleFileError."""
        return cls.from_json(_load(data, CONSISTENCY))


@dataclass(frozen=True, slots=True)
class CarriedLeaf:
    """A line of carried.jsonl: a carried leaf's index and seq, its data (the leaf's bytes, as UTF-8
    text) and its inclusion proof in the tree of the current checkpoint."""

    index: int
    seq: int
    data: str
    proof: tuple[bytes, ...]

    def to_line(self) -> bytes:
        """The line, with its newline."""
        return rfc8785.dumps({"index": self.index, "seq": self.seq, "data": self.data,
                              "proof": _b64(self.proof)}) + b"\n"

    @classmethod
    def from_json(cls, value: object, line: int) -> CarriedLeaf:
        """Line number `line` (from 1) of carried.jsonl, as JSON; raises BundleFileError."""
        where = f"{CARRIED} line {line}"
        obj = _fields(value, where, '{"index": i, "seq": s, "data": leaf, "proof": [base64, ...]}',
                      ("index", "seq", "data", "proof"))
        return cls(_count(obj, "index", where), _count(obj, "seq", where), _text(obj, "data", where),
                   _hashes(obj, "proof", where))

    @classmethod
    def parse(cls, text: bytes, line: int) -> CarriedLeaf:
        """Line number `line` (from 1) of carried.jsonl, with or without its newline; raises BundleFileError."""
        return cls.from_json(_load(text, f"{CARRIED} line {line}"), line)


def _b64(hashes: Iterable[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


def _load(data: bytes, where: str) -> object:
    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        obj: dict[str, object] = {}
        for key, value in pairs:
            if key in obj:  # JSON readers differ on which one wins: refuse both
                raise BundleFileError(f"{where}: the field {_quote(key)} appears twice")
            obj[key] = value
        return obj

    try:
        return json.loads(data, object_pairs_hook=unique)
    except BundleFileError:
        raise
    except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise BundleFileError(f"{where} is not JSON: {exc}") from None


def _quote(name: str) -> str:
    return json.dumps(name if len(name) <= 40 else name[:40] + "...")


def _kind(value: object) -> str:
    """A JSON value, as a message shows it: scalars by value, the rest by kind (never long)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else "a large integer"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _fields(value: object, where: str, shape: str, names: tuple[str, ...]) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise BundleFileError(f"{where}: want {shape}, got {_kind(value)}")
    for name in names:
        if name not in value:
            raise BundleFileError(f'{where}: "{name}" is missing')
    extra = sorted(str(k) for k in value if k not in names)
    if extra:
        raise BundleFileError(f"{where}: unknown field {_quote(extra[0])}")
    return value


def _count(obj: Mapping[str, object], name: str, where: str) -> int:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BundleFileError(f'{where}: "{name}" must be a non-negative integer, got {_kind(value)}')
    if value > _MAX_INT:
        raise BundleFileError(f'{where}: "{name}" is over 2^53 - 1, the largest integer of RFC 8785 JSON')
    return value


def _text(obj: Mapping[str, object], name: str, where: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise BundleFileError(f'{where}: "{name}" must be a string, got {_kind(value)}')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BundleFileError(f'{where}: "{name}" is not UTF-8 text (a lone surrogate)') from None
    return value


def _hashes(obj: Mapping[str, object], name: str, where: str) -> tuple[bytes, ...]:
    values = obj[name]
    if not isinstance(values, list):
        raise BundleFileError(f'{where}: "{name}" must be a list of base64 hashes, got {_kind(values)}')
    hashes = []
    for i, value in enumerate(values):
        at = f'{where}: "{name}"[{i}]'
        if not isinstance(value, str):
            raise BundleFileError(f"{at} must be a base64 string, got {_kind(value)}")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):  # ValueError: not ASCII
            raise BundleFileError(f"{at} is not base64") from None
        if len(raw) != HASH_SIZE:
            raise BundleFileError(f"{at} is {len(raw)} bytes, a hash is {HASH_SIZE}")
        if base64.b64encode(raw).decode("ascii") != value:
            raise BundleFileError(f"{at} is not canonical base64 (stray bits after the hash)")
        hashes.append(raw)
    return tuple(hashes)

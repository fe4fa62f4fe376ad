"""Reading a statement bundle: its files, as bytes, JSON, lines and base64 hashes.

Every read failure is a BundleFormatError naming the file (or ConsistencyError, for a
consistency proof of other sizes than the statement's). The file names are those of
`revshare.settlement.bundle_layout`, which the bundle's writer uses too.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from revshare.settlement import bundle_layout as layout
from revshare.settlement.bundle_terms import StatementTerms
from revshare.verify.errors import BundleFormatError, ConsistencyError

__all__ = ["SharedFiles", "base64_hashes", "read_file", "read_json", "statement_names"]


def read_file(path: Path) -> bytes:
    """The bytes of a bundle file."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleFormatError(f"cannot read {path.name}: {exc.strerror or exc}") from None


def read_json(path: Path) -> Any:
    """A bundle file's JSON value."""
    try:
        return json.loads(read_file(path))
    except ValueError as exc:
        raise BundleFormatError(f"{path.name} is not JSON: {exc}") from None


def base64_hashes(values: Any, where: str) -> list[bytes]:
    """A JSON list of base64 hashes, decoded."""
    if not isinstance(values, list):
        raise BundleFormatError(f"{where}: want a list of base64 hashes")
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except (binascii.Error, TypeError, ValueError) as exc:
        raise BundleFormatError(f"{where}: a hash is not base64: {exc}") from None


def _lines(data: bytes, name: str) -> list[bytes]:
    if data and not data.endswith(b"\n"):
        raise BundleFormatError(f"{name}: the last line has no newline (truncated?)")
    return data.split(b"\n")[:-1] if data else []


def statement_names(directory: Path) -> list[str]:
    """The statements of a bundle: `statement-*.json` files (not `*.previous.json`)."""
    return layout.statement_names(p.name for p in directory.glob("*.json"))


class SharedFiles:
    """The files every statement of a bundle shares, read once.

    Attributes:
        border_size, border: the size m of the previous tree and its border, from border.json.
        leaves: the lines of leaves.jsonl, each a leaf's bytes.
        carried: (leaf bytes, index, inclusion proof) per line of carried.jsonl.
        terms: terms.json.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        border = read_json(directory / layout.BORDER)
        if not isinstance(border, dict):
            raise BundleFormatError(f"{layout.BORDER}: want {{\"size\": m, \"hashes\": [base64, ...]}}")
        self.border_size = int(border.get("size", -1))
        self.border = base64_hashes(border.get("hashes"), layout.BORDER)
        self.leaves = _lines(read_file(directory / layout.LEAVES), layout.LEAVES)
        self.carried: list[tuple[bytes, int, list[bytes]]] = []
        for i, line in enumerate(_lines(read_file(directory / layout.CARRIED), layout.CARRIED)):
            try:
                row = json.loads(line)
                self.carried.append((row["data"].encode("utf-8"), int(row["index"]),
                                     base64_hashes(row["proof"], f"{layout.CARRIED} line {i + 1}")))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise BundleFormatError(f"{layout.CARRIED} line {i + 1}: {exc}") from None
        try:
            self.terms = StatementTerms.from_json(read_json(directory / layout.TERMS))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleFormatError(f"{layout.TERMS}: {exc}") from None

    def note(self, name: str) -> str:
        """A signed note's text (`layout.CHECKPOINT` or `layout.PREVIOUS_CHECKPOINT`)."""
        try:
            return read_file(self.directory / name).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleFormatError(f"{name} is not UTF-8 text: {exc}") from None

    def consistency(self, m: int, n: int) -> list[bytes]:
        """The consistency proof from size m to n."""
        data = read_json(self.directory / layout.CONSISTENCY)
        if not isinstance(data, dict) or (data.get("old"), data.get("new")) != (m, n):
            raise ConsistencyError(f"{layout.CONSISTENCY} is not the proof from size {m} to {n}")
        return base64_hashes(data.get("proof"), layout.CONSISTENCY)

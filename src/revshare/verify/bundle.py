"""Reading a statement bundle: its files, as bytes, JSON, lines and the layout's proof files.

Every read failure is a BundleFormatError naming the file (or ConsistencyError, for a
consistency proof of other sizes than the statement's). The file names, and the formats of
border.json, consistency.json and carried.jsonl, are those of `revshare.settlement.bundle_layout`,
which the bundle's writer uses too; its parsers' BundleFileError becomes a BundleFormatError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revshare.settlement import bundle_layout as layout
from revshare.settlement.bundle_terms import StatementTerms
from revshare.verify.errors import BundleFormatError, ConsistencyError

__all__ = ["SharedFiles", "read_file", "read_json", "statement_names"]


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
        carried: the lines of carried.jsonl, each a `layout.CarriedLeaf`.
        terms: terms.json.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            border = layout.BorderFile.parse(read_file(directory / layout.BORDER))
            self.leaves = _lines(read_file(directory / layout.LEAVES), layout.LEAVES)
            self.carried = [layout.CarriedLeaf.parse(line, i + 1)
                            for i, line in enumerate(_lines(read_file(directory / layout.CARRIED), layout.CARRIED))]
        except layout.BundleFileError as exc:
            raise BundleFormatError(str(exc)) from None
        self.border_size, self.border = border.size, border.hashes
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

    def consistency(self, m: int, n: int) -> tuple[bytes, ...]:
        """The consistency proof from size m to n."""
        try:
            data = layout.ConsistencyFile.parse(read_file(self.directory / layout.CONSISTENCY))
        except layout.BundleFileError as exc:
            raise BundleFormatError(str(exc)) from None
        if (data.old, data.new) != (m, n):
            raise ConsistencyError(f"{layout.CONSISTENCY} is not the proof from size {m} to {n}")
        return data.proof

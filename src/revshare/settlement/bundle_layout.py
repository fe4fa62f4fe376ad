"""The statement bundle's layout: the name of every file, for its writer and its reader. Pure.

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
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BORDER",
    "BUNDLE_FILES",
    "CARRIED",
    "CHECKPOINT",
    "CONSISTENCY",
    "HOST_KEY",
    "LEAVES",
    "PREVIOUS_CHECKPOINT",
    "TERMS",
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

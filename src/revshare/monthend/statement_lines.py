"""A statement's lines (JSON form) in groups by what they bill, each with its subtotal row: how the
console shows an issued statement whose lines bill embeddings (`settlement.kinds`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from revshare.settlement.kinds import apart, kind_groups
from revshare.settlement.pages.text import MODEL_KIND_WORDS

__all__ = ["line_groups"]

_COUNTS = ("tokens", "excluded_tokens")  # not requests: a request is on a line per direction
_AMOUNTS = ("gross", "excluded", "basis", "share")


def line_groups(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines per model kind, each group with its subtotals, when some line bills embeddings;
    none (one plain table) when every line bills chat."""
    if not apart(lines):
        return []
    return [{"words": MODEL_KIND_WORDS.get(kind, kind), "lines": group,
             "subtotal": {"segment": "", "model": f"Subtotal: {MODEL_KIND_WORDS.get(kind, kind).lower()}",
                          "model_kind": kind, "direction": "", "requests": "", "subtotal": True,
                          **{c: sum(int(x[c]) for x in group) for c in _COUNTS},
                          **{a: str(sum((Decimal(x[a]) for x in group), Decimal(0))) for a in _AMOUNTS}}}
            for kind, group in kind_groups(lines)]

"""Step (5) of `verify_bundle`: the statement's figures, settled anew from the leaves and the terms.

    scan_plan(statement, ref, period) -> Plan | None          the segments, for the leaf scan
    recompute(statement, ref, settled, sums, terms, period, st, served) -> the statement as the leaves give it
    first_difference(got, want) -> (JSON path, got, want) | None

The recomputation runs the same `revshare.settlement.settle` the host ran, over the range's
usage as the scan summed it and the carried leaves that settle in the period. What each line
bills (`model_kind`) is its model's kind in the terms, and every settled leaf's endpoint must
serve that kind (an `embeddings` leaf of an embedding model, any other of a chat model): so a
label is checked against the signed leaves. A statement issued before lines carried the label
has it on no line, and is compared without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import rfc8785

from revshare.instants import parse_instant
from revshare.settlement import LogRef, Period, UsageAggregate, Window, settle, sort_aggregates
from revshare.settlement.bundle_terms import StatementTerms
from revshare.settlement.kinds import CHAT, endpoint_kind
from revshare.settlement.state import ContractState, SettlementState
from revshare.settlement.users import ActiveUsers
from revshare.verify.errors import FigureMismatchError
from revshare.verify.scan import Leaf, Plan, Sums, accumulate

__all__ = ["first_difference", "recompute", "scan_plan"]


def _window(statement: dict[str, Any], period: Period) -> Window:
    """The statement's segments as a settlement window: cut at each segment's start but the first,
    closed at the statement's cut-off (absent or null: settled without a close)."""
    edges = [parse_instant(s["start"]) for s in statement["segments"]]
    cutoff = statement.get("cutoff")
    return Window(period, tuple(edges[1:]), closed_at=None if cutoff is None else parse_instant(cutoff))


def _plan(window: Window, ref: LogRef, st: str) -> Plan:
    """Where the settled leaves land: the window's cuts in time, and the log's (late usage) in seq."""
    if len(ref.cut_seqs) != len(window.cuts):
        raise FigureMismatchError(f"the statement has {len(window.cuts)} cuts but {len(ref.cut_seqs)} cut seqs", st)
    return Plan(window.period.start, tuple(window.cuts), tuple(ref.cut_seqs))


def scan_plan(statement: dict[str, Any], ref: LogRef, period: Period) -> Plan | None:
    """The plan `recompute` will use, for the leaf scan; None if the segments do not parse (step (5) says why)."""
    try:
        return _plan(_window(statement, period), ref, "")
    except Exception:  # any failure is reported by recompute, at step (5)
        return None


def _merge(parts: Sequence[Sums]) -> Sums:
    sums: Sums = {}
    for part in parts:
        for k, (count, prompt, completion) in part.items():
            acc = sums.setdefault(k, [0, 0, 0])
            acc[0] += count
            acc[1] += prompt
            acc[2] += completion
    return sums


def _labelled(statement: dict[str, Any]) -> bool:
    """Whether the statement's lines say what they bill (statements issued before `model_kind` do not)."""
    return any(isinstance(x, dict) and "model_kind" in x
               for part in ("lines", "adjustments") for x in statement.get(part) or ())


def _check_kinds(terms: StatementTerms, served: Iterable[tuple[str, str]], st: str) -> None:
    """Every settled leaf's endpoint serves its model's kind in the terms (a model has one kind)."""
    kinds = {m.id: m.kind for m in terms.models}
    for model, endpoint in sorted(served):
        want, got = kinds.get(model, CHAT), endpoint_kind(endpoint)
        if got != want:
            raise FigureMismatchError(f"model {model!r} has a leaf served on {endpoint!r}, an endpoint of {got} "
                                      f"models, and the terms make it a {want} model: its lines' model_kind "
                                      "cannot be checked", st)


def recompute(statement: dict[str, Any], ref: LogRef, settled: Sequence[Leaf], partial: Sequence[Sums],
              terms: StatementTerms, period: Period, st: str,
              served: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """The statement settled anew from the range's sums (`partial`) and the settled carried leaves.

    `served`: the (model, endpoint) pairs of the range's settled, charged leaves (the scan's)."""
    window = _window(statement, period)
    plan = _plan(window, ref, st)
    sums = _merge(partial)
    pairs = set(served)
    for leaf in settled:
        customer, key, model, version, prompt, completion, charged = leaf.usage
        if charged:
            accumulate(sums, plan, customer, key, model, version, prompt, completion, leaf.seq, leaf.started)
            pairs.add((model, leaf.endpoint))
    labelled = _labelled(statement)
    if labelled:
        _check_kinds(terms, pairs, st)
    aggregates = sort_aggregates(UsageAggregate(*k, *v) for k, v in sums.items())
    number = int(statement["number"])
    prior = SettlementState() if number == 1 else SettlementState((ContractState(
        statement["contract"], period.previous().label, number - 1, statement["previous_hash"] or "",
        Decimal(statement["totals"]["recoupment_before"])),))
    catalog = terms.for_leaves()
    try:
        result = settle(catalog, window, aggregates, prior=prior, credits=catalog.credits,
                        allocated=catalog.credit_pieces)
    except ValueError as exc:
        raise FigureMismatchError(f"the terms do not settle this period: {exc}", st) from None
    mine = [s for s in result.statements if s.contract == statement["contract"]]
    if not mine:
        raise FigureMismatchError(f"the terms give no statement for contract {statement['contract']!r}", st)
    got = mine[0].to_json()
    if not labelled:  # issued before lines said what they bill: compared as issued
        for part in ("lines", "adjustments"):
            for x in got[part]:
                x.pop("model_kind", None)
    if "users" in statement:  # the host's count: the leaves carry no end user (docs/LICENSING.md)
        try:
            got["users"] = ActiveUsers.from_json(statement["users"]).to_json()
        except ValueError as exc:
            raise FigureMismatchError(f"the statement's {exc}", st) from None
    customers, keys = terms.names()
    for seg in got["segments"]:
        seg["exempt_customers"] = [customers.get(c, c) for c in seg["exempt_customers"]]
        seg["exempt_keys"] = [keys.get(k, k) for k in seg["exempt_keys"]]
    return json.loads(rfc8785.dumps(got))  # type: ignore[no-any-return]


def first_difference(got: Any, want: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first JSON path where `got` and `want` differ (depth first, in key order)."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            if k not in got or k not in want:
                return f"{path}.{k}", got.get(k, "<absent>"), want.get(k, "<absent>")
            found = first_difference(got[k], want[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list):
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            found = first_difference(g, w, f"{path}[{i}]")
            if found:
                return found
        if len(got) != len(want):
            return f"{path} (length)", len(got), len(want)
        return None
    return None if got == want else (path or ".", got, want)

"""The leaf scan of `verify_bundle`: one pass that hashes, parses, range-checks and sums the range's leaves.

    scan_range(leaves, first, after, through, end, plan, st) -> [Scan, ...]   (one, or two: forked)
    check_scans(scans, m, after, through, st) -> (first seq, last seq)        (raises LeafRangeError)
    push_node(nodes, level, index, hash)                                      a compact range, extended

A range may hold millions of leaves, so the pass streams them from leaves.jsonl a block at a time
(`revshare.verify.leaves`), keeps only what the checks and the settlement need, summed as it
goes (no object per leaf), folds the leaf hashes into a compact range as it goes (at most two
hashes per level: no list of a million hashes), and for a large range forks a child for its
second half, which reads its half itself. What it finds wrong in a leaf is returned, not raised:
`verify_bundle` reports it at step (4), after the root of step (2), so a malformed leaf is still
hashed. The leaves carried from before the range are few, and read one by one with `parse_leaf`.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import multiprocessing
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from revshare.records.projection import (
    PROJECTION_FIELDS,
    PROJECTION_VERSION,
    ProjectionFormatError,
    read_projection,
)
from revshare.settlement.aggregate import CHARGED_OUTCOMES
from revshare.settlement.bundle_layout import LEAVES
from revshare.tlog import LEAF_PREFIX, NODE_PREFIX
from revshare.verify.errors import BundleFormatError, LeafRangeError
from revshare.verify.leaves import LeafFile

__all__ = ["PARALLEL_MIN", "Leaf", "Node", "Plan", "Scan", "Served", "Sums", "accumulate", "check_scans",
           "parse_leaf", "push_node", "scan_range"]

PARALLEL_MIN = 100_000  # below this many leaves, a second process costs more than it saves

Node = tuple[int, int, bytes]
"""(level, index, hash) of a perfect subtree: a compact range is a list of them, left to right."""

Sums = dict[tuple[str, str, str, str, int, bool], list[int]]
"""Usage summed per (customer, key, model, price version, segment, late): [requests, prompt, completion]."""

Served = set[tuple[str, str]]
"""The (model, endpoint) pairs of the settled, charged leaves: what each line's `model_kind` is checked against."""


class Leaf(NamedTuple):
    """What the checks need of a carried leaf (few: parsed one by one)."""

    position: int  # the leaf index in the log
    seq: int
    started: datetime
    line: str  # where it is, for messages
    usage: tuple[str, str, str, str, int, int, bool]  # customer, key, model, price version, tokens in/out, charged
    endpoint: str = ""  # the API endpoint the record served ("chat.completions", "embeddings", ...)


def _count_field(d: dict[str, Any], name: str) -> int:
    value = d[name]
    if type(value) is not int or value < 0:
        raise ValueError(f'"{name}" is {_shown(value)}, want a non-negative integer')
    return value


def _text_field(d: dict[str, Any], name: str) -> str:
    value = d[name]
    if type(value) is not str:
        raise ValueError(f'"{name}" is {_shown(value)}, want a string')
    return value


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_leaf(raw: object, index: int, line: str, st: str) -> Leaf:
    """Leaf `index` (bytes, or as parsed from JSON), found at `line`; LeafRangeError if it is not a projection.

    Besides `read_projection` (the version and the fields), the values the verifier reads are
    checked: counts are non-negative integers, names strings, and `started_at` an instant with
    its zone.
    """
    try:
        d = read_projection(json.loads(raw) if isinstance(raw, bytes) else raw, index)
        started = datetime.fromisoformat(_text_field(d, "started_at"))
        if started.tzinfo is None:
            raise ValueError(f'"started_at" is {_shown(d["started_at"])}, an instant without its zone')
        names = [_text_field(d, k) for k in ("customer", "key", "model", "price_version", "outcome", "endpoint")]
        return Leaf(index, _count_field(d, "seq"), started, line,
                    (names[0], names[1], names[2], names[3], _count_field(d, "prompt_tokens"),
                     _count_field(d, "completion_tokens"), names[4] in CHARGED_OUTCOMES), names[5])
    except (ValueError, KeyError, TypeError, ArithmeticError, RecursionError) as exc:
        reason = exc.reason if isinstance(exc, ProjectionFormatError) else \
            "nested too deep" if isinstance(exc, RecursionError) else exc
        raise LeafRangeError(f"leaf {index} ({line}) is not a usage projection: {reason}", st) from None


class Plan(NamedTuple):
    """Where a settled leaf lands: its segment, late or not (see accumulate)."""

    start: datetime
    cuts: tuple[datetime, ...]
    cut_seqs: tuple[int, ...]


class Scan(NamedTuple):
    """What one pass over a slice of the range's leaves established (a child process returns it).

    Attributes:
        length: the leaves of the slice.
        nodes: the compact range of the slice's leaf hashes, for step (2) (see push_node).
        parse_error: the first leaf that is not a projection, as step (4)'s message.
        seq_error: the first leaf whose seq is out of order or range (not checked for the slice's
            first leaf against the slice before it: the caller does), as (offset, message).
        first_seq, last_seq: of the slice, when it parsed.
        deferred: (position, leaf hash) of the leaves that started after the period.
        sums: the settled, charged leaves' usage, summed per aggregate key (see accumulate).
        served: the settled, charged leaves' (model, endpoint) pairs.
    """

    length: int
    nodes: list[Node]
    parse_error: str | None
    seq_error: tuple[int, str] | None
    first_seq: int | None
    last_seq: int | None
    deferred: list[tuple[int, bytes]]
    sums: Sums
    served: Served


def push_node(nodes: list[Node], level: int, index: int, node_hash: bytes) -> None:
    """Append perfect subtree (level, index) to the compact range `nodes`, which ends where it starts.

    While the new subtree is a right child (odd index) and the range's last subtree is its left
    sibling (the same level: the range is contiguous, so its index is one less), the two are
    replaced by their parent, HASH(0x01 || left || right) (RFC 6962 section 2.1). Starting from the
    border of [0, m) (`compact.perfect_tiles`), this is `compact.append_leaves`; starting from
    nothing, it builds the compact range of a slice that starts anywhere, which a later
    push_node of each of its subtrees appends to the range before it.
    """
    sha256, prefix = hashlib.sha256, NODE_PREFIX
    while index & 1 and nodes and nodes[-1][0] == level:
        node_hash = sha256(prefix + nodes.pop()[2] + node_hash).digest()
        level += 1
        index >>= 1
    nodes.append((level, index, node_hash))


def accumulate(sums: Sums, plan: Plan, customer: str, key: str, model: str, version: str, prompt: int,
               completion: int, seq: int, started: datetime) -> None:
    """Add a settled, charged leaf to its aggregate: customer, key, model, version, segment, late.

    Late usage is placed by its append time: seq order is append order (see LogRef.cut_seqs).
    """
    late = started < plan.start
    if not plan.cuts:
        segment = 0
    else:
        segment = bisect.bisect_left(plan.cut_seqs, seq) if late else bisect.bisect_right(plan.cuts, started)
    acc = sums.get((customer, key, model, version, segment, late))
    if acc is None:
        sums[(customer, key, model, version, segment, late)] = [1, prompt, completion]
    else:
        acc[0] += 1
        acc[1] += prompt
        acc[2] += completion


def _scan(leaves: LeafFile, lo: int, hi: int, start: int, stop: int, first: int, low: int | None, through: int,
          end: datetime, plan: Plan | None, st: str) -> Scan:
    """Hash, parse, range-check and aggregate lines lo..hi-1 (bytes [start, stop)) of leaves.jsonl: leaf first + lo, ...

    The leaf bytes are hashed as read (they are the canonical JSON: nothing is re-serialised) and
    folded into the slice's compact range; they are parsed with the C decoder a block at a time,
    and only the fields the checks and the settlement need are kept, summed as they go (no object
    per leaf). Each leaf's version and field names, and the types of the values read, are
    compared (the cheap part of `parse_leaf`, which names what is wrong in a leaf that fails).
    After the first leaf that fails, the rest are only hashed. `low` is the seq the first leaf must
    exceed (None: the caller checks it). Leaves that start at `end` or later are deferred. Without a
    plan nothing is aggregated (the statement's segments do not parse: step (5) reports it).
    """
    sha256, prefix, node_prefix = hashlib.sha256, LEAF_PREFIX, NODE_PREFIX
    # Not instants.parse_instant: a leaf's times are format_instant's (with Z), which fromisoformat reads as
    # they are, in a third of the time (0.3 µs a leaf saved); parse_leaf reads them the same way.
    fromiso = datetime.fromisoformat
    charged_outcomes = CHARGED_OUTCOMES
    projection_v, fields = PROJECTION_VERSION, frozenset(PROJECTION_FIELDS)
    nodes: list[Node] = []
    pop, push = nodes.pop, nodes.append
    sums: Sums = {}
    served: Served = set()
    deferred: list[tuple[int, bytes]] = []
    parse_error: str | None = None
    seq_error: tuple[int, str] | None = None
    first_seq = last_seq = None
    prev = low
    i = lo  # the line (from 0) of the block's first leaf
    for block in leaves.blocks(lo, start, stop):
        hashes = [sha256(prefix + raw).digest() for raw in block]
        position = first + i
        for h in hashes:  # push_node, inlined: a million calls cost 0.1 s
            level, index = 0, position
            while index & 1 and nodes and nodes[-1][0] == level:
                h = sha256(node_prefix + pop()[2] + h).digest()
                level += 1
                index >>= 1
            push((level, index, h))
            position += 1
        if parse_error is None:
            try:
                datas: list[Any] = json.loads(b"[" + b",".join(block) + b"]")
            except (ValueError, RecursionError):
                datas = [_loads_or_raw(raw) for raw in block]  # one by one: the bad line stays bytes, to be named
            if len(datas) != len(block):
                datas = [_loads_or_raw(raw) for raw in block]  # a line holding two values
            j = i
            try:
                for d in datas:
                    if d["v"] != projection_v or d.keys() != fields:
                        raise ValueError("not a projection of this version")  # parse_leaf says why
                    seq, prompt, completion = d["seq"], d["prompt_tokens"], d["completion_tokens"]
                    customer, key, model, version, outcome = (d["customer"], d["key"], d["model"], d["price_version"],
                                                              d["outcome"])
                    endpoint = d["endpoint"]
                    if (type(seq) is not int or type(prompt) is not int or type(completion) is not int or prompt < 0
                            or completion < 0 or type(customer) is not str or type(key) is not str
                            or type(model) is not str or type(version) is not str or type(outcome) is not str
                            or type(endpoint) is not str):
                        raise ValueError("a value of another type")  # parse_leaf says which
                    started = fromiso(d["started_at"])
                    charged = outcome in charged_outcomes
                    if seq_error is None and not ((prev is None or prev < seq) and seq <= through):
                        seq_error = (j - lo, f"leaf {first + j} ({LEAVES} line {j + 1}) has seq {seq}, want one in "
                                             f"({prev}, {through}]")
                    if first_seq is None:
                        first_seq = seq
                    prev = last_seq = seq
                    if started >= end:
                        deferred.append((first + j, hashes[j - i]))
                    elif charged and plan is not None:
                        accumulate(sums, plan, customer, key, model, version, prompt, completion, seq, started)
                        served.add((model, endpoint))
                    j += 1
            except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
                parse_error = _why(datas[j - i], first + j, j, exc, st)
        i += len(block)
    if i != hi:
        raise BundleFormatError(f"{LEAVES} changed while it was read")
    if parse_error is not None:
        return Scan(hi - lo, nodes, parse_error, None, None, None, [], {}, set())
    return Scan(hi - lo, nodes, None, seq_error, first_seq, last_seq, deferred, sums, served)


def _why(data: Any, index: int, line: int, exc: Exception, st: str) -> str:
    """Step (4)'s message for a leaf the fast path refused: parse_leaf's, or what the fast path met."""
    try:
        parse_leaf(data, index, f"{LEAVES} line {line + 1}", st)
    except LeafRangeError as error:
        return str(error)
    reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, KeyError) else f"no field {exc}"
    return str(LeafRangeError(f"leaf {index} ({LEAVES} line {line + 1}) is not a usage projection: {reason}", st))


def _loads_or_raw(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw  # not JSON: parse_leaf says so


_FORKED: tuple[LeafFile, tuple[Any, ...]] | None = None  # what a forked worker scans


def _scan_forked(lo: int, hi: int, start: int, stop: int, low: int | None) -> Scan:
    assert _FORKED is not None
    leaves, (first, through, end, plan, st) = _FORKED
    return _scan(leaves, lo, hi, start, stop, first, low, through, end, plan, st)


def _split(n: int) -> bool:
    """Whether to scan n leaves in two processes (tests force it)."""
    return (n >= PARALLEL_MIN and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


def scan_range(leaves: LeafFile, first: int, after: int, through: int, end: datetime, plan: Plan | None,
               st: str) -> list[Scan]:
    """_scan over the whole range: the second half in a forked child while this process does the first.

    The child inherits the open file and reads its half through `pread`; only its compact range
    (a few hashes), sums and deferred leaves come back. Where there is no fork (Windows, macOS
    default), threads are running (a fork would copy their locks), one CPU, or a small range, one
    pass here does it all.
    """
    global _FORKED
    n, size = leaves.lines, leaves.file.size
    if n < 2 or not _split(n):
        return [_scan(leaves, 0, n, 0, size, first, after, through, end, plan, st)]
    half, offset = leaves.middle
    _FORKED = (leaves, (first, through, end, plan, st))
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            pending = pool.apply_async(_scan_forked, (half, n, offset, size, None))
            scans = [_scan(leaves, 0, half, 0, offset, first, after, through, end, plan, st)]
            scans.append(pending.get())
    finally:
        _FORKED = None
    return scans


def check_scans(scans: Sequence[Scan], m: int, after: int, through: int, st: str) -> tuple[int | None, int | None]:
    """Step (4) on the scanned slices, first failure in leaf order: parse, then seq. Returns first, last seq."""
    for scan in scans:
        if scan.parse_error is not None:
            raise LeafRangeError(scan.parse_error)
    offset, prev = 0, after
    for scan in scans:
        if scan.first_seq is not None and offset > 0 and not prev < scan.first_seq <= through:
            raise LeafRangeError(f"leaf {m + offset} ({LEAVES} line {offset + 1}) has seq {scan.first_seq}, "
                                 f"want one in ({prev}, {through}]", st)
        if scan.seq_error is not None:
            raise LeafRangeError(scan.seq_error[1], st)
        offset += scan.length
        if scan.last_seq is not None:
            prev = scan.last_seq
    firsts = [s.first_seq for s in scans if s.first_seq is not None]
    lasts = [s.last_seq for s in scans if s.last_seq is not None]
    return (firsts[0], lasts[-1]) if firsts else (None, None)

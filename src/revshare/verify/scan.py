"""The leaf scan of `verify_bundle`: one pass that hashes, parses, range-checks and sums the range's leaves.

    scan_range(raws, first, after, through, end, plan, st) -> [Scan, ...]   (one, or two: forked)
    check_scans(scans, m, after, through, st) -> (first seq, last seq)      (raises LeafRangeError)

A range may hold millions of leaves, so the pass keeps only what the checks and the settlement
need, summed as it goes (no object per leaf), and for a large range forks a child for its
second half. What it finds wrong is returned, not raised: `verify_bundle` reports it at step
(4), after the root of step (2). The leaves carried from before the range are few, and read one
by one with `parse_leaf`.
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
from revshare.tlog import LEAF_PREFIX
from revshare.verify.errors import LeafRangeError

__all__ = ["PARALLEL_MIN", "PARSE_CHUNK", "Leaf", "Plan", "Scan", "Sums", "accumulate", "check_scans",
           "parse_leaf", "scan_range"]

PARSE_CHUNK = 50_000
PARALLEL_MIN = 100_000  # below this many leaves, a second process costs more than it saves

Sums = dict[tuple[str, str, str, str, int, bool], list[int]]
"""Usage summed per (customer, key, model, price version, segment, late): [requests, prompt, completion]."""


class Leaf(NamedTuple):
    """What the checks need of a carried leaf (few: parsed one by one)."""

    position: int  # the leaf index in the log
    seq: int
    started: datetime
    line: str  # where it is, for messages
    usage: tuple[str, str, str, str, int, int, bool]  # customer, key, model, price version, tokens in/out, charged


def parse_leaf(raw: object, index: int, line: str, st: str) -> Leaf:
    """Leaf `index` (bytes, or as parsed from JSON), found at `line`; LeafRangeError if it is not a projection."""
    try:
        d = read_projection(json.loads(raw) if isinstance(raw, bytes) else raw, index)
        return Leaf(index, int(d["seq"]), datetime.fromisoformat(d["started_at"]), line,
                    (d["customer"], d["key"], d["model"], d["price_version"], int(d["prompt_tokens"]),
                     int(d["completion_tokens"]), d["outcome"] in CHARGED_OUTCOMES))
    except (ValueError, KeyError, TypeError) as exc:
        reason = exc.reason if isinstance(exc, ProjectionFormatError) else exc
        raise LeafRangeError(f"leaf {index} ({line}) is not a usage projection: {reason}", st) from None


class Plan(NamedTuple):
    """Where a settled leaf lands: its segment, late or not (see accumulate)."""

    start: datetime
    cuts: tuple[datetime, ...]
    cut_seqs: tuple[int, ...]


class Scan(NamedTuple):
    """What one pass over a slice of the range's leaves established (a child process returns it).

    Attributes:
        hashes: the leaf hashes, concatenated (32 bytes each), for step (2).
        parse_error: the first leaf that is not a projection, as step (4)'s message.
        seq_error: the first leaf whose seq is out of order or range (not checked for the slice's
            first leaf against the slice before it: the caller does), as (offset, message).
        first_seq, last_seq: of the slice, when it parsed.
        deferred: (position, leaf hash) of the leaves that started after the period.
        sums: the settled, charged leaves' usage, summed per aggregate key (see accumulate).
    """

    hashes: bytes
    parse_error: str | None
    seq_error: tuple[int, str] | None
    first_seq: int | None
    last_seq: int | None
    deferred: list[tuple[int, bytes]]
    sums: Sums


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


def _scan(raws: Sequence[bytes], lo: int, hi: int, first: int, low: int | None, through: int, end: datetime,
          plan: Plan | None, st: str) -> Scan:
    """Hash, parse, range-check and aggregate leaves raws[lo:hi] (leaf index first + lo, ...).

    The leaf bytes are hashed as read (they are the canonical JSON: nothing is re-serialised);
    they are parsed with the C decoder a chunk at a time, and only the fields the checks and the
    settlement need are kept, summed as they go (no object per leaf). Each leaf's version and
    number of fields are compared (the cheap part of `read_projection`, which names what is wrong
    in a leaf that fails). `low` is the seq the first leaf must exceed (None: the caller checks
    it). Leaves that start at `end` or later are deferred. Without a plan nothing is aggregated
    (the statement's segments do not parse: step (5) reports it).
    """
    sha256, prefix = hashlib.sha256, LEAF_PREFIX
    hashes = b"".join([sha256(prefix + raw).digest() for raw in raws[lo:hi]])
    # Not instants.parse_instant: a leaf's times are format_instant's (with Z), which fromisoformat reads as
    # they are, in a third of the time (0.3 µs a leaf saved); parse_leaf reads them the same way.
    fromiso = datetime.fromisoformat
    charged_outcomes = CHARGED_OUTCOMES
    projection_v, n_fields = PROJECTION_VERSION, len(PROJECTION_FIELDS)
    sums: Sums = {}
    deferred: list[tuple[int, bytes]] = []
    seq_error: tuple[int, str] | None = None
    first_seq = last_seq = None
    prev = low
    for start in range(lo, hi, PARSE_CHUNK):
        chunk = raws[start:min(start + PARSE_CHUNK, hi)]
        try:
            datas: list[Any] = json.loads(b"[" + b",".join(chunk) + b"]")
        except ValueError:
            datas = [_loads_or_raw(raw) for raw in chunk]  # one by one: the bad line stays bytes, to be named
        if len(datas) != len(chunk):
            datas = [_loads_or_raw(raw) for raw in chunk]  # a line holding two values
        i = start
        try:
            for d in datas:
                if d["v"] != projection_v or len(d) != n_fields:
                    raise ValueError("not a projection of this version")  # parse_leaf says why
                seq = int(d["seq"])
                started = fromiso(d["started_at"])
                customer, key, model, version = d["customer"], d["key"], d["model"], d["price_version"]
                prompt, completion = int(d["prompt_tokens"]), int(d["completion_tokens"])
                charged = d["outcome"] in charged_outcomes
                if seq_error is None and not ((prev is None or prev < seq) and seq <= through):
                    seq_error = (i - lo, f"leaf {first + i} ({LEAVES} line {i + 1}) has seq {seq}, want one in "
                                         f"({prev}, {through}]")
                if first_seq is None:
                    first_seq = seq
                prev = last_seq = seq
                if started >= end:
                    deferred.append((first + i, hashes[(i - lo) * 32:(i - lo + 1) * 32]))
                elif charged and plan is not None:
                    accumulate(sums, plan, customer, key, model, version, prompt, completion, seq, started)
                i += 1
        except (ValueError, KeyError, TypeError) as exc:
            try:
                parse_leaf(datas[i - start], first + i, f"{LEAVES} line {i + 1}", st)
            except LeafRangeError as error:
                return Scan(hashes, str(error), None, None, None, [], {})
            raise exc from None  # a leaf that parses but does not compare (a time with no zone)
    return Scan(hashes, None, seq_error, first_seq, last_seq, deferred, sums)


def _loads_or_raw(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # not JSON: parse_leaf says so


_FORKED: tuple[Sequence[bytes], tuple[Any, ...]] | None = None  # what a forked worker scans


def _scan_forked(lo: int, hi: int, low: int | None) -> Scan:
    assert _FORKED is not None
    raws, (first, through, end, plan, st) = _FORKED
    return _scan(raws, lo, hi, first, low, through, end, plan, st)


def _split(n: int) -> bool:
    """Whether to scan n leaves in two processes (tests force it)."""
    return (n >= PARALLEL_MIN and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


def scan_range(raws: Sequence[bytes], first: int, after: int, through: int, end: datetime, plan: Plan | None,
               st: str) -> list[Scan]:
    """_scan over the whole range: the second half in a forked child while this process does the first.

    A fork shares the leaves without copying or pickling them; where there is no fork (Windows,
    macOS default), threads are running (a fork would copy their locks), one CPU, or a small range,
    one pass here does it all.
    """
    global _FORKED
    n = len(raws)
    if n < 2 or not _split(n):
        return [_scan(raws, 0, n, first, after, through, end, plan, st)]
    half = n // 2
    _FORKED = (raws, (first, through, end, plan, st))
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            pending = pool.apply_async(_scan_forked, (half, n, None))
            scans = [_scan(raws, 0, half, first, after, through, end, plan, st)]
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
        offset += len(scan.hashes) // 32
        if scan.last_seq is not None:
            prev = scan.last_seq
    firsts = [s.first_seq for s in scans if s.first_seq is not None]
    lasts = [s.last_seq for s in scans if s.last_seq is not None]
    return (firsts[0], lasts[-1]) if firsts else (None, None)

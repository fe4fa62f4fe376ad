"""Verify a licensor's statement bundle offline: signatures, the log, the range, every figure.

    verify_bundle(directory, vkey) -> [StatementVerdict, ...]     (raises StatementVerifyError)

A bundle (written by `revshare export statement-bundle`; format in docs/VERIFY.md) holds one or
more statements of one licensor and period, and what they were computed from. Each statement
is checked in numbered steps; the first failure raises the error of its step, which names the
file, the leaf (index, seq, line) or the figure (JSON path, got/want):

    (0) the statement's Ed25519 signature (over its JCS bytes) verifies under the trusted key;
    (1) both checkpoint notes verify under the key and are the checkpoints the statement names
        (origin, previous size and root, size and root);
    (2) the left border of the previous tree folds to the previous root, and the range's leaves
        appended to it rebuild the current root: the leaves are exactly leaves [m, n) of the log;
    (3) the consistency proof shows the current checkpoint extends the previous one;
    (4) the range: seqs strictly increasing within (after_seq, through_seq], first and last seq
        as stated; the carried leaves are in the log (inclusion proofs), before the range, named
        by the statement and by the previous statement (chain hash checked) as deferred; the
        deferred leaves are recomputed;
    (5) the figures: the settled leaves are aggregated, settled under the bundle's terms with the
        same `revshare.settlement.settle`, and every line and total compared with the statement.

Imports only `revshare.tlog` and `revshare.settlement`. The error tree:

    StatementVerifyError
    ├── BundleFormatError          a file is missing or malformed
    ├── StatementSignatureError    (0)
    ├── CheckpointBindingError     (1)
    ├── LeafRootError              (2)
    ├── ConsistencyError           (3)
    ├── LeafRangeError             (4)
    └── FigureMismatchError        (5)
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import multiprocessing
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import rfc8785

from revshare.settlement import LeafSet, LogRef, Period, UsageAggregate, Window, settle, sort_aggregates
from revshare.settlement.aggregate import CHARGED_OUTCOMES
from revshare.settlement.bundle_terms import StatementTerms
from revshare.settlement.render import statement_hash
from revshare.settlement.state import ContractState, SettlementState
from revshare.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    TlogError,
    hash_children,
    hash_leaf,
    verify_checkpoint_consistency,
    verify_inclusion,
    verify_json,
)
from revshare.tlog.note import Verifier
from revshare.verify.log import open_checkpoint

__all__ = [
    "BundleFormatError",
    "CheckpointBindingError",
    "ConsistencyError",
    "FigureMismatchError",
    "LeafRangeError",
    "LeafRootError",
    "StatementSignatureError",
    "StatementVerdict",
    "StatementVerifyError",
    "Step",
    "verify_bundle",
]


class StatementVerifyError(Exception):
    """A statement bundle that does not verify; `step` is the step that failed (-1: the bundle)."""

    step = -1

    def __init__(self, message: str, statement: str = "") -> None:
        super().__init__(f"{statement}: {message}" if statement else message)


class BundleFormatError(StatementVerifyError):
    """A bundle file is missing or malformed."""


class StatementSignatureError(StatementVerifyError):
    step = 0


class CheckpointBindingError(StatementVerifyError):
    step = 1


class LeafRootError(StatementVerifyError):
    step = 2


class ConsistencyError(StatementVerifyError):
    step = 3


class LeafRangeError(StatementVerifyError):
    step = 4


class FigureMismatchError(StatementVerifyError):
    step = 5


STEPS = ("statement signature", "checkpoint signatures", "leaves rebuild the roots", "consistency",
         "leaf range", "figures")


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    title: str
    detail: str


@dataclass(frozen=True)
class StatementVerdict:
    """A statement that verified, and what each step established."""

    name: str
    statement: dict[str, Any]
    steps: tuple[Step, ...]


# -- reading the bundle -------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleFormatError(f"cannot read {path.name}: {exc.strerror or exc}") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except ValueError as exc:
        raise BundleFormatError(f"{path.name} is not JSON: {exc}") from None


def _hashes(values: Any, where: str) -> list[bytes]:
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


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z


# -- the compact range (transparency-dev/merkle `compact.Range`, from 0) -----------------------


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a tree from its perfect subtrees' roots, left to right (RFC 6962 2.1)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hash_children(h, acc)
    return acc


def _append_leaves(size: int, border: list[bytes], leaf_hashes: Sequence[bytes]) -> bytes:
    """Append leaf hashes to the tree [0, size) given by its border; return the new root."""
    frontier = list(border)
    pop, push = frontier.pop, frontier.append
    sha256 = hashlib.sha256
    for h in leaf_hashes:
        size += 1
        n = size
        while not n & 1:  # the new leaf completes one perfect subtree per trailing 0
            h = sha256(b"\x01" + pop() + h).digest()
            n >>= 1
        push(h)
    return _fold(frontier) if frontier else EMPTY_ROOT


# -- one statement ------------------------------------------------------------------------------


class _Leaf(NamedTuple):
    """What the checks need of a carried leaf (few: parsed one by one)."""

    position: int  # the leaf index in the log
    seq: int
    started: datetime
    line: str  # where it is, for messages
    usage: tuple[str, str, str, str, int, int, bool]  # customer, key, model, price version, tokens in/out, charged


def _parse_leaf(raw: bytes | dict[str, Any], index: int, line: str, st: str) -> _Leaf:
    try:
        d = json.loads(raw) if isinstance(raw, bytes) else raw
        return _Leaf(index, int(d["seq"]), datetime.fromisoformat(d["started_at"]), line,
                     (d["customer"], d["key"], d["model"], d["price_version"], int(d["prompt_tokens"]),
                      int(d["completion_tokens"]), d["outcome"] in CHARGED_OUTCOMES))
    except (ValueError, KeyError, TypeError) as exc:
        raise LeafRangeError(f"leaf {index} ({line}) is not a usage projection: {exc}", st) from None


PARSE_CHUNK = 50_000
PARALLEL_MIN = 100_000  # below this many leaves, a second process costs more than it saves

Sums = dict[tuple[str, str, str, str, int, bool], list[int]]


class _Plan(NamedTuple):
    """Where a settled leaf lands: its segment, late or not (see _accumulate)."""

    start: datetime
    cuts: tuple[datetime, ...]
    cut_seqs: tuple[int, ...]


class _Scan(NamedTuple):
    """What one pass over a slice of the range's leaves established (a child process returns it).

    Attributes:
        hashes: the leaf hashes, concatenated (32 bytes each), for step (2).
        parse_error: the first leaf that is not a projection, as step (4)'s message.
        seq_error: the first leaf whose seq is out of order or range (not checked for the slice's
            first leaf against the slice before it: the caller does), as (offset, message).
        first_seq, last_seq: of the slice, when it parsed.
        deferred: (position, leaf hash) of the leaves that started after the period.
        sums: the settled, charged leaves' usage, summed per aggregate key (see _accumulate).
    """

    hashes: bytes
    parse_error: str | None
    seq_error: tuple[int, str] | None
    first_seq: int | None
    last_seq: int | None
    deferred: list[tuple[int, bytes]]
    sums: Sums


def _accumulate(sums: Sums, plan: _Plan, customer: str, key: str, model: str, version: str, prompt: int,
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
          plan: _Plan | None, st: str) -> _Scan:
    """Hash, parse, range-check and aggregate leaves raws[lo:hi] (leaf index first + lo, ...).

    The leaf bytes are hashed as read (they are the canonical JSON: nothing is re-serialised);
    they are parsed with the C decoder a chunk at a time, and only the fields the checks and the
    settlement need are kept, summed as they go (no object per leaf). `low` is the seq the first
    leaf must exceed (None: the caller checks it). Leaves that start at `end` or later are
    deferred. Without a plan nothing is aggregated (the statement's segments do not parse: step
    (5) reports it).
    """
    sha256 = hashlib.sha256
    hashes = b"".join([sha256(b"\x00" + raw).digest() for raw in raws[lo:hi]])
    fromiso = datetime.fromisoformat
    charged_outcomes = CHARGED_OUTCOMES
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
                seq = int(d["seq"])
                started = fromiso(d["started_at"])
                customer, key, model, version = d["customer"], d["key"], d["model"], d["price_version"]
                prompt, completion = int(d["prompt_tokens"]), int(d["completion_tokens"])
                charged = d["outcome"] in charged_outcomes
                if seq_error is None and not ((prev is None or prev < seq) and seq <= through):
                    seq_error = (i - lo, f"leaf {first + i} (leaves.jsonl line {i + 1}) has seq {seq}, want one in "
                                         f"({prev}, {through}]")
                if first_seq is None:
                    first_seq = seq
                prev = last_seq = seq
                if started >= end:
                    deferred.append((first + i, hashes[(i - lo) * 32:(i - lo + 1) * 32]))
                elif charged and plan is not None:
                    _accumulate(sums, plan, customer, key, model, version, prompt, completion, seq, started)
                i += 1
        except (ValueError, KeyError, TypeError) as exc:
            try:
                _parse_leaf(datas[i - start], first + i, f"leaves.jsonl line {i + 1}", st)
            except LeafRangeError as error:
                return _Scan(hashes, str(error), None, None, None, [], {})
            raise exc from None  # a leaf that parses but does not compare (a time with no zone)
    return _Scan(hashes, None, seq_error, first_seq, last_seq, deferred, sums)


def _loads_or_raw(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # not JSON: _parse_leaf says so


_FORKED: tuple[Sequence[bytes], tuple[Any, ...]] | None = None  # what a forked worker scans


def _scan_forked(lo: int, hi: int, low: int | None) -> _Scan:
    assert _FORKED is not None
    raws, (first, through, end, plan, st) = _FORKED
    return _scan(raws, lo, hi, first, low, through, end, plan, st)


def _split(n: int) -> bool:
    """Whether to scan n leaves in two processes (tests force it)."""
    return (n >= PARALLEL_MIN and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


def _scan_range(raws: Sequence[bytes], first: int, after: int, through: int, end: datetime, plan: _Plan | None,
                st: str) -> list[_Scan]:
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


def _check_scans(scans: Sequence[_Scan], m: int, after: int, through: int, st: str) -> tuple[int | None, int | None]:
    """Step (4) on the scanned slices, first failure in leaf order: parse, then seq. Returns first, last seq."""
    for scan in scans:
        if scan.parse_error is not None:
            raise LeafRangeError(scan.parse_error)
    offset, prev = 0, after
    for scan in scans:
        if scan.first_seq is not None and offset > 0 and not prev < scan.first_seq <= through:
            raise LeafRangeError(f"leaf {m + offset} (leaves.jsonl line {offset + 1}) has seq {scan.first_seq}, "
                                 f"want one in ({prev}, {through}]", st)
        if scan.seq_error is not None:
            raise LeafRangeError(scan.seq_error[1], st)
        offset += len(scan.hashes) // 32
        if scan.last_seq is not None:
            prev = scan.last_seq
    firsts = [s.first_seq for s in scans if s.first_seq is not None]
    lasts = [s.last_seq for s in scans if s.last_seq is not None]
    return (firsts[0], lasts[-1]) if firsts else (None, None)


def _plan(statement: dict[str, Any], ref: LogRef, period: Period) -> _Plan | None:
    """The segments' cuts, as _recompute reads them; None if they do not parse (step (5) says why)."""
    try:
        window = Window(period, tuple(_time(s["start"]) for s in statement["segments"][1:]))
        if len(ref.cut_seqs) != len(window.cuts):
            return None
        return _Plan(period.start, tuple(window.cuts), tuple(ref.cut_seqs))
    except Exception:  # any failure is reported by _recompute, at step (5)
        return None


def _leaf_set(hashes: Sequence[bytes]) -> LeafSet:
    """The LeafSet of leaves given by their leaf hashes, in order."""
    if not hashes:
        return LeafSet()
    digest = hashlib.sha256()
    for h in hashes:
        digest.update(h)
    return LeafSet(len(hashes), digest.hexdigest())


def _first_difference(got: Any, want: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first JSON path where `got` and `want` differ (depth first, in key order)."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            if k not in got or k not in want:
                return f"{path}.{k}", got.get(k, "<absent>"), want.get(k, "<absent>")
            found = _first_difference(got[k], want[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list):
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            found = _first_difference(g, w, f"{path}[{i}]")
            if found:
                return found
        if len(got) != len(want):
            return f"{path} (length)", len(got), len(want)
        return None
    return None if got == want else (path or ".", got, want)


def _verify_one(directory: Path, name: str, verifier: Verifier | str, shared: _Shared,
                held: Path | None = None) -> StatementVerdict:
    st = f"{name}.json"
    statement = _json(directory / st)
    if not isinstance(statement, dict) or statement.get("type") != "revshare.statement/v1":
        raise BundleFormatError(f"{st} is not a revshare statement")
    steps: list[Step] = []

    # (0) The statement's signature, under the key the licensor trusts.
    sig = _json(directory / f"{name}.sig")
    if not isinstance(sig, dict) or not isinstance(sig.get("signature"), str):
        raise BundleFormatError(f"{name}.sig: want {{\"signature\": base64, ...}}")
    try:
        verify_json(statement, sig["signature"], verifier)
    except (TlogError, ValueError) as exc:
        raise StatementSignatureError(
            f"the signature does not verify under the trusted key ({exc}); {name}.sig names key "
            f"{str(sig.get('key', '?')).split('+')[0:2]}", st) from None
    steps.append(Step(0, STEPS[0], f"Ed25519 over JCS, sha256 {statement_hash(statement)[:16]}…"))

    try:
        ref = LogRef.from_json(statement["log"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleFormatError(f"the statement names no log checkpoint and leaf range: {exc}", st) from None

    # (1) Both checkpoints verify under the key and are those the statement names.
    try:
        current = open_checkpoint(shared.note("checkpoint"), verifier, ref.origin)
        previous = (open_checkpoint(shared.note("checkpoint.previous"), verifier, ref.origin)
                    if ref.previous_size > 0 else Checkpoint(ref.origin, 0, EMPTY_ROOT))
    except TlogError as exc:
        raise CheckpointBindingError(f"checkpoint: {type(exc).__name__}: {exc}", st) from None
    for what, cp, size, named in (("checkpoint", current, ref.size, ref.root),
                                  ("checkpoint.previous", previous, ref.previous_size, ref.previous_root)):
        if (cp.size, cp.root_hash.hex()) != (size, named):
            raise CheckpointBindingError(f"{what} is size {cp.size} root {cp.root_hash.hex()}, the statement names "
                                         f"size {size} root {named}", st)
    steps.append(Step(1, STEPS[1], f"{ref.origin}: size {ref.previous_size} → {ref.size}"))

    # (2) The border folds to the previous root; the range's leaves extend it to the current root.
    m, n = ref.previous_size, ref.size
    border = shared.border
    if shared.border_size != m:
        raise LeafRootError(f"border.json is for size {shared.border_size}, the previous checkpoint is size {m}", st)
    if (_fold(border) if border else EMPTY_ROOT) != previous.root_hash:
        raise LeafRootError("border.json does not fold to the previous checkpoint's root", st)
    raws = shared.leaves
    if len(raws) != n - m:
        raise LeafRootError(f"leaves.jsonl has {len(raws)} leaves; the range [{m}, {n}) has {n - m} "
                            f"({'missing' if len(raws) < n - m else 'extra'} leaves)", st)
    # The leaves are hashed, parsed, checked and summed in one pass (two processes for a large
    # range); what that pass found wrong in them is reported at step (4), in step order.
    period = Period.parse(statement["period"])
    after = ref.after_seq
    scans = _scan_range(raws, m, after, ref.through_seq, period.end, _plan(statement, ref, period), st)
    joined = b"".join(scan.hashes for scan in scans)
    root = _append_leaves(m, border, [joined[i:i + 32] for i in range(0, len(joined), 32)])
    del joined
    if root != current.root_hash:
        raise LeafRootError(f"the {len(raws)} leaves of leaves.jsonl (leaves {m}..{n - 1}) rebuild root "
                            f"{root.hex()}, the checkpoint's is {current.root_hash.hex()}: a leaf was changed, "
                            "added, removed or reordered", st)
    steps.append(Step(2, STEPS[2], f"{n - m} leaves [{m}, {n}) rebuild root {root.hex()[:16]}…"))

    # (3) The current checkpoint extends the previous one, and the previous one is the one the
    # licensor holds (its previous bundle): a history rewritten and re-signed is self-consistent,
    # only what the licensor kept can show it.
    if 0 < m < n:
        try:
            verify_checkpoint_consistency(previous, current, shared.consistency(m, n))
        except TlogError as exc:
            raise ConsistencyError(f"size {m} → {n}: {type(exc).__name__}: {exc}", st) from None
        detail = f"proof {m} → {n} verifies"
    else:
        detail = "nothing to prove (the range starts the log)" if m == 0 else "same tree"
    if held is not None:
        detail += _check_held(held, statement, ref, st)
    steps.append(Step(3, STEPS[3], detail))

    # (4) The range: seqs, carried leaves, deferred leaves.
    seqs = _check_scans(scans, m, after, ref.through_seq, st)
    if seqs != (ref.first_seq, ref.last_seq):
        raise LeafRangeError(f"the leaves' first and last seq are {seqs}, the statement names "
                             f"{(ref.first_seq, ref.last_seq)}", st)
    carried: list[_Leaf] = []
    carried_hashes: list[bytes] = []
    for i, (raw, index, proof) in enumerate(shared.carried):
        leaf = _parse_leaf(raw, index, f"carried.jsonl line {i + 1}", st)
        if not 0 <= index < m or leaf.seq > after or leaf.started < period.start:
            raise LeafRangeError(f"carried leaf {index} (seq {leaf.seq}) is not a leaf before the range that "
                                 f"started in {period.label}", st)
        leaf_hash = hash_leaf(raw)
        try:
            verify_inclusion(index, n, leaf_hash, proof, current.root_hash)
        except TlogError as exc:
            raise LeafRangeError(f"carried leaf {index} (seq {leaf.seq}) is not in the log: {exc}", st) from None
        carried.append(leaf)
        carried_hashes.append(leaf_hash)
    if _leaf_set(carried_hashes) != ref.carried:
        raise LeafRangeError(f"carried.jsonl holds {len(carried)} leaves; the statement carries {ref.carried.count} "
                             f"(sha256 {ref.carried.sha256[:16]}…): a carried leaf is missing or extra", st)
    chain = _check_previous(directory, name, statement, ref, st)
    end = period.end
    settled = [lf for lf in carried if lf.started < end]  # and the range's, summed by the scan
    deferred = sorted([(lf.position, h) for lf, h in zip(carried, carried_hashes, strict=True) if lf.started >= end]
                      + [d for scan in scans for d in scan.deferred])
    if _leaf_set([h for _, h in deferred]) != ref.deferred:
        raise LeafRangeError(f"{len(deferred)} leaves started after {period.label}, the statement defers "
                             f"{ref.deferred.count}", st)
    steps.append(Step(4, STEPS[4], f"seq ({after}, {ref.through_seq}], {len(carried)} carried, {len(deferred)} "
                      f"deferred, no gap, no extra{chain}"))

    # (5) The figures, recomputed from the settled leaves and the terms.
    got = _recompute(statement, ref, settled, [scan.sums for scan in scans], shared.terms, period, st)
    got["log"] = statement["log"]
    diff = _first_difference(got, statement)
    if diff is not None:
        path, g, w = diff
        raise FigureMismatchError(f"figure {path}: the leaves and terms give {g!r}, the statement says {w!r}", st)
    t = statement["totals"]
    steps.append(Step(5, STEPS[5], f"{len(statement['lines'])} lines, {len(statement['adjustments'])} adjustments; "
                      f"earned {t['earned']}, amount due {t['amount_due']} {statement['currency']}"))
    return StatementVerdict(name, statement, tuple(steps))


def _check_held(held: Path, statement: dict[str, Any], ref: LogRef, st: str) -> str:
    """The previous bundle the licensor kept: its statement of this contract is the one chained to."""
    for name in statement_names(held):
        prev = _json(held / f"{name}.json")
        if prev.get("contract") != statement["contract"]:
            continue
        before = LogRef.from_json(prev["log"])
        if (before.size, before.root) != (ref.previous_size, ref.previous_root):
            raise ConsistencyError(
                f"history rewritten: the checkpoint you hold from {held.name} is size {before.size} root "
                f"{before.root}, this statement starts from size {ref.previous_size} root {ref.previous_root}", st)
        if statement_hash(prev) != statement.get("previous_hash"):
            raise ConsistencyError(f"history rewritten: the statement you hold from {held.name} hashes to "
                                   f"{statement_hash(prev)}, this one chains to {statement.get('previous_hash')}", st)
        return f"; extends the checkpoint held in {held.name}"
    raise BundleFormatError(f"{held}: no statement of contract {statement['contract']!r}")


def _check_previous(directory: Path, name: str, statement: dict[str, Any], ref: LogRef, st: str) -> str:
    """The previous statement, if the bundle has it: the chain hash, number, balance and deferred leaves."""
    path = directory / f"{name}.previous.json"
    if statement.get("previous_hash") is None or not path.exists():
        return ""
    prev = _json(path)
    if statement_hash(prev) != statement["previous_hash"]:
        raise LeafRangeError(f"{path.name} hashes to {statement_hash(prev)}, the statement chains to "
                             f"{statement['previous_hash']}", st)
    if prev.get("number") != statement["number"] - 1 or prev["totals"]["recoupment_after"] != \
            statement["totals"]["recoupment_before"]:
        raise LeafRangeError(f"{path.name} is not the statement before this one (number or recoupment balance)", st)
    if prev.get("log") and Period.parse(prev["period"]).next() == Period.parse(statement["period"]):
        before = LogRef.from_json(prev["log"])
        if (before.size, before.root) != (ref.previous_size, ref.previous_root):
            raise LeafRangeError(f"the previous statement's checkpoint is size {before.size}, this one starts at "
                                 f"{ref.previous_size}: a gap or an overlap between the statements", st)
        if before.deferred != ref.carried:
            raise LeafRangeError(f"the previous statement defers {before.deferred.count} leaves, this one carries "
                                 f"{ref.carried.count}", st)
    return "; chained to the previous statement"


def _recompute(statement: dict[str, Any], ref: LogRef, settled: Sequence[_Leaf], partial: Sequence[Sums],
               terms: StatementTerms, period: Period, st: str) -> dict[str, Any]:
    """The statement settled anew from the range's sums (`partial`) and the settled carried leaves."""
    segments = statement["segments"]
    edges = [_time(s["start"]) for s in segments]
    window = Window(period, tuple(edges[1:]))
    if len(ref.cut_seqs) != len(window.cuts):
        raise FigureMismatchError(f"the statement has {len(window.cuts)} cuts but {len(ref.cut_seqs)} cut seqs", st)
    plan = _Plan(period.start, tuple(window.cuts), tuple(ref.cut_seqs))
    sums: Sums = {}
    for part in partial:
        for k, (count, prompt, completion) in part.items():
            acc = sums.setdefault(k, [0, 0, 0])
            acc[0] += count
            acc[1] += prompt
            acc[2] += completion
    for leaf in settled:
        customer, key, model, version, prompt, completion, charged = leaf.usage
        if charged:
            _accumulate(sums, plan, customer, key, model, version, prompt, completion, leaf.seq, leaf.started)
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
    customers, keys = terms.names()
    for seg in got["segments"]:
        seg["exempt_customers"] = [customers.get(c, c) for c in seg["exempt_customers"]]
        seg["exempt_keys"] = [keys.get(k, k) for k in seg["exempt_keys"]]
    return json.loads(rfc8785.dumps(got))  # type: ignore[no-any-return]


# -- the bundle ---------------------------------------------------------------------------------


class _Shared:
    """The files every statement of a bundle shares, read once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        border = _json(directory / "border.json")
        if not isinstance(border, dict):
            raise BundleFormatError("border.json: want {\"size\": m, \"hashes\": [base64, ...]}")
        self.border_size = int(border.get("size", -1))
        self.border = _hashes(border.get("hashes"), "border.json")
        self.leaves = _lines(_read(directory / "leaves.jsonl"), "leaves.jsonl")
        self.carried: list[tuple[bytes, int, list[bytes]]] = []
        for i, line in enumerate(_lines(_read(directory / "carried.jsonl"), "carried.jsonl")):
            try:
                row = json.loads(line)
                self.carried.append((row["data"].encode("utf-8"), int(row["index"]),
                                     _hashes(row["proof"], f"carried.jsonl line {i + 1}")))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise BundleFormatError(f"carried.jsonl line {i + 1}: {exc}") from None
        try:
            self.terms = StatementTerms.from_json(_json(directory / "terms.json"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleFormatError(f"terms.json: {exc}") from None

    def note(self, name: str) -> str:
        try:
            return _read(self.directory / name).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleFormatError(f"{name} is not UTF-8 text: {exc}") from None

    def consistency(self, m: int, n: int) -> list[bytes]:
        data = _json(self.directory / "consistency.json")
        if not isinstance(data, dict) or (data.get("old"), data.get("new")) != (m, n):
            raise ConsistencyError(f"consistency.json is not the proof from size {m} to {n}")
        return _hashes(data.get("proof"), "consistency.json")


def statement_names(directory: Path) -> list[str]:
    """The statements of a bundle: `statement-*.json` files (not `*.previous.json`)."""
    return sorted(p.name[:-5] for p in directory.glob("statement-*.json") if not p.name.endswith(".previous.json"))


def verify_bundle(directory: str | Path, verifier: Verifier | str,
                  previous: str | Path | None = None) -> list[StatementVerdict]:
    """Verify every statement of a bundle directory; raise the first failure's StatementVerifyError.

    `previous`: the licensor's own copy of the previous period's bundle, to hold the host to it.
    """
    d = Path(directory)
    names = statement_names(d)
    if not names:
        raise BundleFormatError(f"{d}: no statement-*.json in the bundle")
    shared = _Shared(d)
    held = Path(previous) if previous is not None else None
    return [_verify_one(d, name, verifier, shared, held) for name in names]

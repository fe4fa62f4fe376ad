"""Verify a licensor's statement bundle offline: signatures, the log, the range, every figure.

    verify_bundle(directory, vkey) -> [StatementVerdict, ...]     (raises StatementVerifyError)

A bundle (written by `revshare export statement-bundle`; its files are named in
`revshare.settlement.bundle_layout`, described in docs/VERIFY.md) holds one or more statements
of one licensor and period, and what they were computed from. Each statement is checked in
numbered steps; the first failure raises the error of its step (`revshare.verify.errors`), which
names the file, the leaf (index, seq, line) or the figure (JSON path, got/want):

    (0) the statement's Ed25519 signature (over its JCS bytes) verifies under the trusted key;
    (1) both checkpoint notes verify under the key and are the checkpoints the statement names
        (origin, previous size and root, size and root); with a witness policy (C2SP tlog-policy),
        the current checkpoint's cosignatures meet its quorum (`witnessed.check_cosigned`);
    (2) the left border of the previous tree folds to the previous root, and the range's leaves
        appended to it rebuild the current root: the leaves are exactly leaves [m, n) of the log;
    (3) the consistency proof shows the current checkpoint extends the previous one;
    (4) the range: seqs strictly increasing within (after_seq, through_seq], first and last seq
        as stated; the carried leaves are in the log (inclusion proofs), before the range, named
        by the statement and by the previous statement (chain hash checked) as deferred; the
        deferred leaves are recomputed;
    (5) the figures: the settled leaves are aggregated, settled under the bundle's terms with the
        same `revshare.settlement.settle`, and every line and total compared with the statement;
        each line's `model_kind` is its model's kind in the terms, which every settled leaf's
        endpoint must serve.

The pieces: `files` opens only regular files inside the bundle, of the size their format allows;
`bundle` reads them (strict JSON; leaves.jsonl and carried.jsonl only once the signed checkpoint
and statement bound them), `leaves` streams the range's leaves and `scan` hashes, parses and sums
them a block at a time (two processes for a large range), `figures` settles them anew (step (5)),
`revshare.tlog.compact` and `scan.push_node` rebuild the roots. Whatever a file holds, the result
is a verdict or a StatementVerifyError of one line, never another exception. Imports only
`revshare.tlog`, `revshare.settlement`, `revshare.records` (the leaf projection) and
`revshare.instants`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from revshare.settlement import LeafSet, LogRef, Period
from revshare.settlement import bundle_layout as layout
from revshare.settlement.bundle_acceptances import ACCEPTANCES, AcceptanceHistory
from revshare.settlement.render import statement_hash
from revshare.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    TlogError,
    hash_leaf,
    verify_checkpoint_consistency,
    verify_inclusion,
    verify_json,
)
from revshare.tlog.compact import fold, perfect_tiles
from revshare.tlog.note import Verifier
from revshare.tlog.policy import Policy
from revshare.verify.acceptances import check_acceptances
from revshare.verify.bundle import SharedFiles, check_statement, log_ref, read_json, read_signature, statement_names
from revshare.verify.errors import (
    BundleFormatError,
    CheckpointBindingError,
    ConsistencyError,
    FigureMismatchError,
    LeafRangeError,
    LeafRootError,
    StatementSignatureError,
    StatementVerifyError,
    WitnessPolicyError,
)
from revshare.verify.figures import first_difference, recompute, scan_plan
from revshare.verify.log import open_checkpoint
from revshare.verify.scan import Leaf, Node, check_scans, parse_leaf, push_node, scan_range
from revshare.verify.witnessed import check_cosigned, describe

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
    "WitnessPolicyError",
    "verify_bundle",
]

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
    acceptances: AcceptanceHistory | None = None  # the bundle's acceptance history, signed (acceptances.json)


def _verify_one(directory: Path, name: str, verifier: Verifier | str, shared: SharedFiles,
                held: Path | None = None, policy: Policy | None = None) -> StatementVerdict:
    st = layout.statement_file(name)
    statement = read_json(directory / st)
    if not isinstance(statement, dict) or statement.get("type") != "revshare.statement/v1":
        raise BundleFormatError(f"{st} is not a revshare statement")
    steps: list[Step] = []

    # (0) The statement's signature, under the key the licensor trusts; the .sig names this statement.
    sig_file = layout.signature_file(name)
    signature, named_key, named_hash = read_signature(directory / sig_file, st)
    try:
        verify_json(statement, signature, verifier)
    except (TlogError, ValueError) as exc:
        raise StatementSignatureError(
            f"the signature does not verify under the trusted key ({exc}); {sig_file} names key "
            f"{(named_key or '?').split('+')[0:2]}", st) from None
    digest = statement_hash(statement)
    if named_hash is not None and named_hash != digest:
        raise StatementSignatureError(f'{sig_file}: "sha256" is not the statement\'s ({digest})', st)
    trusted = verifier if isinstance(verifier, str) else verifier.to_text()
    if named_key is not None and named_key.strip() != trusted.strip():
        raise StatementSignatureError(f'{sig_file}: "key" names {named_key[:120]!r}, not the key you hold', st)
    steps.append(Step(0, STEPS[0], f"Ed25519 over JCS, sha256 {digest[:16]}…"))
    check_statement(statement, st)
    ref = log_ref(statement["log"], st)

    # (1) Both checkpoints verify under the key and are those the statement names.
    try:
        current = open_checkpoint(shared.note(layout.CHECKPOINT), verifier, ref.origin)
        previous = (open_checkpoint(shared.note(layout.PREVIOUS_CHECKPOINT), verifier, ref.origin)
                    if ref.previous_size > 0 else Checkpoint(ref.origin, 0, EMPTY_ROOT))
    except TlogError as exc:
        raise CheckpointBindingError(f"checkpoint: {type(exc).__name__}: {exc}", st) from None
    for what, cp, size, named in ((layout.CHECKPOINT, current, ref.size, ref.root),
                                  (layout.PREVIOUS_CHECKPOINT, previous, ref.previous_size, ref.previous_root)):
        if (cp.size, cp.root_hash.hex()) != (size, named):
            raise CheckpointBindingError(f"{what} is size {cp.size} root {cp.root_hash.hex()}, the statement names "
                                         f"size {size} root {named}", st)
    witnessed = ""
    if policy is not None:
        try:
            witnessed = "; " + describe(check_cosigned(shared.note(layout.CHECKPOINT), policy, verifier,
                                                       origin=ref.origin), policy)
        except TlogError as exc:
            raise WitnessPolicyError(f"{layout.CHECKPOINT}: {type(exc).__name__}: {exc}", st) from None
    steps.append(Step(1, STEPS[1], f"{ref.origin}: size {ref.previous_size} → {ref.size}{witnessed}"))

    # (2) The border folds to the previous root; the range's leaves extend it to the current root.
    m, n = ref.previous_size, ref.size
    border = shared.border
    if shared.border_size != m:
        raise LeafRootError(f"{layout.BORDER} is for size {shared.border_size}, the previous checkpoint is size {m}",
                            st)
    if fold(border) != previous.root_hash:
        raise LeafRootError(f"{layout.BORDER} does not fold to the previous checkpoint's root", st)
    if len(border) != m.bit_count():  # then it folds to the root only by a forged hash
        raise LeafRootError(f"{layout.BORDER} has {len(border)} hashes; the border of a tree of size {m} has "
                            f"{m.bit_count()}", st)
    leaves = shared.leaves(n - m)  # refused unless n - m leaves can fill it
    if leaves.lines != n - m:
        raise LeafRootError(f"{layout.LEAVES} has {leaves.lines} leaves; the range [{m}, {n}) has {n - m} "
                            f"({'missing' if leaves.lines < n - m else 'extra'} leaves)", st)
    # The leaves are streamed, hashed, parsed, checked and summed in one pass (two processes for a
    # large range); what that pass found wrong in them is reported at step (4), in step order.
    period = Period.parse(statement["period"])
    after = ref.after_seq
    scans = scan_range(leaves, m, after, ref.through_seq, period.end, scan_plan(statement, ref, period), st)
    nodes: list[Node] = [(level, index, h) for (level, index), h in zip(perfect_tiles(0, m), border, strict=True)]
    for scan in scans:
        for node in scan.nodes:
            push_node(nodes, *node)
    root = fold([h for _, _, h in nodes])
    if root != current.root_hash:
        raise LeafRootError(f"the {leaves.lines} leaves of {layout.LEAVES} (leaves {m}..{n - 1}) rebuild root "
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
    seqs = check_scans(scans, m, after, ref.through_seq, st)
    if seqs != (ref.first_seq, ref.last_seq):
        raise LeafRangeError(f"the leaves' first and last seq are {seqs}, the statement names "
                             f"{(ref.first_seq, ref.last_seq)}", st)
    carried: list[Leaf] = []
    carried_hashes: list[bytes] = []
    for i, entry in enumerate(shared.carried(ref.carried.count)):
        raw, index, proof = entry.data.encode("utf-8"), entry.index, entry.proof
        leaf = parse_leaf(raw, index, f"{layout.CARRIED} line {i + 1}", st)
        if entry.seq != leaf.seq:
            raise LeafRangeError(f"{layout.CARRIED} line {i + 1} names seq {entry.seq}, the leaf's seq is {leaf.seq}",
                                 st)
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
    if LeafSet.of_hashes(carried_hashes) != ref.carried:
        raise LeafRangeError(f"{layout.CARRIED} holds {len(carried)} leaves; the statement carries {ref.carried.count} "
                             f"(sha256 {ref.carried.sha256[:16]}…): a carried leaf is missing or extra", st)
    chain = _check_previous(directory, name, statement, ref, st)
    end = period.end
    settled = [lf for lf in carried if lf.started < end]  # and the range's, summed by the scan
    deferred = sorted([(lf.position, h) for lf, h in zip(carried, carried_hashes, strict=True) if lf.started >= end]
                      + [d for scan in scans for d in scan.deferred])
    if LeafSet.of_hashes([h for _, h in deferred]) != ref.deferred:
        raise LeafRangeError(f"{len(deferred)} leaves started after {period.label}, the statement defers "
                             f"{ref.deferred.count}", st)
    steps.append(Step(4, STEPS[4], f"seq ({after}, {ref.through_seq}], {len(carried)} carried, {len(deferred)} "
                      f"deferred, no gap, no extra{chain}"))

    # (5) The figures, recomputed from the settled leaves and the terms.
    got = recompute(statement, ref, settled, [scan.sums for scan in scans], shared.terms, period, st,
                    [pair for scan in scans for pair in scan.served])
    got["log"] = statement["log"]
    diff = first_difference(got, statement)
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
        held_file = layout.statement_file(name)
        prev = check_statement(read_json(held / held_file), held_file, previous=True)
        if prev["contract"] != statement["contract"]:
            continue
        if prev["log"] is None:
            raise BundleFormatError(f"{held / held_file} names no log checkpoint to hold this statement to")
        before = log_ref(prev["log"], held_file)
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
    path = directory / layout.previous_statement_file(name)
    if statement["previous_hash"] is None or not os.path.lexists(path):
        return ""
    prev = check_statement(read_json(path), path.name, previous=True)
    if statement_hash(prev) != statement["previous_hash"]:
        raise LeafRangeError(f"{path.name} hashes to {statement_hash(prev)}, the statement chains to "
                             f"{statement['previous_hash']}", st)
    if prev.get("number") != statement["number"] - 1 or prev["totals"]["recoupment_after"] != \
            statement["totals"]["recoupment_before"]:
        raise LeafRangeError(f"{path.name} is not the statement before this one (number or recoupment balance)", st)
    if prev["log"] and Period.parse(prev["period"]).next() == Period.parse(statement["period"]):
        before = log_ref(prev["log"], path.name)
        if (before.size, before.root) != (ref.previous_size, ref.previous_root):
            raise LeafRangeError(f"the previous statement's checkpoint is size {before.size}, this one starts at "
                                 f"{ref.previous_size}: a gap or an overlap between the statements", st)
        if before.deferred != ref.carried:
            raise LeafRangeError(f"the previous statement defers {before.deferred.count} leaves, this one carries "
                                 f"{ref.carried.count}", st)
    return "; chained to the previous statement"


def verify_bundle(directory: str | Path, verifier: Verifier | str,
                  previous: str | Path | None = None, policy: Policy | None = None) -> list[StatementVerdict]:
    """Verify every statement of a bundle directory; raise the first failure's StatementVerifyError.

    `previous`: the licensor's own copy of the previous period's bundle, to hold the host to it;
    `policy`: the licensor's witness policy, which the current checkpoint's cosignatures must meet.
    """
    d = Path(directory)
    where = str(d)
    verdicts: list[StatementVerdict] = []
    try:
        names = statement_names(d)
        if not names:
            raise BundleFormatError(f"{d}: no statement-*.json in the bundle")
        shared = SharedFiles(d)
        held = Path(previous) if previous is not None else None
        try:
            for name in names:
                where = layout.statement_file(name)
                verdicts.append(_verify_one(d, name, verifier, shared, held, policy))
        finally:
            shared.close()
        where = ACCEPTANCES
        first = verdicts[0].statement
        history = check_acceptances(d, verifier, str(first["licensor"]), str(first["period"]))
        verdicts = [replace(v, acceptances=history) for v in verdicts]
    except (ArithmeticError, AttributeError, LookupError, OSError, RecursionError, TypeError, ValueError) as exc:
        # What the checks did not foresee in a file (a value of another type deep in a signed
        # statement or the terms, a directory that cannot be listed) fails, in one line.
        raise BundleFormatError(f"cannot be verified: {type(exc).__name__}: {exc}", where) from None
    return verdicts

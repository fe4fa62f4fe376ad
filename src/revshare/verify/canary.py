"""A licensor's canary audit: its own requests, sent as a customer, must be in the statement, counted.

A licensor that holds a customer key on the host sends a few small requests over a period
(`revshare.verify.canary_run`) and keeps, in a folder, what the host answered:

    canaries.jsonl                  one line per request: n, sent_at, log, record_id, status, error
    receipts/<record_id>.json       the receipt the host gave for it (GET /v1/receipts/ID?log=LOG)
    checkpoints/<size>-<root>.note  every signed checkpoint seen in a receipt

At statement time `check_canaries` holds the statement bundle (verified first, in full, by
`verify_bundle`) to them. A canary passes when its leaf is in the statement's range (or among its
carried leaves) with the bytes of its receipt, so step (5) counted it; each receipt and each checkpoint
seen whose size lies in the statement's range [m, n] must be the statement's log at that size (its
root is rebuilt from the bundle's border and leaves: consistency, without trusting a proof). A
canary sent inside the period with no leaf in the statement is MISSING; a receipt from a log other
than the statement's is FORKED. Canaries of other periods are reported, not judged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from revshare.instants import format_instant, parse_instant
from revshare.settlement import bundle_layout as layout
from revshare.tlog import Checkpoint, TlogError, hash_leaf, leaf_data, open_note
from revshare.tlog.compact import append_leaves, fold
from revshare.tlog.policy import Policy
from revshare.verify.errors import one_line
from revshare.verify.files import FileRefusedError, read_regular
from revshare.verify.leaves import LeafFile
from revshare.verify.receipt import verify_receipt_text
from revshare.verify.statement import verify_bundle

__all__ = ["CANARIES", "CHECKPOINTS", "RECEIPTS", "Canary", "CanaryFinding", "CanaryReport", "check_canaries",
           "read_canaries", "receipt_path", "valid_record_id"]

CANARIES = "canaries.jsonl"
RECEIPTS = "receipts"
CHECKPOINTS = "checkpoints"
_RECORD_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_SMALL = 1 << 20
_FAILING = ("MISSING", "FORKED", "BAD")


class CanaryError(ValueError):
    """The canary folder cannot be read; the message names the file and line."""


def valid_record_id(record_id: object) -> bool:
    """A record id safe to be a file name (the host's ids are `rec_...`)."""
    return isinstance(record_id, str) and _RECORD_ID.fullmatch(record_id) is not None and record_id not in (".", "..")


def receipt_path(folder: Path, record_id: str) -> Path:
    return folder / RECEIPTS / f"{record_id}.json"


@dataclass(frozen=True)
class Canary:
    """One request sent: its number, when, to which log, and the host's answer (record id or error)."""

    n: int
    sent_at: datetime
    log: str
    record_id: str | None
    status: int
    error: str | None = None

    @property
    def answered(self) -> bool:
        """The host served it (HTTP 200 with a record id): it owes a leaf in the licensor's log."""
        return self.status == 200 and self.record_id is not None

    def to_line(self) -> str:
        return json.dumps({"n": self.n, "sent_at": format_instant(self.sent_at), "log": self.log,
                           "record_id": self.record_id, "status": self.status, "error": self.error},
                          ensure_ascii=False) + "\n"


def read_canaries(folder: Path) -> list[Canary]:
    """canaries.jsonl of a canary folder; CanaryError naming the line that is not a canary."""
    try:
        text = read_regular(folder / CANARIES, 64 << 20, "a canary list").decode("utf-8")
    except (FileRefusedError, UnicodeDecodeError) as exc:
        raise CanaryError(f"{folder / CANARIES}: {exc}") from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
            record_id = row["record_id"]
            if record_id is not None and not valid_record_id(record_id):
                raise ValueError(f"record_id {record_id!r} is not a record id")
            out.append(Canary(int(row["n"]), parse_instant(row["sent_at"]), str(row["log"]), record_id,
                              int(row["status"]), row.get("error")))
        except (ValueError, KeyError, TypeError) as exc:
            raise CanaryError(f"{CANARIES} line {i}: {exc}") from None
    return out


@dataclass(frozen=True)
class CanaryFinding:
    """What the audit found for one canary (or one checkpoint seen): a verdict word and why."""

    verdict: str  # OK, MISSING, FORKED, BAD (these three fail), LATE, OTHER-PERIOD, UNANSWERED, UNCHECKED
    subject: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.verdict in _FAILING

    def line(self) -> str:
        return one_line(f"{self.verdict} {self.subject}: {self.detail}")


@dataclass(frozen=True)
class CanaryReport:
    """The statement's checkpoint and range, and a finding per canary and per checkpoint seen."""

    origin: str
    start: int
    end: int
    findings: tuple[CanaryFinding, ...]

    @property
    def failed(self) -> list[CanaryFinding]:
        return [f for f in self.findings if f.failed]


class _Range:
    """The statement's leaves [m, n), by index and by record id, and roots at every size in [m, n]."""

    def __init__(self, bundle: Path) -> None:
        self.border = layout.BorderFile.parse(read_regular(bundle / layout.BORDER, layout.MAX_SMALL_FILE, "border"))
        note = read_regular(bundle / layout.CHECKPOINT, layout.MAX_SMALL_FILE, "a checkpoint").decode()
        self.checkpoint = Checkpoint.from_text(note.partition("\n\n")[0] + "\n")  # verified by verify_bundle
        self.start, self.end = self.border.size, self.checkpoint.size
        self.leaves: list[bytes] = []
        with LeafFile.open(bundle, self.end - self.start) as f:
            for block in f.blocks(0, 0, f.file.size):
                self.leaves += block
        self.by_record: dict[str, tuple[int, bytes]] = {}
        for i, leaf in enumerate(self.leaves):
            self.by_record.setdefault(_record_id(leaf), (self.start + i, leaf))
        carried = bundle / layout.CARRIED
        if carried.is_file():
            text = read_regular(carried, layout.MAX_CARRIED_LINE * max(1, self.end), "carried leaves")
            for i, line in enumerate(text.splitlines(), 1):
                c = layout.CarriedLeaf.parse(line, i)
                self.by_record.setdefault(_record_id(c.data.encode()), (c.index, c.data.encode()))
        self._roots: dict[int, bytes] | None = None

    def root_at(self, size: int) -> bytes:
        """The root of the statement's log at `size`, m <= size <= n, from the border and the leaves."""
        if self._roots is None:
            border, roots = list(self.border.hashes), {}
            roots[self.start] = fold(border)
            for i, leaf in enumerate(self.leaves):
                append_leaves(border, self.start + i, (hash_leaf(leaf),))
                roots[self.start + i + 1] = fold(border)
            self._roots = roots
        return self._roots[size]


def _record_id(leaf: bytes) -> str:
    try:
        value = json.loads(leaf)
    except ValueError:
        return ""
    rid = value.get("record_id") if isinstance(value, dict) else None
    return rid if isinstance(rid, str) else ""


def check_canaries(folder: Path, bundle: Path, verifier: str, *, previous: Path | None = None,
                   policy: Policy | None = None) -> CanaryReport:
    """The audit: verify the bundle in full (StatementVerifyError on a failure), then judge each canary
    and each checkpoint seen against it."""
    verdicts = verify_bundle(bundle, verifier, previous, policy)
    statement = verdicts[0].statement
    period = (parse_instant(statement["period_start"]), parse_instant(statement["period_end"]))
    log = _Range(bundle)
    findings: list[CanaryFinding] = []
    for canary in read_canaries(folder):
        findings.append(_judge(folder, canary, log, period, verifier))
    earlier = _Range(previous) if previous is not None else None
    findings += _seen_checkpoints(folder, log, earlier, verifier)
    return CanaryReport(log.checkpoint.origin, log.start, log.end, tuple(findings))


def _judge(folder: Path, canary: Canary, log: _Range, period: tuple[datetime, datetime],
           verifier: str) -> CanaryFinding:
    sent = format_instant(canary.sent_at)
    subject = f"canary {canary.n} ({canary.record_id or 'no record id'}, sent {sent})"
    in_period = period[0] <= canary.sent_at < period[1]
    if not canary.answered or canary.record_id is None:
        return CanaryFinding("UNANSWERED", subject, f"HTTP {canary.status}: {canary.error or 'no record id'}; "
                                                    "the host did not serve it, so it owes no leaf")
    receipt = _receipt(folder, canary.record_id, verifier, log)
    if isinstance(receipt, CanaryFinding):
        return CanaryFinding(receipt.verdict, subject, receipt.detail)
    found = log.by_record.get(canary.record_id)
    if found is not None:
        index, leaf = found
        if receipt is not None and (receipt[0] != index or receipt[1] != leaf):
            return CanaryFinding("FORKED", subject, f"the statement holds leaf {index} for it, not the leaf "
                                                    f"{receipt[0]} its receipt proves")
        kept = "" if receipt is not None else " (no receipt kept)"
        return CanaryFinding("OK", subject, f"leaf {index} of {log.checkpoint.origin}, in the statement and "
                                            f"counted in its figures{kept}")
    if receipt is not None and log.start <= receipt[0] < log.end:
        return CanaryFinding("FORKED", subject, f"its receipt proves leaf {receipt[0]}, which the statement "
                                                "holds for another record")
    if receipt is not None and receipt[0] >= log.end:
        return CanaryFinding("LATE", subject, f"leaf {receipt[0]}, logged after the statement's checkpoint "
                                              f"(size {log.end}): a later statement must count or carry it")
    if in_period and receipt is None:
        return CanaryFinding("MISSING", subject, f"sent inside the period {format_instant(period[0])} - "
                                                 f"{format_instant(period[1])}, the host gave no receipt and no "
                                                 "leaf of the statement is its record")
    return CanaryFinding("OTHER-PERIOD", subject, "not in this statement's range, sent outside its period")


def _receipt(folder: Path, record_id: str, verifier: str, log: _Range) -> tuple[int, bytes] | CanaryFinding | None:
    """(index, leaf bytes) its receipt proves, after checking it against the statement's log; None if none kept."""
    path = receipt_path(folder, record_id)
    if not path.exists():
        return None
    try:
        text = read_regular(path, _SMALL, "a receipt").decode("utf-8")
        verdict = verify_receipt_text(text, verifier, origin=log.checkpoint.origin, record_id=record_id)
    except (FileRefusedError, UnicodeDecodeError, TlogError, ValueError) as exc:
        return CanaryFinding("BAD", "", f"its receipt {path} does not verify: {type(exc).__name__}: {exc}")
    cp, index = verdict.verified.checkpoint, verdict.verified.index
    forked = _fork(cp, log)
    if forked:
        return CanaryFinding("FORKED", "", f"its receipt's {forked}")
    return index, leaf_data(verdict.record)


def _fork(cp: Checkpoint, log: _Range) -> str:
    """Why checkpoint `cp` is not the statement's log at its size; '' if it is, or lies outside [m, n]."""
    if cp.origin != log.checkpoint.origin or not log.start <= cp.size <= log.end or cp.size == 0:
        return ""
    if log.root_at(cp.size) != cp.root_hash:
        return (f"checkpoint at size {cp.size} has root {cp.root_hash.hex()}, but the statement's log has "
                f"{log.root_at(cp.size).hex()} there: the host showed another log")
    return ""


def _seen_checkpoints(folder: Path, log: _Range, earlier: _Range | None, verifier: str) -> Iterator[CanaryFinding]:
    """Each checkpoint seen, against the statement's range or the previous bundle's; one outside both is
    reported UNCHECKED (this bundle cannot rebuild that size)."""
    seen = folder / CHECKPOINTS
    if not seen.is_dir():
        return
    for path in sorted(seen.iterdir()):
        subject = f"checkpoint {path.name}"
        try:
            cp = Checkpoint.from_text(open_note(read_regular(path, _SMALL, "a checkpoint").decode(), verifier))
        except (FileRefusedError, UnicodeDecodeError, TlogError, ValueError) as exc:
            yield CanaryFinding("BAD", subject, f"{type(exc).__name__}: {exc}")
            continue
        covering = next((r for r in (log, earlier) if r is not None and r.start <= cp.size <= r.end), None)
        if cp.origin != log.checkpoint.origin:
            yield CanaryFinding("UNCHECKED", subject, f"of another log ({cp.origin})")
        elif covering is None:
            yield CanaryFinding("UNCHECKED", subject, f"size {cp.size} is outside the bundles' ranges "
                                                      f"[{log.start}, {log.end}]")
        elif forked := _fork(cp, covering):
            yield CanaryFinding("FORKED", subject, forked)
        else:
            yield CanaryFinding("OK", subject, f"the log at size {cp.size}, as the bundles rebuild it")

"""Settling a closed period: read its usage, settle, validate, store, write the files.

`settle_period` runs the pure settlement (`revshare.settlement`) on a closed period with the
state carried from the previous one, validates it, stores the new state and every issued
document's hash, and writes the files. Settling a period again re-creates byte-identical files
and stores nothing; if the result would differ (the catalog or ledger changed under a settled
period), it refuses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import rfc8785
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from revshare.instants import utc_now
from revshare.monthend.credits import credits_for
from revshare.monthend.period_users import read_sightings
from revshare.monthend.periods import ClosedPeriod, SettlementLedgerError, closed_period
from revshare.monthend.schema import (
    settlement_documents,
    settlement_states,
)
from revshare.monthend.usage_sums import Progress, read_aggregates
from revshare.settlement import (
    LogRef,
    Period,
    SettlementError,
    SettlementResult,
    SettlementState,
    UsageAggregate,
    Window,
    invoice_json,
    invoice_stem,
    settle,
    statement_hash,
    statement_json,
    statement_stem,
    validate_settlement,
    window_for,
    write_files,
)
from revshare.settlement.state import next_state
from revshare.settlement.users import Sighting

if TYPE_CHECKING:
    from revshare.config import Catalog
    from revshare.ledger.store import Ledger
    from revshare.tlog import HostKey

__all__ = ["IssuedDocument", "SettleRun", "UsageChoice", "UsageSource", "issued_documents", "settle_period",
           "signature_doc"]

UsageChoice = Literal["auto", "columnar", "ledger"]


@dataclass(frozen=True, slots=True)
class UsageSource:
    """Where a settle read its usage sums: `path` "columnar" (the analytics store) or "ledger";
    `note` says what the store held, or why the ledger was read instead."""

    path: Literal["columnar", "ledger"]
    note: str


@dataclass(frozen=True, slots=True)
class IssuedDocument:
    """A statement or invoice as issued: its file stem, number and SHA-256 of its JCS JSON."""

    kind: Literal["statement", "invoice"]
    name: str
    number: str
    sha256: str
    body: str


@dataclass(frozen=True, slots=True)
class SettleRun:
    """What `settle_period` did.

    Attributes:
      result: the settlement (statements, invoices, host summaries, state, warnings).
      files: the files written. rerun: the period was already settled; the documents were
        re-created identical to those issued and nothing was stored.
      warnings: settlement warnings (e.g. a credit no licensor's basis is lowered by).
      aggregates: the usage groups read; requests: the charged requests they hold.
      usage: where the usage was read (the analytics store or the ledger) and why.
    """

    result: SettlementResult
    files: tuple[Path, ...]
    rerun: bool
    warnings: tuple[SettlementError, ...]
    aggregates: int
    requests: int
    usage: UsageSource = UsageSource("ledger", "")


# settle ----------------------------------------------------------------------------------


def _state_of(conn: Connection, period: Period) -> SettlementState | None:
    text = conn.execute(
        select(settlement_states.c.state).where(settlement_states.c.period == period.label)).scalar_one_or_none()
    return None if text is None else SettlementState.from_json(json.loads(text))


def issued_documents(ledger: Ledger, period: Period) -> list[IssuedDocument]:
    """The statements and invoices issued for a settled period, in the order they were issued."""
    d = settlement_documents
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(d).where(d.c.period == period.label).order_by(d.c.position)).all()
    return [IssuedDocument(m["kind"], m["name"], m["number"], m["sha256"], m["body"])
            for m in (r._mapping for r in rows)]


def _documents(result: SettlementResult) -> list[IssuedDocument]:
    docs = [IssuedDocument("statement", statement_stem(s), str(s.number), statement_hash(s.to_json()),
                           statement_json(s).decode("utf-8").rstrip("\n")) for s in result.statements]
    for i in result.invoices:
        body = invoice_json(i).rstrip(b"\n")
        docs.append(IssuedDocument("invoice", invoice_stem(i), i.number, hashlib.sha256(body).hexdigest(),
                                   body.decode("utf-8")))
    return docs


def _differences(issued: Sequence[IssuedDocument], now: Sequence[IssuedDocument]) -> list[str]:
    before = {(d.kind, d.name): d.sha256 for d in issued}
    after = {(d.kind, d.name): d.sha256 for d in now}
    notes = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            notes.append(f"{key[0]} {key[1]} was issued and is now missing")
        elif key not in before:
            notes.append(f"{key[0]} {key[1]} is new")
        elif before[key] != after[key]:
            notes.append(f"{key[0]} {key[1]} changed (issued sha256 {before[key][:12]}, now {after[key][:12]})")
    return notes


def settle_period(
    ledger: Ledger,
    catalog: Catalog,
    period: Period,
    out_dir: str | Path,
    *,
    settled_by: str,
    log: LogRef | Mapping[str, LogRef] | None = None,
    signer: HostKey | None = None,
    progress: Progress | None = None,
    usage: UsageChoice = "ledger",
) -> SettleRun:
    """Settle a closed period: statements, invoices, the carried state; see the module docstring.

    Steps: (1) the close and the state carried from the previous period; (2) usage aggregated
    in SQL and the period's credits; (3) the pure settlement, then every validator: any error
    refuses the whole run; (4) compare with the documents issued before, if any; (5) store the
    state and documents; (6) write the files. `log`, when given, is the checkpoint reference put
    on every statement (before hashing, so the chain covers it): one for all, or one per licensor
    id (`statement_bundle.statement_logs`). `signer`, when given, signs each statement: `<stem>.sig`
    beside its JSON (`signature_doc`). `usage`: "ledger" sums the ledger; "columnar" the analytics
    store, refusing when it does not hold every record up to the close's last seq; "auto" the store
    when it does, else the ledger (`SettleRun.usage` says which, and why). The sums are equal.
    """
    closed = closed_period(ledger, period)
    if closed is None:
        raise SettlementLedgerError(
            f"period {period.label} is not closed: run `revshare period close {period.label}` first")
    # (1)
    with ledger.engine.connect() as conn:
        prior: SettlementState | None = None
        previous = closed_period(ledger, period.previous())
        if previous is not None:
            prior = _state_of(conn, previous.period)
            if prior is None:
                raise SettlementLedgerError(
                    f"settle {previous.period.label} first: its statements carry numbering, hashes and recoupment "
                    f"balances into {period.label}")
    window = window_for(catalog.contracts, period, closed_at=closed.cutoff, late_after=closed.late_after)
    # (2)
    want_users = not _issued_without_users(ledger, period)
    aggregates, users, source = _read_usage(ledger, catalog, window, closed, previous, usage, progress, want_users)
    credits = credits_for(ledger, closed)
    # (3)
    result = settle(catalog, window, aggregates, prior=prior, credits=credits, users=users)
    if log is not None:
        refs = log
        statements = tuple(replace(s, log=refs if isinstance(refs, LogRef) else refs.get(s.licensor))
                           for s in result.statements)
        result = replace(result, statements=statements, state=next_state(prior or SettlementState(), statements))
    problems = [e for e in result.errors if e.level == "error"] + validate_settlement(result)
    if problems:
        raise SettlementLedgerError(
            f"settling {period.label} failed; nothing was stored or written:\n"
            + "\n".join(f"  [{e.code}] {e.message}" for e in problems))
    docs = _documents(result)
    # (4), (5)
    rerun = _store(ledger, period, result, docs, settled_by)
    # (6)
    try:
        files = write_files(out_dir, result.statements, result.invoices)
        if signer is not None:
            for st in result.statements:
                path = Path(out_dir) / f"{statement_stem(st)}.sig"
                path.write_bytes(signature_doc(st.to_json(), statement_stem(st), signer))
                files.append(path)
            files.sort()
    except OSError as exc:
        raise SettlementLedgerError(f"cannot write the files to {out_dir}: {exc}") from exc
    return SettleRun(result, tuple(files), rerun, tuple(e for e in result.errors if e.level == "warning"),
                     len(aggregates), sum(a.requests for a in aggregates), source)


def _issued_without_users(ledger: Ledger, period: Period) -> bool:
    """Whether the period's statements were issued before they counted active users (migration
    0011): settled again, they are settled without, so that they stay the documents issued."""
    return any(d.kind == "statement" and '"users":' not in d.body for d in issued_documents(ledger, period))


def _read_usage(ledger: Ledger, catalog: Catalog, window: Window, closed: ClosedPeriod,
                previous: ClosedPeriod | None, usage: UsageChoice, progress: Progress | None,
                users: bool) -> tuple[tuple[UsageAggregate, ...], tuple[Sighting, ...] | None, UsageSource]:
    """The window's usage sums and (with `users`) active users, from the analytics store when `usage`
    allows and it can answer, else from the ledger: both from the same place, the same figures."""
    reason = "asked for (--usage ledger)"
    if usage != "ledger":
        path = catalog.analytics_path()
        if not catalog.analytics.enabled:
            reason = "the analytics store is off ([analytics] enabled = false)"
        else:
            try:
                from revshare.analytics.store import AnalyticsError
                from revshare.analytics.sums import read_columnar
            except ImportError as exc:  # duckdb is in the `server` extra
                reason = f"the analytics store needs duckdb ({exc})"
            else:
                try:
                    read = read_columnar(path, ledger, window, closed.last_seq, users=users,
                                         busy_wait_s=catalog.analytics.busy_wait_s)
                except AnalyticsError as exc:
                    reason = str(exc)
                else:
                    pos = read.position
                    return read.aggregates, read.sightings, UsageSource(
                        "columnar", f"the analytics store {path} (seq 1..{pos.copied_seq}, digest {pos.digest_hex})")
        if usage == "columnar":
            raise SettlementLedgerError(f"cannot settle {closed.period.label} from the analytics store: {reason}")
    sums = read_aggregates(ledger, window, late_after_seq=previous.last_seq if previous is not None else None,
                           progress=progress)
    return sums, read_sightings(ledger, window) if users else None, UsageSource("ledger", reason)


def signature_doc(statement: Mapping[str, Any], stem: str, key: HostKey) -> bytes:
    """`<stem>.sig`: Ed25519 over the statement's JCS bytes (`HostKey.sign_json`), as JCS JSON.

    {"key": <vkey>, "sha256": <statement hash>, "signature": <base64>, "statement": "<stem>.json",
     "type": "revshare.statement-signature/v1"}; Ed25519 is deterministic, so re-running gives the
    same bytes. A verifier checks `signature` under the key it trusts, not the one named here.
    """
    doc = {"type": "revshare.statement-signature/v1", "statement": f"{stem}.json",
           "sha256": statement_hash(statement), "key": key.verifier_text(), "signature": key.sign_json(statement)}
    return rfc8785.dumps(doc) + b"\n"


def _store(ledger: Ledger, period: Period, result: SettlementResult, docs: list[IssuedDocument], by: str) -> bool:
    """Store state and documents once; on a re-run, check the documents are those issued."""
    for _attempt in range(2):
        issued = issued_documents(ledger, period)
        with ledger.engine.connect() as conn:
            settled = _state_of(conn, period) is not None
        if settled:
            diff = _differences(issued, docs)
            if diff:
                raise SettlementLedgerError(
                    f"period {period.label} was already settled and a settled period never changes, but settling it "
                    "again now gives different documents (did revshare.toml or the ledger change?):\n"
                    + "\n".join(f"  {d}" for d in diff))
            return True
        try:
            with ledger.engine.begin() as conn:
                conn.execute(settlement_states.insert().values(
                    period=period.label, state=rfc8785.dumps(result.state.to_json()).decode("utf-8"),
                    settled_at=utc_now(), settled_by=by))
                conn.execute(settlement_documents.insert(), [
                    {"period": period.label, "kind": d.kind, "name": d.name, "number": d.number,
                     "sha256": d.sha256, "body": d.body, "position": i} for i, d in enumerate(docs)])
            return False
        except IntegrityError:
            continue  # settled at the same moment by another process: compare with what it stored
        except SQLAlchemyError as exc:
            raise SettlementLedgerError(
                f"cannot store the settlement in the ledger at {ledger.safe_url}: {exc}") from exc
    raise SettlementLedgerError(f"period {period.label}: could not store or read back its settlement")


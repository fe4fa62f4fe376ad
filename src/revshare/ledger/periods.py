"""The ledger side of settlement: close periods, grant credits, settle a closed period.

Three operations, each in one transaction of its own, each a plain function over a `Ledger`:

- `close_period` freezes a month. Its cut-off is taken while holding the ledger's seq counter
  (the row every append locks first), so each record is on one side of it for good: appended
  before the cut-off (its seq <= `last_seq`), it belongs to this close; after, it is late usage
  of the next close. Closes go in order, one month after the other; a month that has not
  ended can only be closed `early` (up to now), which keeps that promise: its later records
  become late usage of the next month.
- `grant_credit` records a credit, refund or discount. It lands in the first close whose
  cut-off comes after it, i.e. the period open when it was granted: a closed period never
  receives one.
- `settle_period` runs the pure settlement (`revshare.settlement`) on a closed period with the
  state carried from the previous one, validates it, stores the new state and every issued
  document's hash, and writes the files. Settling a period again re-creates byte-identical
  files and stores nothing; if the result would differ (the catalog or ledger changed under a
  settled period), it refuses.

Refusals raise `SettlementLedgerError` with a message for the operator; the CLI prints it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import rfc8785
from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from revshare.ledger.schema import ledger_state, usage_records
from revshare.ledger.settlement_schema import (
    settlement_credits,
    settlement_documents,
    settlement_periods,
    settlement_states,
)
from revshare.metering.record import Outcome
from revshare.money import D, MoneyError, minor_unit, money_str
from revshare.settlement import (
    Credit,
    LogRef,
    Period,
    SettlementError,
    SettlementResult,
    SettlementState,
    UsageAggregate,
    Window,
    aggregate_sql,
    invoice_json,
    invoice_stem,
    settle,
    sort_aggregates,
    statement_hash,
    statement_json,
    statement_stem,
    validate_settlement,
    window_for,
    write_files,
)
from revshare.settlement.state import next_state

if TYPE_CHECKING:
    from revshare.config import Catalog
    from revshare.ledger.store import Ledger
    from revshare.tlog import HostKey

__all__ = [
    "CREDIT_KINDS",
    "ClosedPeriod",
    "IssuedDocument",
    "SettleRun",
    "SettlementLedgerError",
    "close_period",
    "closed_period",
    "closed_periods",
    "credits_for",
    "grant_credit",
    "issued_documents",
    "next_open_period",
    "read_aggregates",
    "settle_period",
    "signature_doc",
]

CREDIT_KINDS: tuple[str, ...] = ("credit", "refund", "discount")
CHARGED = tuple(o.value for o in Outcome if o.charged)

Progress = Callable[[int, int], None]


class SettlementLedgerError(Exception):
    """A close, credit or settle that was refused; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    """A closed period as stored in `settlement_periods`.

    Attributes:
      period: the month. closed_at: when the close ran; cutoff: records appended before it
        belong to this close (the same instant, taken under the seq counter's lock).
      late_after: the previous close's cut-off (None for the first close): records of earlier
        months appended since then are late usage of this close; credits granted since then too.
      last_seq: the ledger's last seq at the cut-off. early: closed before the month ended.
      closed_by, note: who closed it and why. settled_at: when it was first settled, if it was.
    """

    period: Period
    closed_at: datetime
    cutoff: datetime
    late_after: datetime | None
    last_seq: int
    early: bool
    closed_by: str
    note: str
    settled_at: datetime | None = None


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
    """

    result: SettlementResult
    files: tuple[Path, ...]
    rerun: bool
    warnings: tuple[SettlementError, ...]
    aggregates: int
    requests: int


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _lock_counter(conn: Connection) -> int:
    """Take the row lock every append takes first; return the last seq handed out.

    On PostgreSQL this waits for appends in flight and holds them off until commit; on SQLite
    it starts the write transaction, which does the same for the whole database. Anything
    appended after this transaction commits gets a later `appended_at` and a larger seq.
    """
    next_seq = conn.execute(
        update(ledger_state)
        .where(ledger_state.c.id == 1)
        .values(next_seq=ledger_state.c.next_seq)
        .returning(ledger_state.c.next_seq)
    ).scalar_one()
    return int(next_seq) - 1


def _closed(row: Any) -> ClosedPeriod:
    m = row._mapping
    settled = m.get("settled_at")
    return ClosedPeriod(
        Period.parse(m["period"]), _utc(m["closed_at"]), _utc(m["cutoff"]),
        _utc(m["late_after"]) if m["late_after"] is not None else None, int(m["last_seq"]), bool(m["early"]),
        m["closed_by"], m["note"], _utc(settled) if settled is not None else None,
    )


def _periods_query() -> Any:
    p, s = settlement_periods, settlement_states
    return select(p, s.c.settled_at).select_from(p.outerjoin(s, s.c.period == p.c.period)).order_by(p.c.period)


def closed_periods(ledger: Ledger) -> list[ClosedPeriod]:
    """Every closed period, oldest first."""
    with ledger.engine.connect() as conn:
        return [_closed(r) for r in conn.execute(_periods_query())]


def closed_period(ledger: Ledger, period: Period) -> ClosedPeriod | None:
    with ledger.engine.connect() as conn:
        row = conn.execute(_periods_query().where(settlement_periods.c.period == period.label)).first()
    return _closed(row) if row is not None else None


def next_open_period(ledger: Ledger) -> Period | None:
    """The month after the last closed one; None when nothing was ever closed."""
    with ledger.engine.connect() as conn:
        last = conn.execute(select(func.max(settlement_periods.c.period))).scalar_one_or_none()
    return Period.parse(last).next() if last else None


# close -----------------------------------------------------------------------------------


def close_period(
    ledger: Ledger, period: Period, *, closed_by: str, early: bool = False, note: str = ""
) -> ClosedPeriod:
    """Freeze `period`: from now on the records and credits it settles can never change.

    Refused when the period is already closed, is not the month after the last closed one,
    has not ended (unless `early`: then only the current month, up to now), or, for the first
    close, when the ledger holds charged usage of earlier months (it would never be settled).
    """
    now = _now()
    if period.start > now:
        raise SettlementLedgerError(f"period {period.label} has not started yet (it starts {_iso(period.start)})")
    if period.end > now and not early:
        raise SettlementLedgerError(
            f"period {period.label} has not ended (it ends {_iso(period.end)}). To close it now, up to this "
            "instant, pass --early: its records appended later become late usage of the next period")
    try:
        with ledger.engine.begin() as conn:
            last_seq = _lock_counter(conn)
            cutoff = _now()  # after the lock: every committed record was appended before it
            existing = conn.execute(
                select(settlement_periods).where(settlement_periods.c.period == period.label)).first()
            if existing is not None:
                c = _closed(existing)
                raise SettlementLedgerError(
                    f"period {period.label} is already closed (at {_iso(c.closed_at)} by {c.closed_by}); a closed "
                    "period never changes: late records, credits and refunds land in the next period")
            previous = conn.execute(
                select(settlement_periods).order_by(settlement_periods.c.period.desc()).limit(1)).first()
            late_after: datetime | None = None
            if previous is not None:
                last = _closed(previous)
                if period != last.period.next():
                    want = last.period.next().label
                    raise SettlementLedgerError(
                        f"periods close in order: the last closed period is {last.period.label}, so the next one "
                        f"to close is {want}, not {period.label}")
                late_after = last.cutoff
            else:
                first = conn.execute(
                    select(func.min(usage_records.c.started_at))
                    .where(usage_records.c.started_at < period.start, usage_records.c.outcome.in_(CHARGED))
                ).scalar_one_or_none()
                if first is not None:
                    earliest = Period.containing(_utc(first)).label
                    raise SettlementLedgerError(
                        f"the ledger has charged usage from {earliest}, before {period.label}: close periods in "
                        f"order starting with {earliest}, or that usage would never be settled")
            row = {"period": period.label, "closed_at": cutoff, "cutoff": cutoff, "late_after": late_after,
                   "last_seq": last_seq, "early": period.end > cutoff, "closed_by": closed_by, "note": note}
            conn.execute(settlement_periods.insert().values(**row))
    except IntegrityError:
        raise SettlementLedgerError(f"period {period.label} was closed at the same moment by another process") from None
    except SQLAlchemyError as exc:
        raise SettlementLedgerError(f"cannot close {period.label} in the ledger at {ledger.safe_url}: {exc}") from exc
    return ClosedPeriod(period, cutoff, cutoff, late_after, last_seq, period.end > cutoff, closed_by, note)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# credits ---------------------------------------------------------------------------------


def _parse_amount(text: str, currency: str) -> Decimal:
    try:
        amount = D(text)
    except MoneyError:
        raise SettlementLedgerError(f"amount {text!r} is not a decimal number such as 12.50") from None
    if amount <= 0:
        raise SettlementLedgerError(f"amount must be greater than zero, got {text!r}")
    places = minor_unit(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise SettlementLedgerError(
            f"amount {text!r} has more than {places} decimal places, the minor unit of {currency}")
    return amount.quantize(Decimal(1).scaleb(-places))


def _credit_currency(catalog: Catalog, model: str | None, currency: str | None) -> str:
    known = sorted({p.currency for p in catalog.prices if model is None or p.model == model})
    if currency is not None:
        if currency not in known:
            where = f"model {model!r}" if model else "the catalog"
            raise SettlementLedgerError(
                f"currency {currency!r}: {where} has prices only in {', '.join(known) or 'none'}")
        return currency
    if len(known) != 1:
        raise SettlementLedgerError(f"give --currency: prices are in {', '.join(known)}")
    return known[0]


def grant_credit(
    ledger: Ledger,
    catalog: Catalog,
    *,
    customer: str,
    amount: str,
    reason: str,
    created_by: str,
    kind: str = "credit",
    model: str | None = None,
    currency: str | None = None,
    refers_to: str | None = None,
) -> Credit:
    """Record a credit, refund or discount, dated now; it lands in the next close.

    `amount` is text (a Decimal string > 0 on the currency's minor unit), never a float.
    """
    if not isinstance(amount, str):
        raise SettlementLedgerError("amount must be given as text, e.g. '12.50' (never a float)")
    if catalog.customer(customer) is None:
        known = ", ".join(c.name for c in catalog.customers) or "none"
        raise SettlementLedgerError(f"{catalog.source}: no customer named {customer!r} (known: {known})")
    if kind not in CREDIT_KINDS:
        raise SettlementLedgerError(f"kind must be one of {', '.join(CREDIT_KINDS)}, got {kind!r}")
    if model is not None and catalog.model(model) is None:
        raise SettlementLedgerError(f"{catalog.source}: no model {model!r} in [[models]]")
    if not reason.strip():
        raise SettlementLedgerError("give a reason: it is printed on the invoice and the statement")
    if refers_to is not None:
        try:
            refers_to = Period.parse(refers_to).label
        except ValueError as exc:
            raise SettlementLedgerError(f"--refers-to: {exc}") from None
    cur = _credit_currency(catalog, model, currency)
    value = _parse_amount(amount, cur)
    credit_id = "cr_" + secrets.token_hex(8)
    try:
        with ledger.engine.begin() as conn:
            _lock_counter(conn)  # so no close can slip between this date and the commit
            created = _now()
            conn.execute(settlement_credits.insert().values(
                id=credit_id, customer=customer, amount=money_str(value), currency=cur, reason=reason.strip(),
                kind=kind, model=model, refers_to=refers_to, created_at=created, created_by=created_by))
    except SQLAlchemyError as exc:
        raise SettlementLedgerError(f"cannot record the credit in the ledger at {ledger.safe_url}: {exc}") from exc
    return Credit(credit_id, customer, value, cur, created, reason.strip(),
                  cast(Literal["credit", "refund", "discount"], kind), model, refers_to)


def credits_for(ledger: Ledger, closed: ClosedPeriod) -> tuple[Credit, ...]:
    """The credits a close takes: granted before its cut-off and since the previous one."""
    c = settlement_credits
    cond = [c.c.created_at < closed.cutoff]
    if closed.late_after is not None:
        cond.append(c.c.created_at >= closed.late_after)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(c).where(and_(*cond)).order_by(c.c.id)).all()
    return tuple(sorted(
        Credit(m["id"], m["customer"], D(m["amount"]), m["currency"], _utc(m["created_at"]), m["reason"],
               m["kind"], m["model"], m["refers_to"])
        for m in (r._mapping for r in rows)
    ))


# aggregates ------------------------------------------------------------------------------


def read_aggregates(
    ledger: Ledger,
    window: Window,
    *,
    late_after_seq: int | None = None,
    progress: Progress | None = None,
    workers: int = 2,
) -> tuple[UsageAggregate, ...]:
    """`aggregate_sql(window)` on the ledger, read one day of the period at a time.

    Each day's GROUP BY is small enough to sort in memory (SQLite has no hash aggregate, and
    one GROUP BY over a month of records spills its sort to disk); `workers` connections run
    days side by side (the drivers release the GIL while the database works); the pieces drive
    the progress bar. Late usage is one more piece, found by seq above `late_after_seq` (the
    last seq at the previous close) rather than by scanning every older record. The window
    only takes records appended before a past cut-off, which never change, so the pieces agree
    whatever snapshot each connection reads. `progress(done, total)` is called after each piece.
    """
    start, end = window.period.start, window.period.end
    parts: list[dict[str, Any]] = []
    day = start
    while day < end:
        parts.append({"started_from": day, "started_before": min(day + timedelta(days=1), end)})
        day += timedelta(days=1)
    if window.late_after is not None:
        parts.append({"started_before": start, "after_seq": late_after_seq})

    def run(part: dict[str, Any]) -> list[Any]:
        with ledger.engine.connect() as conn:
            return list(conn.execute(aggregate_sql(window, **part)))

    sums: dict[tuple[str, str, str, str, int, bool], list[int]] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for done, rows in enumerate(pool.map(run, parts), 1):
                for r in rows:
                    acc = sums.setdefault((r[0], r[1], r[2], r[3], int(r[4]), bool(r[5])), [0, 0, 0])
                    acc[0] += int(r[6])
                    acc[1] += int(r[7])
                    acc[2] += int(r[8])
                if progress is not None:
                    progress(done, len(parts))
    except SQLAlchemyError as exc:
        raise SettlementLedgerError(f"cannot read usage from the ledger at {ledger.safe_url}: {exc}") from exc
    return sort_aggregates(UsageAggregate(*k, *v) for k, v in sums.items())


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
) -> SettleRun:
    """Settle a closed period: statements, invoices, the carried state; see the module docstring.

    Steps: (1) the close and the state carried from the previous period; (2) usage aggregated
    in SQL and the period's credits; (3) the pure settlement, then every validator: any error
    refuses the whole run; (4) compare with the documents issued before, if any; (5) store the
    state and documents; (6) write the files. `log`, when given, is the checkpoint reference put
    on every statement (before hashing, so the chain covers it): one for all, or one per licensor
    id (`statement_bundle.statement_logs`). `signer`, when given, signs each statement: `<stem>.sig`
    beside its JSON (`signature_doc`).
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
    aggregates = read_aggregates(
        ledger, window, late_after_seq=previous.last_seq if previous is not None else None, progress=progress)
    credits = credits_for(ledger, closed)
    # (3)
    result = settle(catalog, window, aggregates, prior=prior, credits=credits)
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
                     len(aggregates), sum(a.requests for a in aggregates))


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
                    settled_at=_now(), settled_by=by))
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

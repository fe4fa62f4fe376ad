"""Statements bound to the licensors' logs, and the bundle a licensor verifies them with.

    statement_logs(ledger, catalog, closed, previous)     -> {licensor: LogRef}
    export_bundle(ledger, catalog, period, licensor, out)  -> [paths written]

A close fixes, per log, the checkpoint of exactly the leaves with seq <= its `last_seq`
(`integrator.checkpoints_at_seq`, signed once). A statement of period P names its log's
checkpoint at P's close and at the previous close, and settles:

- the range: leaves [previous size, size), i.e. seq in (previous last_seq, last_seq], that
  started before P ended: current usage if they started in P, late usage (an adjustment,
  placed in a segment by append time) if they started before;
- the carried leaves: leaves before the range that started in P (appended before the previous
  close): current usage of P, named by count and digest (`LeafSet`), the previous statement's
  `deferred`;
- and defers the leaves up to its checkpoint that started after P ended.

These are exactly the records `Window` takes (started in P and appended before the close, or
started earlier and appended since the previous close), since a record's seq is <= last_seq
iff it was appended before the cut-off. The bundle (docs/VERIFY.md) holds what a licensor needs
to recompute it all with the current bundle alone: the statement and its signature, the
previous statement (authenticated by the chain hash), both checkpoints, the consistency proof,
the left border of the previous tree, the range's leaves, the carried leaves with inclusion
proofs, the terms and the host key; and the licence-terms acceptance history (acceptances.json,
signed: `monthend.acceptance_history`).

Both checkpoints are written with the witnesses' cosignatures the host holds for them (more
signature lines of the signed note, which a verifier without a witness policy skips). When the
catalog names `[[witnesses]]`, the export first submits what they have not cosigned yet
(`witness_client.submit_now`), so a bundle exported without a gateway running is cosigned too; a
witness that cannot be reached is logged, and the bundle goes without its cosignature.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rfc8785
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from revshare.ledger.schema import usage_records
from revshare.logstore.cosignatures import cosigned_note
from revshare.logstore.identity import LogIdentity, load_identity
from revshare.logstore.integrator import checkpoints_at_seq, integrate
from revshare.logstore.schema import tlog_checkpoints, tlog_leaves
from revshare.logstore.tree_store import SqlTreeStore
from revshare.logstore.witness_client import submit_now
from revshare.monthend.acceptance_history import acceptance_history
from revshare.monthend.credits import credits_for
from revshare.monthend.periods import ClosedPeriod, SettlementLedgerError, closed_period
from revshare.monthend.settle_run import issued_documents, settle_period, signature_doc
from revshare.records.projection import customer_pseudonym, key_pseudonym
from revshare.settlement import LeafSet, LogRef, Period, window_for
from revshare.settlement.adjustments import Credit, CreditPiece
from revshare.settlement.bundle_acceptances import ACCEPTANCES, ACCEPTANCES_SIG
from revshare.settlement.bundle_layout import (
    BORDER,
    BUNDLE_FILES,
    CARRIED,
    CHECKPOINT,
    CONSISTENCY,
    HOST_KEY,
    LEAVES,
    PREVIOUS_CHECKPOINT,
    TERMS,
    BorderFile,
    CarriedLeaf,
    ConsistencyFile,
    previous_statement_file,
    signature_file,
    statement_file,
)
from revshare.settlement.bundle_terms import HostTerms, PriceTerms, StatementTerms, models_with_lineage
from revshare.settlement.terms import lineage_of
from revshare.tlog import EMPTY_ROOT, MerkleTree, hash_leaf
from revshare.tlog.tree import perfect_tiles

if TYPE_CHECKING:
    from revshare.config import Catalog
    from revshare.ledger.store import Ledger

__all__ = ["BUNDLE_FILES", "export_bundle", "statement_logs"]


def _leaf_set(datas: Iterable[str]) -> LeafSet:
    return LeafSet.of_hashes(hash_leaf(data.encode("utf-8")) for data in datas)


def _leaves_started(conn: Connection, log_id: str, through_seq: int, started_from: Any) -> list[tuple[int, int, str]]:
    """(index, seq, data) of a log's leaves with seq <= through_seq whose record started at/after `started_from`."""
    leaf, rec = tlog_leaves.c, usage_records.c
    rows = conn.execute(
        select(leaf.idx, leaf.seq, leaf.data)
        .select_from(tlog_leaves.join(usage_records, rec.seq == leaf.seq))
        .where(leaf.log_id == log_id, leaf.seq <= through_seq, rec.started_at >= started_from)
        .order_by(leaf.idx))
    return [(int(i), int(s), str(d)) for i, s, d in rows]


def statement_logs(
    ledger: Ledger, catalog: Catalog, closed: ClosedPeriod, previous: ClosedPeriod | None,
    *, identity: LogIdentity | None = None,
) -> dict[str, LogRef]:
    """Each licensor's LogRef for the statements of `closed` (integrating the logs first)."""
    ident = identity or load_identity(catalog)
    integrate(ledger, catalog, identity=ident)
    now = checkpoints_at_seq(ledger, catalog, closed.last_seq, identity=ident)
    after = previous.last_seq if previous is not None else 0
    before = checkpoints_at_seq(ledger, catalog, after, identity=ident) if previous is not None else {}
    period = closed.period
    cuts = window_for(catalog.contracts, period).cuts
    refs: dict[str, LogRef] = {}
    with ledger.engine.connect() as conn:
        cut_seqs = tuple(int(conn.execute(select(func.coalesce(func.max(usage_records.c.seq), 0)).where(
            usage_records.c.appended_at < cut)).scalar_one()) for cut in cuts)
        for log_id in sorted({lic.id for lic in catalog.licensors}):
            if log_id not in now:
                continue
            cp = now[log_id].checkpoint
            prev = before[log_id].checkpoint if log_id in before else None
            leaf = tlog_leaves.c
            first, last = conn.execute(select(func.min(leaf.seq), func.max(leaf.seq)).where(
                leaf.log_id == log_id, leaf.seq > after, leaf.seq <= closed.last_seq)).one()
            carried = _leaves_started(conn, log_id, after, period.start) if previous is not None else []
            deferred = _leaves_started(conn, log_id, closed.last_seq, period.end)
            refs[log_id] = LogRef(
                cp.origin, cp.size, cp.root_hash.hex(),
                None if first is None else int(first), None if last is None else int(last),
                prev.size if prev else 0, (prev.root_hash if prev else EMPTY_ROOT).hex(), after, closed.last_seq,
                cut_seqs, _leaf_set(d for _, _, d in carried), _leaf_set(d for _, _, d in deferred))
    return refs


def _write(path: Path, data: bytes | str, written: list[Path]) -> None:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    written.append(path)


def _statement_docs(ledger: Ledger, period: Period, licensor: str) -> list[tuple[str, dict[str, Any], str]]:
    docs = []
    for d in issued_documents(ledger, period):
        if d.kind == "statement":
            body = json.loads(d.body)
            if body.get("licensor") == licensor:
                docs.append((d.name, body, d.body))
    return docs


def _terms(catalog: Catalog, licensor: str, leaves: Sequence[dict[str, Any]],
           credits: Sequence[Credit], pieces: Sequence[CreditPiece], secret: bytes) -> StatementTerms:
    contracts = tuple(c for c in catalog.contracts if c.licensor == licensor)
    versions = {leaf["price_version"] for leaf in leaves if leaf.get("price_version")}
    prices = tuple(sorted((PriceTerms(p.model, p.version, p.currency, p.input_per_million, p.output_per_million)
                           for p in catalog.prices if p.version in versions), key=lambda p: p.version))
    names = {leaf["model"] for leaf in leaves} | {p.model for p in pieces if p.model}
    exempt_customers = {n for c in contracts for n in c.exempt_customers}
    exempt_keys = {k for c in contracts for k in c.exempt_keys}
    used = {p.credit_id for p in pieces}
    return StatementTerms(
        HostTerms(catalog.server.host_name),
        tuple(lic for lic in catalog.licensors if lic.id == licensor),
        contracts,
        models_with_lineage(names, catalog.models),
        prices,
        {n: customer_pseudonym(secret, n) for n in sorted(exempt_customers)},
        {k: key_pseudonym(secret, k) for k in sorted(exempt_keys)},
        tuple(Credit(c.id, customer_pseudonym(secret, c.customer), c.amount, c.currency, c.date, c.reason, c.kind,
                     c.model, c.refers_to) for c in credits if c.id in used),
        tuple(CreditPiece(p.credit_id, p.model, key_pseudonym(secret, p.key_id) if p.key_id else "", p.segment,
                          p.amount) for p in pieces),
    )


def export_bundle(
    ledger: Ledger, catalog: Catalog, period: Period, licensor: str, out_dir: str | Path,
    *, identity: LogIdentity | None = None, exported_by: str = "export",
) -> list[Path]:
    """Write the statement bundle of `licensor` for a settled `period` into `out_dir`.

    Re-settles the period on the side (which refuses if the documents would differ from those
    issued), so the bundle is always that of the issued statements. Raises SettlementLedgerError.
    """
    ident = identity or load_identity(catalog)
    closed = closed_period(ledger, period)
    if closed is None or closed.settled_at is None:
        raise SettlementLedgerError(f"period {period.label} is not settled: run `revshare settle --period "
                                    f"{period.label}` first")
    if licensor not in {lic.id for lic in catalog.licensors}:
        known = ", ".join(sorted(lic.id for lic in catalog.licensors)) or "none"
        raise SettlementLedgerError(f"{catalog.source}: no licensor {licensor!r} (known: {known})")
    statements = _statement_docs(ledger, period, licensor)
    if not statements:
        raise SettlementLedgerError(f"licensor {licensor!r} has no statement for {period.label}")
    previous = closed_period(ledger, period.previous())
    refs = statement_logs(ledger, catalog, closed, previous, identity=ident)
    with tempfile.TemporaryDirectory() as tmp:
        run = settle_period(ledger, catalog, period, tmp, settled_by=exported_by, log=refs, signer=ident.key)
    ref = refs[licensor]
    mine = [c for c in catalog.contracts if c.licensor == licensor]
    pieces = [p for p in run.result.credit_pieces
              if p.model is not None and any(c.covers(p.model, lineage_of(p.model, catalog.models)) for c in mine)]
    m, n = ref.previous_size, ref.size
    submit_now(ledger, catalog, [licensor])
    with ledger.engine.connect() as conn:
        store = SqlTreeStore(conn, licensor)
        tree = MerkleTree(store)
        tiles = perfect_tiles(0, m)
        got = store.get_many(tiles)
        border = BorderFile(m, tuple(got[k] for k in tiles))
        leaf = tlog_leaves.c
        rows = [(int(i), int(s), str(d)) for i, s, d in conn.execute(select(leaf.idx, leaf.seq, leaf.data).where(
            leaf.log_id == licensor, leaf.idx >= m, leaf.idx < n).order_by(leaf.idx))]
        carried = _leaves_started(conn, licensor, ref.after_seq, period.start) if previous is not None else []
        carried_lines = [CarriedLeaf(i, s, d, tuple(tree.inclusion_proof(i, n))).to_line() for i, s, d in carried]
        consistency = ConsistencyFile(m, n, tuple(tree.consistency_proof(m, n)) if 0 < m < n else ())
        notes = {int(size): cosigned_note(conn, licensor, str(note)) for size, note in conn.execute(
            select(tlog_checkpoints.c.size, tlog_checkpoints.c.note).where(
                tlog_checkpoints.c.log_id == licensor, tlog_checkpoints.c.size.in_((m, n))))}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    _write(out / CHECKPOINT, notes[n], written)
    if m > 0:
        _write(out / PREVIOUS_CHECKPOINT, notes[m], written)
    _write(out / CONSISTENCY, consistency.to_bytes(), written)
    _write(out / BORDER, border.to_bytes(), written)
    _write(out / LEAVES, "".join(d + "\n" for _, _, d in rows), written)
    _write(out / CARRIED, b"".join(carried_lines), written)
    leaves = [json.loads(d) for _, _, d in rows] + [json.loads(d) for _, _, d in carried]
    terms = _terms(catalog, licensor, leaves, credits_for(ledger, closed), pieces, ident.secret)
    _write(out / TERMS, rfc8785.dumps(terms.to_json()) + b"\n", written)
    _write(out / HOST_KEY, ident.key.verifier_text() + "\n", written)
    history = acceptance_history(ledger, catalog, licensor, closed, ident.secret).to_json()
    _write(out / ACCEPTANCES, rfc8785.dumps(history) + b"\n", written)
    _write(out / ACCEPTANCES_SIG, signature_doc(history, ACCEPTANCES.removesuffix(".json"), ident.key), written)
    for name, body, text in statements:
        _write(out / statement_file(name), text + "\n", written)
        _write(out / signature_file(name), signature_doc(body, name, ident.key), written)
        prev = _previous_statement(ledger, period, body)
        if prev is not None:
            _write(out / previous_statement_file(name), prev + "\n", written)
    return sorted(written)


def _previous_statement(ledger: Ledger, period: Period, statement: dict[str, Any]) -> str | None:
    """The issued body of the statement this one chains to (the previous period's), if any."""
    if statement.get("previous_hash") is None:
        return None
    for d in issued_documents(ledger, period.previous()):
        if d.kind == "statement" and d.sha256 == statement["previous_hash"]:
            return d.body
    return None

"""Integration: ledger records into their logs, exactly once, and a signed checkpoint per log.

    integrate(ledger, catalog, key)  ->  {log id: SignedCheckpoint}

Each batch is one transaction: (1) take the integration lock (the `tlog_state` row) and read
the cursor, the last seq integrated; (2) read the next records in seq order (one SELECT of the
projected columns, run on the driver), and refuse a gap (a gapless ledger with a hole has lost a
record); (3) project each row, hash its leaf and append it to each of its logs (one log per
licensor in its chain, or `_host`), writing nodes and leaves; (4) for every log that grew,
compute the new checkpoint and check it against the last one signed: signed by this host's key,
same origin, and consistent (RFC 9162 2.1.4) - otherwise raise and roll the whole batch back, so
an inconsistent checkpoint is never signed; (5) sign, store the notes, move the cursor, commit. A
crash anywhere leaves the previous commit intact, and the next run resumes from its cursor.

Steps (2) and (3)'s projection, leaf hashes and tree nodes, most of a batch's work, are done
first, outside the lock, in a read of their own (`_prepare`): on SQLite the lock is the database's one write
lock, and every request's record waits while it is held (2,000 records projected under it stalled
every request for 100-200 ms each tick; docs/BENCHMARKS.md). Under the lock the cursor is read
again; if another integrator moved it meanwhile, the batch is read and hashed again there.
Committed records never change, so leaves prepared from them are the leaves the lock would see.

The error tree:

    IntegrationError
    ├── LedgerGapError               a seq missing from the ledger below records to integrate
    └── CheckpointRefusedError       the new checkpoint would not extend the last one signed
        ├── ForeignCheckpointError   the last checkpoint does not verify under this host's key
        └── InconsistentLogError     the stored tree does not extend the last signed root
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Dialect

from revshare.config import Catalog
from revshare.ledger.schema import usage_records
from revshare.ledger.store import Ledger
from revshare.logstore.identity import LogIdentity, catalog_log_ids, load_identity, log_ids_for
from revshare.logstore.schema import tlog_checkpoints, tlog_leaves, tlog_logs, tlog_state
from revshare.logstore.tree_store import SqlTreeStore, insert_rows
from revshare.records.projection import ROW_COLUMNS, project_row
from revshare.tlog import (
    Checkpoint,
    HostKey,
    MerkleTree,
    NoteError,
    PreparedAppend,
    ProofError,
    TreeError,
    hash_leaf,
    leaf_data,
    open_note,
    verify_checkpoint_consistency,
)
from revshare.tlog.errors import OriginMismatchError

__all__ = [
    "CheckpointRefusedError",
    "ForeignCheckpointError",
    "InconsistentLogError",
    "IntegrationError",
    "LedgerGapError",
    "SignedCheckpoint",
    "checkpoints_at_seq",
    "integrate",
    "latest_checkpoints",
]

log = logging.getLogger("revshare.tlog")

DEFAULT_BATCH = 5_000

Row = Sequence[Any]


class IntegrationError(Exception):
    """Records could not be integrated; nothing of the failed batch was written.

    `log_id` names the log refused, when one is (a checkpoint refusal); None when every log is
    held up (a gap in the ledger).
    """

    def __init__(self, message: str, *, log_id: str | None = None) -> None:
        super().__init__(message)
        self.log_id = log_id


class LedgerGapError(IntegrationError):
    """A seq is missing from the ledger: the gapless ledger lost (or someone deleted) a record."""


class CheckpointRefusedError(IntegrationError):
    """A new checkpoint that would not extend the last signed one: it is not signed."""


class ForeignCheckpointError(CheckpointRefusedError):
    """The last stored checkpoint does not verify under this host's key."""


class InconsistentLogError(CheckpointRefusedError):
    """The stored tree does not extend the root of the last signed checkpoint."""


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A log's checkpoint and its signed note.

    Attributes:
        log_id: the licensor id, or `_host`.
        checkpoint: origin, size and root.
        note: the C2SP signed note (what verifiers are given).
    """

    log_id: str
    checkpoint: Checkpoint
    note: str


def integrate(
    ledger: Ledger,
    catalog: Catalog,
    key: HostKey | None = None,
    *,
    identity: LogIdentity | None = None,
    batch_size: int = DEFAULT_BATCH,
    max_records: int | None = None,
) -> dict[str, SignedCheckpoint]:
    """Integrate every committed record not yet in the logs; return each log's newest checkpoint.

    `key` defaults to the host key of the catalog's data dir (`identity` gives key, pseudonym
    secret and origin prefix at once). `max_records` bounds one call (the background task's
    slice). Raises LedgerGapError or a CheckpointRefusedError; batches committed before the
    failure stay committed.
    """
    ident = identity or load_identity(catalog)
    if key is not None and key != ident.key:
        ident = LogIdentity(key, ident.secret, ident.prefix)
    done = 0
    first = True
    while max_records is None or done < max_records:
        limit = batch_size if max_records is None else min(batch_size, max_records - done)
        with ledger.engine.connect() as conn:
            prepared = _prepare(conn, ident, limit)
        with ledger.engine.begin() as conn:
            n = _integrate_batch(conn, ledger, catalog, ident, limit, prepared, ensure_logs=first)
        first = False
        done += n
        if n < limit:
            break
    return latest_checkpoints(ledger)


def checkpoints_at_seq(
    ledger: Ledger, catalog: Catalog, seq: int, key: HostKey | None = None, *, identity: LogIdentity | None = None,
) -> dict[str, SignedCheckpoint]:
    """Each log's checkpoint at a ledger cut-off: the tree of exactly the leaves with seq <= `seq`.

    For a statement that settles a period closed at `seq`: its checkpoint covers the period and
    nothing after, even when later records are integrated already. Signed (once) if not yet;
    checked consistent with the newest checkpoint of its log. Integrate first: raises
    IntegrationError if the logs are not integrated up to `seq`.
    """
    ident = identity or load_identity(catalog)
    if key is not None and key != ident.key:
        ident = LogIdentity(key, ident.secret, ident.prefix)
    out: dict[str, SignedCheckpoint] = {}
    with ledger.engine.begin() as conn:
        cursor = _lock_cursor(conn)
        if cursor < seq:
            raise IntegrationError(f"the logs are integrated up to seq {cursor}, not {seq}: integrate first")
        for log_id in conn.execute(select(tlog_logs.c.log_id).order_by(tlog_logs.c.log_id)).scalars():
            size = int(conn.execute(select(func.count()).select_from(tlog_leaves).where(
                tlog_leaves.c.log_id == log_id, tlog_leaves.c.seq <= seq)).scalar_one())
            tree = MerkleTree(SqlTreeStore(conn, log_id))
            checkpoint = Checkpoint(ident.origin(log_id), size, tree.root(size))
            note = conn.execute(select(tlog_checkpoints.c.note).where(
                tlog_checkpoints.c.log_id == log_id, tlog_checkpoints.c.size == size)).scalar()
            if note is None:
                newest = Checkpoint(ident.origin(log_id), tree.size, tree.root())
                if 0 < size < tree.size:
                    verify_checkpoint_consistency(checkpoint, newest, tree.consistency_proof(size, tree.size))
                note = ident.key.sign_note(checkpoint.to_text())
                conn.execute(tlog_checkpoints.insert().values(log_id=log_id, size=size, note=note,
                                                              signed_at=datetime.now(UTC)))
            elif Checkpoint.from_text(open_note(note, ident.key.verifier())) != checkpoint:
                raise InconsistentLogError(f"log {log_id!r}: the checkpoint signed at size {size} is not the "
                                           "stored tree's root at that size (run `revshare log audit`)",
                                           log_id=log_id)
            out[log_id] = SignedCheckpoint(log_id, checkpoint, str(note))
    return out


def latest_checkpoints(ledger: Ledger) -> dict[str, SignedCheckpoint]:
    """Each log's newest signed checkpoint, by log id."""
    out: dict[str, SignedCheckpoint] = {}
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(tlog_checkpoints.c.log_id, tlog_checkpoints.c.note)
                            .order_by(tlog_checkpoints.c.log_id, tlog_checkpoints.c.size))
        for log_id, note in rows:  # ascending size: the last one per log wins
            out[log_id] = SignedCheckpoint(log_id, Checkpoint.from_text(note.partition("\n\n")[0] + "\n"), note)
    return out


def _lock_cursor(conn: Connection) -> int:
    # A no-op UPDATE first: a row lock on PostgreSQL, the write lock on SQLite, so two
    # integrators (the gateway's task and `revshare log integrate`) take turns.
    conn.execute(update(tlog_state).where(tlog_state.c.id == 1).values(integrated_seq=tlog_state.c.integrated_seq))
    return int(conn.execute(select(tlog_state.c.integrated_seq).where(tlog_state.c.id == 1)).scalar_one())


def _ensure_log(conn: Connection, ident: LogIdentity, log_id: str) -> bool:
    """Create the log's row if it is new; True if it was."""
    if conn.execute(select(tlog_logs.c.size).where(tlog_logs.c.log_id == log_id)).first() is not None:
        return False
    conn.execute(tlog_logs.insert().values(log_id=log_id, origin=ident.origin(log_id), size=0))
    return True


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The next records after `cursor`: leaves grouped per log in seq order, (seq, data), and
    each log's append of their hashes, prepared on its tree as it stood."""

    cursor: int
    last_seq: int | None
    count: int
    per_log: dict[str, list[tuple[int, bytes]]]
    appends: dict[str, PreparedAppend]


def _prepare(conn: Connection, ident: LogIdentity, limit: int, cursor: int | None = None) -> _Prepared:
    """Steps (2) and (3)'s reading and hashing (leaves and the tree nodes they complete), from
    `cursor` (default: the stored one, read without the lock)."""
    if cursor is None:
        cursor = int(conn.execute(select(tlog_state.c.integrated_seq).where(tlog_state.c.id == 1)).scalar_one())
    rows = _read_rows(conn, cursor, limit)
    _check_gapless(cursor, rows)
    per_log: dict[str, list[tuple[int, bytes]]] = {}
    hashes: dict[str, list[bytes]] = {}
    secret = ident.secret
    for row in rows:
        projection = project_row(row, secret)
        data = leaf_data(projection)
        seq, leaf_hash = projection["seq"], hash_leaf(data)
        for log_id in log_ids_for(tuple(projection["licensors"])):
            leaves = per_log.get(log_id)
            if leaves is None:
                leaves = per_log[log_id] = []
                hashes[log_id] = []
            leaves.append((seq, data))
            hashes[log_id].append(leaf_hash)
    appends = {log_id: MerkleTree(SqlTreeStore(conn, log_id)).prepare_append(leaf_hashes)
               for log_id, leaf_hashes in hashes.items()}
    return _Prepared(cursor, int(rows[-1][0]) if rows else None, len(rows), per_log, appends)


def _integrate_batch(conn: Connection, ledger: Ledger, catalog: Catalog, ident: LogIdentity,
                     limit: int, prepared: _Prepared, *, ensure_logs: bool) -> int:
    # (1) The lock and the cursor.
    cursor = _lock_cursor(conn)
    touched: set[str] = set()
    if ensure_logs:
        touched.update(log_id for log_id in catalog_log_ids(catalog) if _ensure_log(conn, ident, log_id))
    # (2)-(3) The next records' leaves: those prepared before the lock, unless the cursor moved.
    if prepared.cursor != cursor:
        prepared = _prepare(conn, ident, limit, cursor)
    per_log = prepared.per_log
    trees: dict[str, MerkleTree] = {}
    for log_id, leaves in per_log.items():
        if _ensure_log(conn, ident, log_id):
            touched.add(log_id)
        tree = trees[log_id] = MerkleTree(SqlTreeStore(conn, log_id))
        first = tree.apply(prepared.appends[log_id])  # the cursor held, so did the tree: else StaleAppendError
        insert_rows(conn, "tlog_leaves", ("log_id", "idx", "seq", "data"),
                    [(log_id, first + i, seq, data.decode()) for i, (seq, data) in enumerate(leaves)])
        touched.add(log_id)
    # (4)-(5) Check each new checkpoint against the last signed one, then sign it.
    now = datetime.now(UTC)
    for log_id in sorted(touched):
        tree = trees.get(log_id) or MerkleTree(SqlTreeStore(conn, log_id))
        new = Checkpoint(ident.origin(log_id), tree.size, tree.root())
        _check_extends(conn, ident, log_id, new, tree)
        conn.execute(tlog_checkpoints.insert().values(
            log_id=log_id, size=new.size, note=ident.key.sign_note(new.to_text()), signed_at=now))
    last = prepared.last_seq
    if last is not None:
        conn.execute(update(tlog_state).where(tlog_state.c.id == 1).values(integrated_seq=last))
        if per_log:
            log.info("tlog: integrated seq %d..%d into %s", cursor + 1, last,
                     ", ".join(f"{k} ({trees[k].size})" for k in sorted(per_log)))
    return prepared.count


def _read_rows(conn: Connection, after_seq: int, limit: int) -> list[Row]:
    """The next `limit` ledger rows after `after_seq`, `ROW_COLUMNS` in order, as project_row takes them.

    One SELECT rendered once per dialect and run on the driver (SQLAlchemy Core's per-row work and
    a UsageRecord per row were a third of integrate()); times pass through the column type's own
    result processor (SQLite keeps them as text), so the values are those the ledger reads.
    """
    sql, to_time = _select_rows(conn.dialect)
    rows = conn.exec_driver_sql(sql, (after_seq, limit)).fetchall()
    if to_time is None:
        return list(rows)
    return [(r[0], r[1], to_time(r[2]), to_time(r[3]), *r[4:]) for r in rows]


_SELECTS: dict[tuple[str, str], tuple[str, Callable[[Any], Any] | None]] = {}


def _select_rows(dialect: Dialect) -> tuple[str, Callable[[Any], Any] | None]:
    key = (dialect.name, dialect.paramstyle)
    found = _SELECTS.get(key)
    if found is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        columns = ", ".join(usage_records.c[name].name for name in ROW_COLUMNS)
        sql = f"SELECT {columns} FROM usage_records WHERE seq > {mark} ORDER BY seq LIMIT {mark}"
        time_type = usage_records.c.started_at.type
        found = _SELECTS[key] = (sql, time_type.dialect_impl(dialect).result_processor(dialect, None))
    return found


def _check_gapless(cursor: int, rows: Sequence[Row]) -> None:
    expected = cursor + 1
    for r in rows:
        if r[0] != expected:
            raise LedgerGapError(
                f"ledger seq {expected} is missing (the next record is seq {r[0]}, id {r[1]}): a record was "
                "deleted or renumbered in the database; integration stops here (run `revshare log audit`)")
        expected += 1


def _check_extends(conn: Connection, ident: LogIdentity, log_id: str, new: Checkpoint, tree: MerkleTree) -> None:
    """Refuse to sign `new` unless it extends the last checkpoint signed for this log."""
    latest = conn.execute(select(tlog_checkpoints.c.size, tlog_checkpoints.c.note)
                          .where(tlog_checkpoints.c.log_id == log_id)
                          .order_by(tlog_checkpoints.c.size.desc()).limit(1)).first()
    if latest is None:
        return  # the first checkpoint of a log: nothing to extend
    where = f"log {log_id!r}: refusing to sign size {new.size}"
    try:
        old = Checkpoint.from_text(open_note(latest.note, ident.key.verifier()))
    except (NoteError, ValueError) as exc:
        raise ForeignCheckpointError(
            f"{where}: the last checkpoint (size {latest.size}) does not verify under this host's key "
            f"{ident.key.verifier_text()}: {exc}", log_id=log_id) from exc
    if old.origin != new.origin:
        raise ForeignCheckpointError(f"{where}: {OriginMismatchError(old.origin, new.origin)}", log_id=log_id)
    if old.size == 0:
        return  # every tree extends the empty one (and a proof from 0 is refused by policy)
    try:
        verify_checkpoint_consistency(old, new, tree.consistency_proof(old.size, new.size))
    except (ProofError, TreeError) as exc:
        raise InconsistentLogError(
            f"{where}: it is not consistent with the checkpoint signed at size {old.size} "
            f"(root {old.root_hash.hex()}): {exc}; the stored tree was changed (run `revshare log audit`)",
            log_id=log_id) from exc

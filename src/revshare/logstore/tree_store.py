"""The verifiable log in SQL: a TreeStore over `tlog_nodes`, and the reads the API serves.

`SqlTreeStore(conn, log_id)` implements `revshare.tlog.TreeStore` on a connection whose
transaction the caller owns: `put_many` inserts a batch of nodes with one executemany and
moves the size in the same transaction as the caller's leaves and cursor, so a batch lands
whole or not at all. `LogReader` answers the questions of the log endpoints and the CLI
(latest checkpoint, proofs, leaves, a record's receipt), each in one short read transaction. The
newest checkpoint, and a receipt's, carry the witnesses' cosignatures the host holds for it, as
more signature lines of the signed note (`logstore.cosignatures`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from revshare.ledger.store import Ledger
from revshare.logstore.cosignatures import cosigned_note
from revshare.logstore.schema import tlog_checkpoints, tlog_leaves, tlog_logs, tlog_state
from revshare.tlog import Checkpoint, MerkleTree, NodeKey, Receipt, TreeSizeError, open_note
from revshare.tlog.note import Verifier

__all__ = [
    "LeafRow",
    "LogInfo",
    "LogReadError",
    "LogReader",
    "NotInLogError",
    "NotYetIntegratedError",
    "SqlTreeStore",
    "UnknownLogError",
]


class LogReadError(LookupError):
    """A read of the log that cannot be answered; the message says why."""


class UnknownLogError(LogReadError):
    """No log with this id."""


class NotInLogError(LogReadError):
    """The record (or index, or size) is not in this log."""


class NotYetIntegratedError(LogReadError):
    """The record is in the ledger but not yet in a signed checkpoint of its log."""


class SqlTreeStore:
    """A `TreeStore` over `tlog_nodes` and `tlog_logs.size`, inside the caller's transaction.

    The log's row in `tlog_logs` must exist (the integrator creates it with its origin). A reader
    that has just read the log's row may pass its `size`, saving the store that read.
    """

    def __init__(self, conn: Connection, log_id: str, size: int | None = None) -> None:
        self._conn = conn
        self.log_id = log_id
        self._known_size = size

    def size(self) -> int:
        """Number of leaves whose nodes are written."""
        if self._known_size is not None:
            size, self._known_size = self._known_size, None  # once: later calls re-read (a writer appended)
            return size
        got = self._conn.execute(select(tlog_logs.c.size).where(tlog_logs.c.log_id == self.log_id)).scalar()
        return int(got or 0)

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Hashes held for `keys` (absent keys left out), in one SELECT on the driver.

        A UNION ALL of primary-key lookups (an OR of levels made SQLite scan the table), rendered
        once per number of keys: Core's compile and parameter processing cost more than the lookups.
        """
        if not keys:
            return {}
        params: list[Any] = []
        for level, idx in keys:
            params += (self.log_id, level, idx)
        rows = self._conn.exec_driver_sql(_nodes_sql(self._conn.dialect.paramstyle, len(keys)), tuple(params))
        return {(int(level), int(idx)): bytes(h) for level, idx, h in rows}

    def put_many(self, nodes: Sequence[tuple[NodeKey, bytes]], size: int) -> None:
        """Insert `nodes` (a rewritten key fails on the primary key) and set the size."""
        log_id = self.log_id
        if nodes:
            rows = [(log_id, level, idx, h) for (level, idx), h in nodes]
            insert_rows(self._conn, "tlog_nodes", ("log_id", "level", "idx", "hash"), rows)
        moved = self._conn.execute(update(tlog_logs).where(tlog_logs.c.log_id == log_id).values(size=size))
        if moved.rowcount != 1:
            raise UnknownLogError(f"no log {log_id!r} in tlog_logs")


@functools.lru_cache(maxsize=256)
def _nodes_sql(paramstyle: str, n: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    one = f"SELECT level, idx, hash FROM tlog_nodes WHERE log_id = {mark} AND level = {mark} AND idx = {mark}"
    return " UNION ALL ".join([one] * n)


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """executemany straight on the driver: Core's per-row parameter processing costs more than
    SQLite's insert itself on the integration path (bench/tlog.py)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, list(rows))


@dataclass(frozen=True, slots=True)
class LogInfo:
    """A log: its id (a licensor, or `_host`), its origin line and its size."""

    log_id: str
    origin: str
    size: int


@dataclass(frozen=True, slots=True)
class LeafRow:
    """One stored leaf: its index in its log, the ledger seq, and the leaf bytes (JCS text)."""

    log_id: str
    index: int
    seq: int
    data: str

    def projection(self) -> dict[str, Any]:
        """The record projection this leaf is the canonical JSON of."""
        value: dict[str, Any] = json.loads(self.data)
        return value

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "seq": self.seq, "record": self.projection()}


class LogReader:
    """Reads of the logs for the API and the CLI; each call is one read transaction."""

    def __init__(self, ledger: Ledger, verifier: Verifier | None = None) -> None:
        self._ledger = ledger
        self._verifier = verifier

    def integrated_seq(self) -> int:
        """The last ledger seq integrated into the logs (0 before the first)."""
        with self._ledger.engine.connect() as conn:
            return int(conn.execute(select(tlog_state.c.integrated_seq).where(tlog_state.c.id == 1)).scalar() or 0)

    def logs(self) -> list[LogInfo]:
        with self._ledger.engine.connect() as conn:
            rows = conn.execute(select(tlog_logs).order_by(tlog_logs.c.log_id))
            return [LogInfo(r.log_id, r.origin, int(r.size)) for r in rows]

    def log(self, log_id: str) -> LogInfo:
        with self._ledger.engine.connect() as conn:
            return _log(conn, log_id)

    def latest_checkpoint(self, log_id: str) -> str:
        """The newest signed checkpoint note of a log, with the cosignatures held for it."""
        with self._ledger.engine.connect() as conn:
            _log(conn, log_id)
            return _latest_note(conn, log_id)

    def checkpoints(self, log_id: str) -> list[tuple[int, str]]:
        """Every signed checkpoint of a log, (size, note), oldest first."""
        with self._ledger.engine.connect() as conn:
            _log(conn, log_id)
            rows = conn.execute(select(tlog_checkpoints.c.size, tlog_checkpoints.c.note)
                                .where(tlog_checkpoints.c.log_id == log_id).order_by(tlog_checkpoints.c.size))
            return [(int(size), note) for size, note in rows]

    def leaf_by_seq(self, log_id: str, seq: int) -> LeafRow | None:
        with self._ledger.engine.connect() as conn:
            row = conn.execute(select(tlog_leaves).where(tlog_leaves.c.log_id == log_id,
                                                         tlog_leaves.c.seq == seq)).first()
        return LeafRow(row.log_id, int(row.idx), int(row.seq), row.data) if row else None

    def leaf_range(self, log_id: str, after_seq: int, last_seq: int) -> tuple[int, int]:
        """[start, end) of the leaves whose seq is in (after_seq, last_seq]: a period's part of a log."""
        with self._ledger.engine.connect() as conn:
            _log(conn, log_id)
            c = tlog_leaves.c
            start = conn.execute(select(func.count()).where(c.log_id == log_id, c.seq <= after_seq)).scalar_one()
            end = conn.execute(select(func.count()).where(c.log_id == log_id, c.seq <= last_seq)).scalar_one()
            return int(start), int(end)

    def leaves(self, log_id: str, start: int, end: int) -> list[LeafRow]:
        """Leaves [start, end) of a log, in index order."""
        with self._ledger.engine.connect() as conn:
            info = _log(conn, log_id)
            if not 0 <= start <= end <= info.size:
                raise NotInLogError(f"range [{start}, {end}) is outside log {log_id!r} of size {info.size}")
            rows = conn.execute(select(tlog_leaves).where(
                tlog_leaves.c.log_id == log_id, tlog_leaves.c.idx >= start, tlog_leaves.c.idx < end,
            ).order_by(tlog_leaves.c.idx))
            return [LeafRow(r.log_id, int(r.idx), int(r.seq), r.data) for r in rows]

    def root(self, log_id: str, size: int) -> bytes:
        """The root of the stored tree at `size`."""
        with self._ledger.engine.connect() as conn:
            _log(conn, log_id)
            tree = MerkleTree(SqlTreeStore(conn, log_id))
            _check_size(log_id, size, tree.size)
            return tree.root(size)

    def inclusion_proof(self, log_id: str, index: int, size: int) -> list[bytes]:
        with self._ledger.engine.connect() as conn:
            info = _log(conn, log_id)
            tree = MerkleTree(SqlTreeStore(conn, log_id, info.size))
            _check_size(log_id, size, tree.size)
            if not 0 <= index < size:
                raise NotInLogError(f"index {index} is not in log {log_id!r} at size {size}")
            return tree.inclusion_proof(index, size)

    def consistency_proof(self, log_id: str, size1: int, size2: int) -> list[bytes]:
        with self._ledger.engine.connect() as conn:
            _log(conn, log_id)
            tree = MerkleTree(SqlTreeStore(conn, log_id))
            _check_size(log_id, size2, tree.size)
            if not 0 < size1 <= size2:
                raise NotInLogError(f"want 0 < old <= new, got old={size1}, new={size2} "
                                    "(a proof from size 0 proves nothing; see docs/TLOG.md)")
            return tree.consistency_proof(size1, size2)

    def receipt(self, log_id: str, seq: int) -> Receipt:
        """The receipt of ledger record `seq` in log `log_id`, against the newest checkpoint."""
        with self._ledger.engine.connect() as conn:
            _log(conn, log_id)
            row = conn.execute(select(tlog_leaves).where(tlog_leaves.c.log_id == log_id,
                                                         tlog_leaves.c.seq == seq)).first()
            if row is None:
                cursor = conn.execute(select(tlog_state.c.integrated_seq)).scalar() or 0
                if seq > cursor:
                    raise NotYetIntegratedError(f"seq {seq} is not integrated yet (logs are at seq {cursor})")
                raise NotInLogError(f"seq {seq} is not in log {log_id!r}")
            note = _latest_note(conn, log_id)
            size = _note_size(note, self._verifier)
            index = int(row.idx)
            if index >= size:
                raise NotYetIntegratedError(f"seq {seq} is leaf {index}, beyond the newest checkpoint ({size})")
            proof = MerkleTree(SqlTreeStore(conn, log_id)).inclusion_proof(index, size)
            return Receipt(json.loads(row.data), index, tuple(proof), note)


def _log(conn: Connection, log_id: str) -> LogInfo:
    row = conn.execute(select(tlog_logs).where(tlog_logs.c.log_id == log_id)).first()
    if row is None:
        raise UnknownLogError(f"no log {log_id!r}")
    return LogInfo(row.log_id, row.origin, int(row.size))


def _latest_note(conn: Connection, log_id: str) -> str:
    latest = select(func.max(tlog_checkpoints.c.size)).where(tlog_checkpoints.c.log_id == log_id).scalar_subquery()
    note = conn.execute(select(tlog_checkpoints.c.note).where(
        tlog_checkpoints.c.log_id == log_id, tlog_checkpoints.c.size == latest)).scalar()
    if note is None:
        raise NotYetIntegratedError(f"log {log_id!r} has no signed checkpoint yet")
    return cosigned_note(conn, log_id, str(note))


def _note_size(note: str, verifier: Verifier | None) -> int:
    if verifier is not None:
        return Checkpoint.from_text(open_note(note, verifier)).size
    body = note.partition("\n\n")[0] + "\n"
    return Checkpoint.from_text(body).size


def _check_size(log_id: str, size: int, tree_size: int) -> None:
    if not 0 <= size <= tree_size:
        raise NotInLogError(str(TreeSizeError(size, tree_size)) + f" of log {log_id!r}")


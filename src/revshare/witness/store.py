"""The witness's memory: per log, the latest checkpoint it cosigned, in SQLite.

    witness_logs(origin PRIMARY KEY, size, root, note, cosigned_at)
        note: that checkpoint as a signed note, with the log's signature(s) and this witness's
        cosignature: what GET /checkpoint/<origin> serves
    witness_evidence(id, origin, received_at, reason, request)
        add-checkpoint requests signed by the log that showed a fork or a bad proof, kept as
        evidence of the log's misbehaviour (the spec allows it; nothing else reads them)

The one write that matters is compare_and_swap: it replaces the state a request was checked
against, and only that state, in one statement. Two requests checked against the same state
cannot both win, so the witness never cosigns two checkpoints that are not consistent, and a
slow request can never roll the state back (the race the spec describes). One connection per
call, so threads and processes may share the file; WAL and synchronous=FULL make a committed
write durable before the witness answers.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogState", "WitnessStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witness_logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_evidence (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class LogState:
    """The latest checkpoint cosigned for one log.

    Attributes:
        size: its tree size.
        root: its 32-byte root hash.
        note: the signed note as served: body, the log's signature lines, this witness's cosignature.
        cosigned_at: the cosignature's timestamp (POSIX seconds).
    """

    size: int
    root: bytes
    note: str
    cosigned_at: int


class WitnessStore:
    """Latest cosigned state per log origin, in the SQLite file at `path` (created if absent)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        finally:
            conn.close()

    def latest(self, origin: str) -> LogState | None:
        """The latest cosigned state of `origin`, or None if the witness never cosigned it."""
        with self._connect() as conn:
            return _read(conn, origin)

    def origins(self) -> list[str]:
        """Every origin with a cosigned checkpoint, sorted."""
        with self._connect() as conn:
            return [row[0] for row in conn.execute("SELECT origin FROM witness_logs ORDER BY origin")]

    def compare_and_swap(self, origin: str, expected: LogState | None, new: LogState) -> tuple[bool, LogState | None]:
        """Store `new` if the stored state of `origin` is still `expected` (same size and root; None: no row).

        Returns (True, new) when written; otherwise writes nothing and returns (False, the state found).
        """
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if expected is None:
                    cursor = conn.execute(
                        "INSERT INTO witness_logs (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (origin) DO NOTHING",
                        (origin, new.size, new.root, new.note, new.cosigned_at))
                else:
                    cursor = conn.execute(
                        "UPDATE witness_logs SET size = ?, root = ?, note = ?, cosigned_at = ? "
                        "WHERE origin = ? AND size = ? AND root = ?",
                        (new.size, new.root, new.note, new.cosigned_at, origin, expected.size, expected.root))
                written = cursor.rowcount == 1
                found = new if written else _read(conn, origin)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return written, found

    def record_evidence(self, origin: str, received_at: int, reason: str, request: str) -> None:
        """Keep a request that the log signed and that showed misbehaviour."""
        with self._connect() as conn:
            conn.execute("INSERT INTO witness_evidence (origin, received_at, reason, request) VALUES (?, ?, ?, ?)",
                         (origin, received_at, reason, request))

    def evidence(self, origin: str) -> list[tuple[int, str, str]]:
        """(received_at, reason, request) of each kept request of `origin`, oldest first."""
        with self._connect() as conn:
            rows = conn.execute("SELECT received_at, reason, request FROM witness_evidence WHERE origin = ? "
                                "ORDER BY id", (origin,))
            return [(int(t), str(r), str(q)) for t, r, q in rows]


def _read(conn: sqlite3.Connection, origin: str) -> LogState | None:
    row = conn.execute("SELECT size, root, note, cosigned_at FROM witness_logs WHERE origin = ?",
                       (origin,)).fetchone()
    if row is None:
        return None
    size, root, note, cosigned_at = row
    return LogState(int(size), bytes(root), str(note), int(cosigned_at))

"""Which gateway replica integrates and signs the logs on schedule: one leader, by a PostgreSQL lock.

    leadership = Leadership(ledger)
    if leadership.hold():   # each tick, on a worker thread: True while this process leads
        integrate(...)
    leadership.release()    # at shutdown

On PostgreSQL the leader holds a session-level advisory lock (`pg_try_advisory_lock`) on a
connection of its own. When its process dies, even by SIGKILL, PostgreSQL ends that session and
the lock with it, and the next replica to try (every tick, `[log] interval_s`) takes over; a
leader whose connection broke (the database restarted, the session was terminated) finds out at
its next tick and stops leading until it wins the lock again.

The lock decides who integrates *on schedule*; it is not what keeps the logs consistent. Every
integration, the leader's or an on-demand one for a receipt in any replica, takes the
`tlog_state` row lock in its own transaction and signs only a checkpoint that extends the last
one (`logstore.integrator`), so two processes never sign two checkpoints of one size with
different roots, whoever believes it leads. SQLite ledgers live on one host: there every process
may integrate, and the database's write lock takes them in turn.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from revshare.ledger.store import Ledger

__all__ = ["LOCK_NAME", "Leadership", "lock_key"]

log = logging.getLogger("revshare.tlog")

LOCK_NAME = "revshare-tlog-integrator"


def lock_key(name: str = LOCK_NAME) -> int:
    """The advisory lock's 64-bit key: stable across processes and versions."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    """This process's claim to integrate on schedule. Not thread-safe: call from one worker at a time."""

    def __init__(self, ledger: Ledger, name: str = LOCK_NAME) -> None:
        self._ledger = ledger
        self._key = lock_key(name)
        self._conn: Connection | None = None
        self._shared = ledger.engine.dialect.name != "postgresql"
        self.me = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def leading(self) -> bool:
        return self._shared or self._conn is not None

    def hold(self) -> bool:
        """True if this process leads now: it held the lock and its session is alive, or it just took it."""
        if self._shared:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError as exc:
                log.warning("tlog: %s lost the integrator lock (%s); another replica may take over",
                            self.me, type(exc).__name__)
                self._drop()
        return self._try()

    def _try(self) -> bool:
        conn: Connection | None = None
        try:
            conn = self._ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            won = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
        except SQLAlchemyError:
            if conn is not None:
                conn.invalidate()
                conn.close()
            return False  # the database is away: the integration's own error says so
        if not won:
            conn.close()
            return False
        self._conn = conn
        log.warning("tlog: %s now integrates and signs the logs (it holds the integrator lock)", self.me)
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()  # never back to the pool: its session may still hold the lock
            self._conn.close()
            self._conn = None

    def release(self) -> None:
        """Give the lock up (at shutdown), so that another replica takes over at its next tick."""
        if self._conn is None:
            return
        with contextlib.suppress(SQLAlchemyError):
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        self._drop()

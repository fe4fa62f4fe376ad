"""SQLite's write lock, taken by hand: `BEGIN IMMEDIATE` on a connection with no busy handler
(`busy_timeout=0`), so that one caller can try for the lock without waiting (the event loop's
inline commit) and another can wait for it (the writer's thread), on the same connection and
with no statement in between to switch the handler on or off.

The wait sleeps as SQLite's own busy handler does (1, 2, 5, 10 ... 50 ms, then 100 ms each) and
gives up with the driver's SQLITE_BUSY error once `timeout_s` of sleep have passed. Only the
BEGIN needs it: once it holds the lock, a transaction's statements and its commit never wait in
WAL mode.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from typing import Any

__all__ = ["begin_immediate"]

_DELAYS_S = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.025, 0.025, 0.05, 0.05)
_LAST_DELAY_S = 0.1


def begin_immediate(cursor: Any, *, wait: bool, timeout_s: float) -> bool:
    """Open a write transaction on `cursor`'s connection. Another connection holding the lock:
    False at once without `wait`; with it, try again after each delay and raise the SQLITE_BUSY
    error once `timeout_s` have been slept. Without `wait`, any failure is False."""
    slept = 0.0
    for delay in itertools.chain(_DELAYS_S, itertools.repeat(_LAST_DELAY_S)):
        try:
            cursor.execute("BEGIN IMMEDIATE")
            return True
        except Exception as exc:
            if not wait:
                return False
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY or slept >= timeout_s:
                raise
        time.sleep(delay)
        slept += delay
    raise AssertionError("unreachable: the last delay repeats")  # pragma: no cover

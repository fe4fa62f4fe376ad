"""The calendar month (UTC) as the settlement names it, for the api room, which may not import
the settlement itself (tests/architecture/test_rooms.py)."""

from __future__ import annotations

from revshare.settlement.period import Period

__all__ = ["Period"]

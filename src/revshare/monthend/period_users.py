"""The period's active users, read from the ledger for the statements (`settlement.users`).

    sightings_sql(window)          -> SELECT DISTINCT model, customer, key_id, end user
    read_sightings(ledger, window) -> (Sighting, ...), sorted

The records counted: every usage record that started in the period and was appended before
the close's cut-off (`window.closed_at`; all of them when settled without a close), whatever its
outcome. The end user is `accounts.end_users.END_USER_SQL`: the record's end-user hash, else
`key:<key_id>`. The analytics store counts the same rule from its columnar copy
(`analytics.sums`) when it sums the usage; tests/analytics/test_settle_paths.py holds the two
paths' statements to the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select
from sqlalchemy.exc import SQLAlchemyError

from revshare.accounts.end_users import END_USER_SQL
from revshare.ledger.schema import usage_records as u
from revshare.monthend.periods import SettlementLedgerError
from revshare.settlement.period import Window
from revshare.settlement.users import Sighting

if TYPE_CHECKING:
    from sqlalchemy.sql import Select

    from revshare.ledger.store import Ledger

__all__ = ["read_sightings", "sightings_sql"]


def sightings_sql(window: Window) -> Select[Any]:
    """The distinct (model, customer, key_id, end user) of the period's records, as Core SQL."""
    conditions = [u.c.started_at >= window.period.start, u.c.started_at < window.period.end]
    if window.closed_at is not None:
        conditions.append(u.c.appended_at < window.closed_at)
    return select(u.c.model, u.c.customer, u.c.key_id, END_USER_SQL.label("end_user")).where(
        and_(*conditions)).distinct()


def read_sightings(ledger: Ledger, window: Window) -> tuple[Sighting, ...]:
    """`sightings_sql(window)` on the ledger, as sorted `Sighting`s. Raises SettlementLedgerError."""
    try:
        with ledger.engine.connect() as conn:
            rows = conn.execute(sightings_sql(window)).all()
    except SQLAlchemyError as exc:
        raise SettlementLedgerError(
            f"cannot read the active users from the ledger at {ledger.safe_url}: {exc}") from exc
    return tuple(sorted(Sighting(str(m), str(c), str(k), str(e)) for m, c, k, e in rows))

"""Monthly active users per model and per licence, counted exactly from the ledger's records.

What is counted: an end user (the request's `user` field, kept as a keyed hash, else the API key:
`accounts.end_users`), a customer (the host's user: an account with API keys) or an API key is
active on a model in a UTC calendar month when at least one usage record of that model started in
the month, whatever its outcome (a call that failed was still a use). Requests refused before they
reach an engine leave no record and do not count.

A licence's counts are over all the models its terms bind (an end user calling two of them counts
once). Each of the licence's `mau_thresholds` is `over` once the end-user count reaches it, `near`
from 80% of it, else `below`; a model is flagged by the thresholds of every licence that binds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Engine, func, select

from revshare.accounts.end_users import END_USER_SQL
from revshare.config import Catalog
from revshare.ledger.schema import usage_records

__all__ = [
    "NEAR_PERCENT",
    "LicenceUsers",
    "ModelUsers",
    "MonthlyUsers",
    "Threshold",
    "month_bounds",
    "monthly_users",
    "threshold_state",
]

NEAR_PERCENT = 80
_MONTH = re.compile(r"^([1-9][0-9]{3})-(0[1-9]|1[0-2])$")  # 1000-01 to 9999-11 (its end is in year 9999)

ThresholdState = Literal["below", "near", "over"]


@dataclass(frozen=True, slots=True)
class Threshold:
    licence: str
    users: int
    state: ThresholdState


@dataclass(frozen=True, slots=True)
class ModelUsers:
    """Distinct end users, customers and keys with a record of `model` in the month; `licences`: its chain."""

    model: str
    licences: tuple[str, ...]
    customers: int
    keys: int
    records: int
    thresholds: tuple[Threshold, ...]
    end_users: int = 0


@dataclass(frozen=True, slots=True)
class LicenceUsers:
    """Distinct end users, customers and keys over every model the licence binds (each counted once)."""

    licence: str
    name: str
    models: tuple[str, ...]
    customers: int
    keys: int
    thresholds: tuple[Threshold, ...]
    end_users: int = 0


@dataclass(frozen=True, slots=True)
class MonthlyUsers:
    month: str
    start: datetime
    end: datetime
    models: tuple[ModelUsers, ...]
    licences: tuple[LicenceUsers, ...]

    @property
    def flagged(self) -> tuple[Threshold, ...]:
        """Every licence threshold near or over, once each."""
        return tuple(t for lic in self.licences for t in lic.thresholds if t.state != "below")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`2026-11` -> [2026-11-01T00:00Z, 2026-12-01T00:00Z); ValueError for anything else."""
    match = _MONTH.fullmatch(month)
    if match is None:
        raise ValueError(f"a month is written YYYY-MM, e.g. 2026-11; got {month!r}")
    year, number = int(match[1]), int(match[2])
    if (year, number) == (9999, 12):
        raise ValueError("the last month is 9999-11")
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def threshold_state(count: int, threshold: int) -> ThresholdState:
    """`over` from the threshold, `near` from NEAR_PERCENT of it, else `below`."""
    if count >= threshold:
        return "over"
    return "near" if count * 100 >= threshold * NEAR_PERCENT else "below"


def _thresholds(catalog: Catalog, licences: Sequence[str], end_users: int) -> tuple[Threshold, ...]:
    found = []
    for licence in licences:
        terms = catalog.licence(licence)
        for users in terms.mau_thresholds if terms is not None else ():
            found.append(Threshold(licence, users, threshold_state(end_users, users)))
    return tuple(found)


def monthly_users(engine: Engine, catalog: Catalog, month: str) -> MonthlyUsers:
    """Count the month's active end users, customers and keys per model (every model with a
    record, and every catalog model) and per catalog licence. ValueError for a malformed month."""
    start, end = month_bounds(month)
    u = usage_records
    in_month = (u.c.started_at >= start, u.c.started_at < end)
    distinct = (func.count(u.c.customer.distinct()), func.count(u.c.key_id.distinct()),
                func.count(END_USER_SQL.distinct()))
    per_model = select(u.c.model, *distinct, func.count()).where(*in_month).group_by(u.c.model)
    with engine.connect() as conn:
        counted = {model: (customers, keys, users, records)
                   for model, customers, keys, users, records in conn.execute(per_model)}
        licence_rows = []
        for terms in catalog.licences:
            models = catalog.models_under(terms.id)
            customers, keys, users = conn.execute(
                select(*distinct).where(*in_month, u.c.model.in_(models))).one() if models else (0, 0, 0)
            licence_rows.append(LicenceUsers(terms.id, terms.name, models, int(customers), int(keys),
                                             _thresholds(catalog, [terms.id], int(users)), int(users)))
    names = [m.id for m in catalog.models] + sorted(set(counted) - {m.id for m in catalog.models})
    model_rows = []
    for name in names:
        customers, keys, users, records = (int(x) for x in counted.get(name, (0, 0, 0, 0)))
        licences = tuple(t.id for t in catalog.licence_chain(name))
        model_rows.append(ModelUsers(name, licences, customers, keys, records,
                                     _thresholds(catalog, licences, users), users))
    return MonthlyUsers(month, start, end, tuple(model_rows), tuple(licence_rows))

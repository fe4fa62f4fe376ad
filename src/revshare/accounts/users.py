"""Monthly active users per model and per licence, counted exactly from the ledger's records.

What is counted: a customer (the host's user: an account with API keys) or an API key is active
on a model in a UTC calendar month when at least one usage record of that model started in the
month, whatever its outcome (a call that failed was still a use). Requests refused before they
reach an engine leave no record and do not count. End users behind a customer (the request's
`user` field) are not recorded, so they are not counted here.

A licence's counts are over all the models its terms bind (a customer calling two of them counts
once). Each of the licence's `mau_thresholds` is `over` once the customer count reaches it, `near`
from 80% of it, else `below`; a model is flagged by the thresholds of every licence that binds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Engine, func, select

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
    """Distinct customers and keys with a record of `model` in the month; `licences`: its chain."""

    model: str
    licences: tuple[str, ...]
    customers: int
    keys: int
    records: int
    thresholds: tuple[Threshold, ...]


@dataclass(frozen=True, slots=True)
class LicenceUsers:
    """Distinct customers and keys over every model the licence binds (each counted once)."""

    licence: str
    name: str
    models: tuple[str, ...]
    customers: int
    keys: int
    thresholds: tuple[Threshold, ...]


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


def _state(count: int, threshold: int) -> ThresholdState:
    if count >= threshold:
        return "over"
    return "near" if count * 100 >= threshold * NEAR_PERCENT else "below"


def _thresholds(catalog: Catalog, licences: Sequence[str], customers: int) -> tuple[Threshold, ...]:
    found = []
    for licence in licences:
        terms = catalog.licence(licence)
        for users in terms.mau_thresholds if terms is not None else ():
            found.append(Threshold(licence, users, _state(customers, users)))
    return tuple(found)


def monthly_users(engine: Engine, catalog: Catalog, month: str) -> MonthlyUsers:
    """Count the month's active customers and keys per model (every model with a record, and
    every catalog model) and per catalog licence. ValueError for a malformed month."""
    start, end = month_bounds(month)
    u = usage_records
    in_month = (u.c.started_at >= start, u.c.started_at < end)
    per_model = (select(u.c.model, func.count(u.c.customer.distinct()), func.count(u.c.key_id.distinct()),
                        func.count()).where(*in_month).group_by(u.c.model))
    with engine.connect() as conn:
        counted = {model: (customers, keys, records) for model, customers, keys, records in conn.execute(per_model)}
        licence_rows = []
        for terms in catalog.licences:
            models = catalog.models_under(terms.id)
            customers, keys = conn.execute(
                select(func.count(u.c.customer.distinct()), func.count(u.c.key_id.distinct()))
                .where(*in_month, u.c.model.in_(models))).one() if models else (0, 0)
            licence_rows.append(LicenceUsers(terms.id, terms.name, models, int(customers), int(keys),
                                             _thresholds(catalog, [terms.id], int(customers))))
    names = [m.id for m in catalog.models] + sorted(set(counted) - {m.id for m in catalog.models})
    model_rows = []
    for name in names:
        customers, keys, records = (int(x) for x in counted.get(name, (0, 0, 0)))
        licences = tuple(t.id for t in catalog.licence_chain(name))
        model_rows.append(ModelUsers(name, licences, customers, keys, records,
                                     _thresholds(catalog, licences, customers)))
    return MonthlyUsers(month, start, end, tuple(model_rows), tuple(licence_rows))

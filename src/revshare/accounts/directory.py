"""The accounts one gateway serves from: an immutable snapshot of the customers and key limits in
the database, swapped whole when the database's version moves (never edited in place), so a
request reads one consistent view without a lock.

    directory.customer(name)       -> Customer | None   (None: unknown, or suspended)
    directory.account(name)        -> Account | None    (with its source and suspension)
    directory.key_limit(key_id)    -> KeyLimits | None
    directory.accepted_versions(customer, licence) -> frozenset[str]   (terms it accepted)
    directory.suspension(customer, model)   -> str | None   (the reason its access to it is suspended)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from revshare.config import Catalog
from revshare.config.sections import Customer, KeyLimits

__all__ = ["Account", "Directory", "Source"]

# "catalog": written in revshare.toml, which wins (the admin API refuses to edit it); "api": made
# through the admin API or `revshare customers`, and only there.
Source = Literal["catalog", "api"]


@dataclass(frozen=True, slots=True)
class Account:
    """A customer as the database keeps it."""

    customer: Customer
    source: Source
    created_at: datetime
    updated_at: datetime
    suspended_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.customer.name

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None


@dataclass(frozen=True)
class Directory:
    version: int
    accounts: Mapping[str, Account] = field(default_factory=dict)
    key_limits: Mapping[str, KeyLimits] = field(default_factory=dict)
    # (customer, licence id) -> the versions of that licence's terms the customer accepted.
    accepted: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # (customer, model id) -> the reason of the suspension of its access to that model, in force.
    suspended_models: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def of_catalog(cls, catalog: Catalog, now: datetime) -> Directory:
        """The catalog's customers alone: what a gateway serves before it has read the database."""
        return cls(version=-1,
                   accounts={c.name: Account(c, "catalog", now, now) for c in catalog.customers},
                   key_limits={k.key_id: k for k in catalog.key_limits})

    def account(self, name: str) -> Account | None:
        return self.accounts.get(name)

    def customer(self, name: str) -> Customer | None:
        """The customer a request may be served for: None when unknown or suspended."""
        account = self.accounts.get(name)
        return None if account is None or account.suspended_at is not None else account.customer

    def key_limit(self, key_id: str) -> KeyLimits | None:
        return self.key_limits.get(key_id)

    def accepted_versions(self, customer: str, licence: str) -> frozenset[str]:
        """Every version of a licence's terms the customer accepted (a dict lookup, no query)."""
        return self.accepted.get((customer, licence), frozenset())

    def suspension(self, customer: str, model: str) -> str | None:
        """Why the customer's access to this model is suspended (accounts.model_access), else None."""
        return self.suspended_models.get((customer, model))

"""Monthly active users on a statement: distinct end users, customers and keys per model. Pure.

    users_of(versions, sightings, lineage) -> ActiveUsers

The month-end room finds the period's `Sighting`s (one per distinct model, customer, key and
end user among the records that started in the period and were appended before its close:
`revshare.monthend.period_users`); `settle(..., users=...)` puts on each statement the counts of
the models its contract covers. An end user is a record's end-user hash, else `key:<key_id>`
(`revshare.accounts.end_users.end_user_identity`). The counts are the host's: the log's leaves
carry no end user, so a verifier takes them as stated (docs/LICENSING.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ActiveUsers", "ModelActiveUsers", "Sighting", "users_of"]


@dataclass(frozen=True, slots=True, order=True)
class Sighting:
    """One distinct (model, customer, key, end user) among the period's records."""

    model: str
    customer: str
    key_id: str
    end_user: str


@dataclass(frozen=True, slots=True)
class ModelActiveUsers:
    model: str
    end_users: int
    customers: int
    keys: int

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "end_users": self.end_users, "customers": self.customers, "keys": self.keys}


@dataclass(frozen=True, slots=True)
class ActiveUsers:
    """The period's active users of the contract's models: each model's, then all of them (each once)."""

    models: tuple[ModelActiveUsers, ...]
    end_users: int
    customers: int
    keys: int

    def to_json(self) -> dict[str, Any]:
        return {"counted": "end_users", "end_users": self.end_users, "customers": self.customers,
                "keys": self.keys, "models": [m.to_json() for m in self.models]}

    @classmethod
    def from_json(cls, data: object) -> ActiveUsers:
        """The `users` of a statement's JSON; ValueError naming what is wrong (a reader's check:
        `to_json` of the result gives the same JSON back only when nothing else was there)."""
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            raise ValueError("users: want an object with a list of models")
        try:
            models = tuple(ModelActiveUsers(str(m["model"]), _int(m["end_users"]), _int(m["customers"]),
                                            _int(m["keys"])) for m in data["models"])
            return cls(models, _int(data["end_users"]), _int(data["customers"]), _int(data["keys"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"users: missing or malformed field {exc}") from None


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{value!r} (want a count)")
    return value


class _Covers(Protocol):
    def covers(self, model_id: str, lineage: Sequence[str]) -> bool: ...


def _count(sightings: Sequence[Sighting]) -> tuple[int, int, int]:
    return (len({s.end_user for s in sightings}), len({s.customer for s in sightings}),
            len({s.key_id for s in sightings}))


def users_of(versions: Sequence[_Covers], sightings: Iterable[Sighting],
             lineage: Callable[[str], tuple[str, ...]]) -> ActiveUsers:
    """The active users of the models any of the contract's `versions` covers, models by id."""
    covered = [s for s in sightings if any(v.covers(s.model, lineage(s.model)) for v in versions)]
    by_model: dict[str, list[Sighting]] = {}
    for s in covered:
        by_model.setdefault(s.model, []).append(s)
    models = tuple(ModelActiveUsers(m, *_count(by_model[m])) for m in sorted(by_model))
    return ActiveUsers(models, *_count(covered))

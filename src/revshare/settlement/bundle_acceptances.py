"""acceptances.json: the licence-terms acceptance history a statement bundle carries, and the
suspensions of customers' access to the licensor's models. Pure.

Defined once for both sides: `revshare export statement-bundle` writes it (with `acceptances.sig`,
the host's Ed25519 signature over its JCS bytes, in the statement signatures' format), and
`revshare verify statement` checks the signature and reads it with `AcceptanceHistory.from_json`,
which accepts exactly what `to_json` writes. A bundle without the file (exported before it
existed) verifies as before.

    {"type": "revshare.acceptances/v1", "licensor": "meta", "period": "2026-11",
     "through": "2026-12-01T00:05:00Z",
     "licences": [{"id": "llama3.3", "name": "...", "version": "2024-12-06", "url": "...",
                   "acceptance_required": true}],
     "acceptances": [{"seq": 1, "customer": "<hex HMAC>", "terms_id": "llama3.3",
                      "version": "2024-12-06", "accepted_at": "2026-11-02T09:00:00Z",
                      "via": "api", "by": "key", "key": "<hex HMAC>"}],
     "suspensions": [{"seq": 1, "customer": "<hex HMAC>", "model": "llama-3.3-70b-instruct",
                      "action": "suspend", "at": "2026-11-20T10:00:00Z", "by": "admin"}]}

Every acceptance recorded before `through` (the close's cut-off) of the licences binding the
licensor's models. Customers and keys are the log's pseudonyms (the leaves' `customer` and
`key`), so a licensor can match the accepting customers to the usage, never learn their names;
`by` says who gave it (`key`: the customer's key, `admin`: the operator recording one given
offline, `cli`: the operator's command line) without the operator's name or note. `suspensions`:
every suspension of a customer's access to one of the licensor's models, and its lifting,
recorded before `through` (without the operator's reason, which is free text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ACCEPTANCES", "ACCEPTANCES_SIG", "ACCEPTANCES_TYPE", "AcceptanceHistory", "AcceptedTerms",
           "BundleLicence", "SuspensionEntry"]

ACCEPTANCES = "acceptances.json"
ACCEPTANCES_SIG = "acceptances.sig"
ACCEPTANCES_TYPE = "revshare.acceptances/v1"
BY = ("key", "admin", "cli")
VIAS = ("api", "console", "cli")


@dataclass(frozen=True, slots=True)
class BundleLicence:
    id: str
    name: str
    version: str
    url: str
    acceptance_required: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "url": self.url,
                "acceptance_required": self.acceptance_required}


@dataclass(frozen=True, slots=True)
class AcceptedTerms:
    """One acceptance: `customer` and `key` (or None) are pseudonyms; `accepted_at` RFC 3339 UTC."""

    seq: int
    customer: str
    terms_id: str
    version: str
    accepted_at: str
    via: str
    by: str
    key: str | None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "customer": self.customer, "terms_id": self.terms_id, "version": self.version,
                "accepted_at": self.accepted_at, "via": self.via, "by": self.by, "key": self.key}


@dataclass(frozen=True, slots=True)
class SuspensionEntry:
    """A suspension of a customer's (pseudonym) access to a model, or its lifting (`action`)."""

    seq: int
    customer: str
    model: str
    action: str
    at: str
    by: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "customer": self.customer, "model": self.model, "action": self.action,
                "at": self.at, "by": self.by}


@dataclass(frozen=True, slots=True)
class AcceptanceHistory:
    licensor: str
    period: str
    through: str
    licences: tuple[BundleLicence, ...]
    acceptances: tuple[AcceptedTerms, ...]
    suspensions: tuple[SuspensionEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"type": ACCEPTANCES_TYPE, "licensor": self.licensor, "period": self.period, "through": self.through,
                "licences": [t.to_json() for t in self.licences],
                "acceptances": [a.to_json() for a in self.acceptances],
                "suspensions": [s.to_json() for s in self.suspensions]}

    @classmethod
    def from_json(cls, data: object) -> AcceptanceHistory:
        """The parsed document; ValueError naming the field for anything `to_json` cannot write."""
        doc = _fields(data, ACCEPTANCES, ("type", "licensor", "period", "through", "licences", "acceptances",
                                          "suspensions"))
        if doc["type"] != ACCEPTANCES_TYPE:
            raise ValueError(f'{ACCEPTANCES}: "type" is not {ACCEPTANCES_TYPE!r}')
        licences = tuple(_licence(x, f"{ACCEPTANCES}: licences[{i}]") for i, x in enumerate(_list(doc, "licences")))
        known = {t.id for t in licences}
        acceptances: list[AcceptedTerms] = []
        for i, x in enumerate(_list(doc, "acceptances")):
            where = f"{ACCEPTANCES}: acceptances[{i}]"
            a = _acceptance(x, where)
            if a.terms_id not in known:
                raise ValueError(f"{where}: terms_id {a.terms_id!r} is not one of the licences")
            if acceptances and a.seq <= acceptances[-1].seq:
                raise ValueError(f"{where}: seq {a.seq} does not follow {acceptances[-1].seq}")
            acceptances.append(a)
        suspensions = tuple(_suspension(x, f"{ACCEPTANCES}: suspensions[{i}]")
                            for i, x in enumerate(_list(doc, "suspensions")))
        return cls(_str(doc, "licensor", ACCEPTANCES), _str(doc, "period", ACCEPTANCES),
                   _str(doc, "through", ACCEPTANCES), licences, tuple(acceptances), suspensions)


def _fields(value: object, where: str, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: want a JSON object")
    if set(value) != set(names):
        odd = sorted(set(value) ^ set(names))
        raise ValueError(f"{where}: fields: want exactly {', '.join(names)} (not so: {', '.join(odd)})")
    return value


def _list(doc: dict[str, Any], name: str) -> list[Any]:
    value = doc[name]
    if not isinstance(value, list):
        raise ValueError(f'{ACCEPTANCES}: "{name}" is not a list')
    return value


def _str(doc: dict[str, Any], name: str, where: str) -> str:
    value = doc[name]
    if not isinstance(value, str):
        raise ValueError(f'{where}: "{name}" is not a string')
    return value


def _licence(value: object, where: str) -> BundleLicence:
    doc = _fields(value, where, ("id", "name", "version", "url", "acceptance_required"))
    if not isinstance(doc["acceptance_required"], bool):
        raise ValueError(f'{where}: "acceptance_required" is not true or false')
    return BundleLicence(_str(doc, "id", where), _str(doc, "name", where), _str(doc, "version", where),
                         _str(doc, "url", where), doc["acceptance_required"])


def _seq(doc: dict[str, Any], where: str) -> int:
    seq = doc["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f'{where}: "seq" is not a positive integer')
    return seq


def _suspension(value: object, where: str) -> SuspensionEntry:
    doc = _fields(value, where, ("seq", "customer", "model", "action", "at", "by"))
    action, by = _str(doc, "action", where), _str(doc, "by", where)
    if action not in ("suspend", "lift") or by not in ("admin", "cli"):
        raise ValueError(f'{where}: "action" is suspend or lift and "by" admin or cli')
    return SuspensionEntry(_seq(doc, where), _str(doc, "customer", where), _str(doc, "model", where), action,
                           _str(doc, "at", where), by)


def _acceptance(value: object, where: str) -> AcceptedTerms:
    doc = _fields(value, where, ("seq", "customer", "terms_id", "version", "accepted_at", "via", "by", "key"))
    seq = _seq(doc, where)
    via, by, key = _str(doc, "via", where), _str(doc, "by", where), doc["key"]
    if via not in VIAS or by not in BY:
        raise ValueError(f'{where}: "via" is one of {", ".join(VIAS)} and "by" one of {", ".join(BY)}')
    if (by == "key") != isinstance(key, str) or not (key is None or isinstance(key, str)):
        raise ValueError(f'{where}: "key" is the key\'s pseudonym when "by" is "key", else null')
    return AcceptedTerms(seq, _str(doc, "customer", where), _str(doc, "terms_id", where), _str(doc, "version", where),
                         _str(doc, "accepted_at", where), via, by, key)

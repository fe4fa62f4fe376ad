"""Reading and changing accounts in the ledger database.

Every change is one transaction that makes it, appends its audit event and moves
`accounts_state.version` (which also orders concurrent changes: the version row is locked
first). Nothing here edits or deletes an audit event, and no event holds a secret.

    accounts = Accounts(ledger)
    accounts.import_catalog(catalog, actor)            at start: the catalog's customers win
    accounts.create_customer(customer, actor)           -> Account
    accounts.update_customer(name, changes, actor)      -> Account
    accounts.create_key(customer, label, limits, actor) -> (ApiKey, secret shown once)
    accounts.load(catalog)                              -> Directory
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, RowMapping, select, update

from revshare.accounts.acceptances import accepted_versions
from revshare.accounts.directory import Account, Directory
from revshare.accounts.errors import AccountError, invalid
from revshare.accounts.schema import accounts_state, audit_events, customers, key_limits
from revshare.accounts.suspensions import active_suspensions
from revshare.config import Catalog
from revshare.config.sections import Customer, KeyLimits, Limits
from revshare.instants import as_utc
from revshare.ledger.schema import api_keys
from revshare.ledger.store import KEY_PREFIX, LABEL_MAX, ApiKey, Ledger, hash_secret

__all__ = ["Accounts", "Actor", "AuditEvent", "append_event", "customer_row"]

ACTOR_MAX = 200


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change and through what: `via` is api, cli, catalog or serve."""

    name: str
    via: str

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > ACTOR_MAX or not self.name.isprintable():
            raise invalid(f"an actor is 1 to {ACTOR_MAX} printable characters", "actor")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    via: str
    action: str
    subject: str
    customer: str
    detail: dict[str, Any]


def _spec(customer: Customer) -> dict[str, Any]:
    return customer.model_dump(mode="json", exclude={"name"})


def _limits_spec(limits: Limits) -> dict[str, Any]:
    return Limits.model_validate(limits.model_dump(include=set(Limits.model_fields))).model_dump(mode="json")


def customer_of(name: str, fields: Mapping[str, Any]) -> Customer:
    """A Customer from a name and fields, or AccountError naming the first bad field."""
    try:
        return Customer.model_validate({**fields, "name": name})
    except ValidationError as exc:
        raise invalid_from(exc) from None


def limits_of(fields: Mapping[str, Any]) -> Limits:
    try:
        return Limits.model_validate(dict(fields))
    except ValidationError as exc:
        raise invalid_from(exc) from None


def invalid_from(exc: ValidationError) -> AccountError:
    first = exc.errors(include_url=False)[0]
    param = ".".join(str(part) for part in first.get("loc", ())) or None
    return invalid(f"{param}: {first.get('msg', 'invalid')}" if param else str(first.get("msg")), param)


class Accounts:
    """Accounts kept in the ledger's database (the same engine, the same migrations)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.engine = ledger.engine

    # reading --------------------------------------------------------------------------------

    def version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(accounts_state.c.version).where(accounts_state.c.id == 1)).scalar_one())

    def load(self) -> Directory:
        """Every customer and key limit, as one snapshot at one version."""
        with self.engine.connect() as conn:
            version = int(conn.execute(select(accounts_state.c.version)).scalar_one())
            accounts = {row.name: _account(row._mapping) for row in conn.execute(select(customers))}
            # Limits the catalog wrote for a key that does not exist (yet) wait, unused, for it.
            limits = {row.key_id: _key_limits(row._mapping) for row in conn.execute(
                select(key_limits, api_keys.c.customer).join(api_keys, api_keys.c.key_id == key_limits.c.key_id))}
            accepted = accepted_versions(conn)
            suspended = {pair: s.reason for pair, s in active_suspensions(conn).items()}
        return Directory(version, accounts, limits, accepted, suspended)

    def account(self, name: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.name == name)).first()
        return _account(row._mapping) if row else None

    def key(self, key_id: str) -> ApiKey:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise AccountError("not_found", f"no key {key_id!r}", "key_id")
        return _api_key(row._mapping)

    def audit(self, *, after_seq: int = 0, limit: int = 100, customer: str | None = None) -> list[AuditEvent]:
        query = select(audit_events).where(audit_events.c.seq > after_seq).order_by(audit_events.c.seq).limit(limit)
        if customer is not None:
            query = query.where(audit_events.c.customer == customer)
        with self.engine.connect() as conn:
            return [_event(row._mapping) for row in conn.execute(query)]

    # customers ------------------------------------------------------------------------------

    def import_catalog(self, catalog: Catalog, actor: Actor) -> int:
        """Write the catalog's customers and key limits where they differ (the catalog wins), and
        release customers a former catalog named and this one does not (they become editable).
        Returns the number of changes."""
        changes = 0
        with self._change() as conn:
            rows = {row.name: row._mapping for row in conn.execute(select(customers))}
            now = _now()
            for customer in catalog.customers:
                row = rows.get(customer.name)
                spec = _spec(customer)
                if row is None:
                    conn.execute(customers.insert().values(name=customer.name, spec=_dumps(spec), source="catalog",
                                                           suspended_at=None, created_at=now, updated_at=now))
                    _append(conn, actor, "customer.create", customer.name, customer.name, None, spec)
                elif json.loads(row["spec"]) != spec or row["source"] != "catalog" or row["suspended_at"]:
                    conn.execute(update(customers).where(customers.c.name == customer.name).values(
                        spec=_dumps(spec), source="catalog", suspended_at=None, updated_at=now))
                    _append(conn, actor, "customer.update", customer.name, customer.name,
                            _state(row), {**spec, "source": "catalog", "suspended": False})
                else:
                    continue
                changes += 1
            named = {c.name for c in catalog.customers}
            for name, row in rows.items():
                if row["source"] == "catalog" and name not in named:
                    conn.execute(update(customers).where(customers.c.name == name).values(source="api", updated_at=now))
                    _append(conn, actor, "customer.release", name, name, {"source": "catalog"}, {"source": "api"})
                    changes += 1
            for limit in catalog.key_limits:
                changes += _put_key_limits(conn, actor, limit.key_id, limit.customer, limit, now)
            if not changes:
                raise _Unchanged
        return changes

    def create_customer(self, customer: Customer, actor: Actor) -> Account:
        with self._change() as conn:
            if conn.execute(select(customers.c.name).where(customers.c.name == customer.name)).first():
                raise AccountError("conflict", f"a customer named {customer.name!r} exists", "name")
            now = _now()
            conn.execute(customers.insert().values(name=customer.name, spec=_dumps(_spec(customer)), source="api",
                                                   suspended_at=None, created_at=now, updated_at=now))
            _append(conn, actor, "customer.create", customer.name, customer.name, None, _spec(customer))
        return Account(customer, "api", now, now)

    def update_customer(self, name: str, changes: Mapping[str, Any], actor: Actor) -> Account:
        """Change some of a customer's fields (`suspended` true/false suspends or resumes it)."""
        fields = dict(changes)
        suspend = fields.pop("suspended", None)
        if suspend is not None and not isinstance(suspend, bool):
            raise invalid("suspended must be true or false", "suspended")
        if "name" in fields:
            raise invalid("a customer's name cannot change (its records carry it)", "name")
        with self._change() as conn:
            row = _customer_row(conn, name)
            if row["source"] == "catalog":
                raise AccountError("managed_by_catalog", f"the customer {name!r} is written in the catalog; edit "
                                   "[[customers]] there and restart (the catalog wins)", "name")
            customer = customer_of(name, {**json.loads(row["spec"]), **fields})
            now = _now()
            suspended_at = row["suspended_at"] if suspend is None else (row["suspended_at"] or now) if suspend else None
            conn.execute(update(customers).where(customers.c.name == name).values(
                spec=_dumps(_spec(customer)), suspended_at=suspended_at, updated_at=now))
            after = {**_spec(customer), "source": "api", "suspended": suspended_at is not None}
            if after == _state(row):
                raise _Unchanged
            action = ("customer.suspend" if suspend and not row["suspended_at"] else
                      "customer.resume" if suspend is False and row["suspended_at"] else "customer.update")
            _append(conn, actor, action, name, name, _state(row), after)
        return Account(customer, "api", as_utc(row["created_at"]), now, as_utc(suspended_at) if suspended_at else None)

    # keys -----------------------------------------------------------------------------------

    def create_key(self, customer: str, label: str, limits: Limits | None, actor: Actor) -> tuple[ApiKey, str]:
        """A new key for a known customer; its secret is returned once and only its hash kept."""
        _check_label(label)
        key_id = "key_" + secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{secrets.token_urlsafe(24)}"
        with self._change() as conn:
            _customer_row(conn, customer)
            now = _now()
            conn.execute(api_keys.insert().values(key_id=key_id, secret_hash=hash_secret(secret), customer=customer,
                                                  label=label, created_at=now, revoked_at=None))
            _append(conn, actor, "key.create", key_id, customer, None, {"label": label})
            if limits is not None:
                _put_key_limits(conn, actor, key_id, customer, limits, now)
        return ApiKey(key_id, customer, label, now, None), secret

    def update_key(self, key_id: str, actor: Actor, *, label: str | None = None,
                   limits: Limits | None = None, clear_limits: bool = False) -> ApiKey:
        """Relabel a live key, set its limits, or (`clear_limits`) leave it only its customer's."""
        with self._change() as conn:
            key = _live_key(conn, key_id)
            now = _now()
            changed = 0
            if label is not None and label != key["label"]:
                _check_label(label)
                conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(label=label))
                _append(conn, actor, "key.update", key_id, key["customer"], {"label": key["label"]}, {"label": label})
                changed += 1
            if limits is not None:
                changed += _put_key_limits(conn, actor, key_id, key["customer"], limits, now)
            elif clear_limits:
                old = conn.execute(select(key_limits.c.spec).where(key_limits.c.key_id == key_id)).scalar()
                if old is not None:
                    conn.execute(key_limits.delete().where(key_limits.c.key_id == key_id))
                    _append(conn, actor, "key.limits", key_id, key["customer"], json.loads(old), None)
                    changed += 1
            if not changed:
                raise _Unchanged
        return self.key(key_id)

    def revoke_key(self, key_id: str, actor: Actor) -> ApiKey:
        with self._change() as conn:
            key = _live_key(conn, key_id)
            now = _now()
            conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=now))
            _append(conn, actor, "key.revoke", key_id, key["customer"], {"revoked": False}, {"revoked": True})
        return ApiKey(key_id, key["customer"], key["label"], as_utc(key["created_at"]), now)

    # the one way to change ------------------------------------------------------------------

    def change(self) -> AbstractContextManager[Connection]:
        """One change, as every change here is made (the version moved first): for the room's other
        modules (`accounts.terms`)."""
        return self._change()

    @contextmanager
    def _change(self) -> Iterator[Connection]:
        """A transaction that moves the version first (taking its row lock), then the change."""
        try:
            with self.engine.begin() as conn:
                conn.execute(update(accounts_state).where(accounts_state.c.id == 1)
                             .values(version=accounts_state.c.version + 1))
                yield conn
                return
        except _Unchanged:
            return  # rolled back: nothing changed, so the version did not either


class _Unchanged(Exception):
    """Raised inside a change that turned out to change nothing: roll back, append no event."""


def _now() -> datetime:
    return datetime.now(UTC)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_label(label: str) -> None:
    if len(label) > LABEL_MAX or not label.isprintable():
        raise invalid(f"a key's label is at most {LABEL_MAX} printable characters", "label")


def _append(conn: Connection, actor: Actor, action: str, subject: str, customer: str,
            before: Any, after: Any) -> None:
    conn.execute(audit_events.insert().values(at=_now(), actor=actor.name, via=actor.via, action=action,
                                              subject=subject, customer=customer,
                                              detail=_dumps({"before": before, "after": after})))


def _put_key_limits(conn: Connection, actor: Actor, key_id: str, customer: str, limits: Limits,
                    now: datetime) -> int:
    spec = _limits_spec(limits)
    old = conn.execute(select(key_limits.c.spec).where(key_limits.c.key_id == key_id)).scalar()
    if old is not None and json.loads(old) == spec:
        return 0
    if old is None:
        conn.execute(key_limits.insert().values(key_id=key_id, spec=_dumps(spec), updated_at=now))
    else:
        conn.execute(update(key_limits).where(key_limits.c.key_id == key_id).values(spec=_dumps(spec), updated_at=now))
    _append(conn, actor, "key.limits", key_id, customer, json.loads(old) if old else None, spec)
    return 1


def _customer_row(conn: Connection, name: str) -> RowMapping:
    row = conn.execute(select(customers).where(customers.c.name == name)).first()
    if row is None:
        raise AccountError("not_found", f"no customer named {name!r}", "customer")
    return row._mapping


def _live_key(conn: Connection, key_id: str) -> RowMapping:
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise AccountError("not_found", f"no key {key_id!r}", "key_id")
    if row.revoked_at is not None:
        raise AccountError("conflict", f"the key {key_id!r} is revoked", "key_id")
    return row._mapping


def _state(row: RowMapping) -> dict[str, Any]:
    return {**json.loads(row["spec"]), "source": row["source"], "suspended": row["suspended_at"] is not None}


def _account(m: RowMapping) -> Account:
    suspended = m["suspended_at"]
    return Account(Customer.model_validate({**json.loads(m["spec"]), "name": m["name"]}), m["source"],
                   as_utc(m["created_at"]), as_utc(m["updated_at"]), as_utc(suspended) if suspended else None)


def _key_limits(m: RowMapping) -> KeyLimits:
    return KeyLimits.model_validate({**json.loads(m["spec"]), "key_id": m["key_id"], "customer": m["customer"]})


def _api_key(m: RowMapping) -> ApiKey:
    revoked = m["revoked_at"]
    return ApiKey(m["key_id"], m["customer"], m["label"], as_utc(m["created_at"]), as_utc(revoked) if revoked else None)


def _event(m: RowMapping) -> AuditEvent:
    return AuditEvent(m["seq"], as_utc(m["at"]), m["actor"], m["via"], m["action"], m["subject"], m["customer"],
                      json.loads(m["detail"]))


# For the room's other modules: one audit event, and a customer's row (or not_found).
append_event = _append
customer_row = _customer_row

"""The projection of a usage record: the JSON object whose RFC 8785 bytes are its log leaf.

The projection holds no name and no key. The customer and the API key id appear as
HMAC-SHA256 pseudonyms under a host secret (the host tells each customer its own), so a
licensor auditing its log sees usage, prices and amounts, never who its host's customers are.
The seq is included, so a signed leaf index is bound to one ledger position.

    {"amount": "0.000012300000", "cached_tokens": 0, "completion_tokens": 30,
     "currency": "USD", "customer": "<hex HMAC>", "endpoint": "chat.completions",
     "ended_at": "2026-11-29T12:00:01.5Z", "estimated": false, "key": "<hex HMAC>",
     "licensors": ["google"], "model": "gemma-3-270m", "outcome": "ok",
     "price_version": "gemma-3-270m@2026-01-01T00:00:00Z", "prompt_tokens": 12,
     "record_id": "rec_...", "seq": 7, "started_at": "2026-11-29T12:00:00.5Z", "stream": true,
     "v": 1}

Pure: no I/O. Changing a field here changes every leaf, so `PROJECTION_VERSION` ("v") must
move with it. Two entry points share one builder, `_build`, the single place that names the
fields: `project(record)` for a `UsageRecord`, and `project_row(row)` for a `usage_records` row
as the database returns it (`ROW_COLUMNS`, in that order), which the integrator uses to skip
building a `UsageRecord` per leaf. A property test holds the two byte-identical.

The reading side is `read_projection(data, index)`: a parsed leaf is a projection of this
version, with exactly these fields, or a `ProjectionFormatError` says which leaf and why. A
verifier that reads millions of leaves may check `v` and the number of fields itself and call
`read_projection` for the leaves that fail (`revshare.verify.scan` does).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from revshare.money import D, money_str
from revshare.records.record import Outcome, UsageRecord

__all__ = [
    "PROJECTION_FIELDS",
    "PROJECTION_VERSION",
    "ROW_COLUMNS",
    "ProjectionFormatError",
    "customer_pseudonym",
    "key_pseudonym",
    "project",
    "project_row",
    "read_projection",
]

PROJECTION_VERSION = 1
PROJECTION_FIELDS = (
    "amount", "cached_tokens", "completion_tokens", "currency", "customer", "ended_at", "endpoint",
    "estimated", "key", "licensors", "model", "outcome", "price_version", "prompt_tokens", "record_id",
    "seq", "started_at", "stream", "v",
)
ROW_COLUMNS = (
    "seq", "id", "started_at", "ended_at", "customer", "key_id", "model", "licensors", "endpoint", "stream",
    "prompt_tokens", "completion_tokens", "cached_tokens", "outcome", "price_version", "amount", "currency",
    "estimated",
)
"""The `usage_records` columns `project_row` reads, in its row order."""

_OUTCOMES = {o.value: o.value for o in Outcome}


@functools.lru_cache(maxsize=65_536)  # customers and keys repeat: one HMAC each, not one per record
def _pseudonym(secret: bytes, kind: bytes, value: str) -> str:
    return hmac.new(secret, kind + b"\x00" + value.encode("utf-8"), hashlib.sha256).hexdigest()


def customer_pseudonym(secret: bytes, customer: str) -> str:
    """HMAC-SHA256(secret, "customer" || 0x00 || name), hex: the customer as the log shows it."""
    return _pseudonym(secret, b"customer", customer)


def key_pseudonym(secret: bytes, key_id: str) -> str:
    """HMAC-SHA256(secret, "key" || 0x00 || key id), hex: the API key as the log shows it."""
    return _pseudonym(secret, b"key", key_id)


def _time(value: datetime) -> str:
    """`revshare.instants.format_instant(value)`, inlined: the same text (a test holds them equal).

    Two per leaf on the integrator's path: the call costs a third more for an aware time, and a
    naive one (UTC, as the ledger and format_instant read it) is 3x cheaper this way.
    """
    if value.tzinfo is None:
        return value.isoformat() + "Z"
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def project(record: UsageRecord, secret: bytes) -> dict[str, Any]:
    """The leaf projection of a committed record (it must have its seq)."""
    if record.seq is None:
        raise ValueError(f"record {record.id} has no seq: only committed records are projected")
    return _build(
        record.seq, record.id, _time(record.started_at), _time(record.ended_at),
        customer_pseudonym(secret, record.customer), key_pseudonym(secret, record.key_id), record.model,
        list(record.licensors), record.endpoint, record.stream, record.prompt_tokens, record.completion_tokens,
        record.cached_tokens, record.outcome.value,
        record.price_version, money_str(record.amount), record.currency, record.estimated,
    )


def project_row(row: Sequence[Any], secret: bytes) -> dict[str, Any]:
    """The leaf projection of a `usage_records` row, values in `ROW_COLUMNS` order.

    Values as SQLAlchemy's column types give them (times as datetimes, naive meaning UTC as the
    ledger reads them); the same conversions as the ledger's row -> UsageRecord -> `project`, so
    the bytes are the same (tests/records/test_projection_rows.py), without the record.
    """
    (seq, record_id, started, ended, customer, key_id, model, licensors, endpoint, stream, prompt, completion,
     cached, outcome, price_version, amount, currency, estimated) = row
    try:
        outcome_value = _OUTCOMES[outcome]
    except KeyError:
        raise ValueError(f"{outcome!r} is not a valid Outcome") from None
    return _build(
        int(seq), record_id, _time(started), _time(ended), customer_pseudonym(secret, customer),
        key_pseudonym(secret, key_id), model, [x for x in licensors.split(",") if x], endpoint, bool(stream),
        int(prompt), int(completion), int(cached), outcome_value, price_version, money_str(D(amount)), currency,
        bool(estimated),
    )


def _build(seq: int, record_id: str, started: str, ended: str, customer: str, key: str, model: str,
           licensors: list[str], endpoint: str, stream: bool, prompt_tokens: int, completion_tokens: int,
           cached_tokens: int, outcome: str, price_version: str, amount: str, currency: str,
           estimated: bool) -> dict[str, Any]:
    """The one definition of the projection's fields (keys in JCS order: the encoder's sort is then a pass)."""
    return {
        "amount": amount,
        "cached_tokens": cached_tokens,
        "completion_tokens": completion_tokens,
        "currency": currency,
        "customer": customer,
        "ended_at": ended,
        "endpoint": endpoint,
        "estimated": estimated,
        "key": key,
        "licensors": licensors,
        "model": model,
        "outcome": outcome,
        "price_version": price_version,
        "prompt_tokens": prompt_tokens,
        "record_id": record_id,
        "seq": seq,
        "started_at": started,
        "stream": stream,
        "v": PROJECTION_VERSION,
    }


_FIELD_SET = frozenset(PROJECTION_FIELDS)


class ProjectionFormatError(ValueError):
    """A leaf that is not a usage projection of `PROJECTION_VERSION`.

    Attributes:
        index: the leaf's index in its log.
        reason: what is wrong with it, without the index.
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"leaf {index} is not a usage projection: {reason}")
        self.index = index
        self.reason = reason


def read_projection(data: object, index: int) -> dict[str, Any]:
    """The reading side of `_build`: `data`, leaf `index` as parsed from JSON, as a projection.

    Checks the version first (another version may have other fields, or the same fields
    meaning other things), then the field set; raises ProjectionFormatError naming the leaf
    and what is wrong. The values are the reader's to convert: it knows which it needs.
    """
    if not isinstance(data, dict):
        raise ProjectionFormatError(index, f"a {type(data).__name__}, want a JSON object")
    if "v" not in data:
        raise ProjectionFormatError(index, f'no version field "v", want "v": {PROJECTION_VERSION}')
    if data["v"] != PROJECTION_VERSION:
        raise ProjectionFormatError(index, f'version "v": {data["v"]!r}, this reader knows "v": {PROJECTION_VERSION}')
    if data.keys() != _FIELD_SET:
        missing, unknown = sorted(_FIELD_SET - data.keys()), sorted(data.keys() - _FIELD_SET)
        wrong = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else [])
        raise ProjectionFormatError(index, f"fields: {'; '.join(wrong)}")
    return data

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
move with it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from revshare.metering.record import UsageRecord
from revshare.money import money_str

__all__ = ["PROJECTION_FIELDS", "PROJECTION_VERSION", "customer_pseudonym", "key_pseudonym", "project"]

PROJECTION_VERSION = 1
PROJECTION_FIELDS = (
    "amount", "cached_tokens", "completion_tokens", "currency", "customer", "ended_at", "endpoint",
    "estimated", "key", "licensors", "model", "outcome", "price_version", "prompt_tokens", "record_id",
    "seq", "started_at", "stream", "v",
)


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
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def project(record: UsageRecord, secret: bytes) -> dict[str, Any]:
    """The leaf projection of a committed record (it must have its seq)."""
    if record.seq is None:
        raise ValueError(f"record {record.id} has no seq: only committed records are projected")
    return {
        "v": PROJECTION_VERSION,
        "seq": record.seq,
        "record_id": record.id,
        "started_at": _time(record.started_at),
        "ended_at": _time(record.ended_at),
        "customer": customer_pseudonym(secret, record.customer),
        "key": key_pseudonym(secret, record.key_id),
        "model": record.model,
        "licensors": list(record.licensors),
        "endpoint": record.endpoint,
        "stream": record.stream,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cached_tokens": record.cached_tokens,
        "outcome": record.outcome.value,
        "price_version": record.price_version,
        "amount": money_str(record.amount),
        "currency": record.currency,
        "estimated": record.estimated,
    }

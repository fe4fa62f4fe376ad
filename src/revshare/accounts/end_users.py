"""End users: who is behind a request, kept as a keyed hash, and their distinct count per model.

    end_user_hash(secret, customer, user)     -> 64 hex digits, what a usage record keeps
    end_user_identity(end_user, key_id)       -> what is counted: the hash, else the key
    END_USER_SQL                              -> the same, as a SQL expression over usage_records

An end user is the request's `user` field (OpenAI's "a unique identifier representing your
end-user"), else the API key: a customer that sends no `user` counts one end user per key. The
field itself is never stored: the record keeps HMAC-SHA256 under the host's secret
(`<data_dir>/log.secret`, the key of the log's pseudonyms, with its own label), over the customer
and the field, so two customers' "alice" are two end users and a leaked ledger does not give
the identifiers back (docs/LICENSING.md, "End users"). The hash is not in the log leaf.

The live, approximate count is `LiveEndUsers` (accounts/live_users.py); the exact one is a
query over the records (accounts/users.py for a calendar month, monthend/period_users.py for a
statement's period), both counting `END_USER_SQL`.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import ColumnElement, case, literal

from revshare.ledger.schema import usage_records

__all__ = ["END_USER_SQL", "KEY_PREFIX", "end_user_hash", "end_user_identity"]

KEY_PREFIX = "key:"  # an end user counted by its key: no hash is 4 characters then a colon
_LABEL = b"revshare end user\x00"


def end_user_hash(secret: bytes, customer: str, user: str | None) -> str:
    """HMAC-SHA256(secret, label || customer || 0x00 || user), hex; "" for no `user` (or an empty one)."""
    if not user:
        return ""
    message = _LABEL + customer.encode("utf-8") + b"\x00" + user.encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def end_user_identity(end_user: str, key_id: str) -> str:
    """The end user a record counts for: its hash, or `key:<key_id>` when it has none."""
    return end_user or KEY_PREFIX + key_id


_u = usage_records.c
END_USER_SQL: ColumnElement[str] = case((_u.end_user == "", literal(KEY_PREFIX) + _u.key_id), else_=_u.end_user)
"""`end_user_identity` over a usage_records row, for COUNT(DISTINCT ...)."""

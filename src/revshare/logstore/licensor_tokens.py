"""Licensors' read tokens: a licensor reads its own log's checkpoints, proofs and leaves.

Like API keys, only a SHA-256 of the secret is stored (`rsl_` + 192 random bits needs no slow
hash); the secret is shown once at creation. A lookup finds the row by that hash and
compares the stored hash in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from revshare.ledger.store import Ledger, hash_secret
from revshare.logstore.schema import licensor_tokens

__all__ = ["TOKEN_PREFIX", "LicensorToken", "create_token", "find_token", "revoke_token"]

TOKEN_PREFIX = "rsl_"


@dataclass(frozen=True, slots=True)
class LicensorToken:
    """A live licensor token (never its secret)."""

    token_id: str
    licensor: str
    label: str
    created_at: datetime


def create_token(ledger: Ledger, licensor: str, label: str = "") -> tuple[LicensorToken, str]:
    """Create a token for `licensor`; return it and its secret (shown once, never stored)."""
    token = LicensorToken("lt_" + secrets.token_hex(6), licensor, label, datetime.now(UTC))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(24)
    with ledger.engine.begin() as conn:
        conn.execute(licensor_tokens.insert().values(
            token_id=token.token_id, secret_hash=hash_secret(secret), licensor=licensor, label=label,
            created_at=token.created_at, revoked_at=None))
    return token, secret


def find_token(ledger: Ledger, secret: str) -> LicensorToken | None:
    """The live token with this secret, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    digest = hash_secret(secret)
    with ledger.engine.connect() as conn:
        row = conn.execute(select(licensor_tokens).where(
            licensor_tokens.c.secret_hash == digest, licensor_tokens.c.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(str(row.secret_hash), digest):
        return None
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return LicensorToken(row.token_id, row.licensor, row.label, created)


def revoke_token(ledger: Ledger, token_id: str) -> bool:
    with ledger.engine.begin() as conn:
        moved = conn.execute(update(licensor_tokens).where(
            licensor_tokens.c.token_id == token_id, licensor_tokens.c.revoked_at.is_(None),
        ).values(revoked_at=datetime.now(UTC)))
    return bool(moved.rowcount)

"""Console sessions: who is logged in, sealed in a signed cookie, and the CSRF token of each form.

    login       the admin token (operator), a live API key (customer) or a licensor token
                (licensor) is pasted once; it is looked up, never kept: the cookie holds the
                role, the name, the id of the credential (key id, licensor token id, or a keyed
                fingerprint of the admin token), a random session id and the expiry
    the cookie  `revshare_console`: base64url(JSON) "." base64url(HMAC-SHA256), HttpOnly,
                SameSite=Strict, Path=/console, Secure over https, 12 hours
    each page   the signature and the expiry are checked, then the credential is asked again:
                a revoked key or licensor token, or a changed admin token, ends the session
    each POST   a form field `csrf` = HMAC(key, session id), compared in constant time (403)
    logout      clears the cookie and remembers the session id as ended until it expires

The signing key is derived (HMAC, its own label) from the host's `<data_dir>/log.secret`, so a
session outlives a restart and is good on every gateway that shares the data dir; a gateway
without that secret uses a random key (sessions then end when it restarts). An ended session id
is remembered by the process that ended it; on other processes the cookie, which the browser has
dropped, stays good until it expires (docs/CONSOLE.md, "Sessions").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from fastapi import Request, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from revshare.accounts.errors import AccountError
from revshare.api.auth import log_service_of
from revshare.ledger.store import Ledger
from revshare.logstore.licensor_tokens import TOKEN_PREFIX, find_token
from revshare.logstore.schema import licensor_tokens
from revshare.serving.gateway import Gateway

__all__ = ["COOKIE", "LIFETIME_S", "LOGIN_COOKIE", "PATH", "Role", "Sealer", "Session", "Sessions", "identify",
           "sessions_of", "still_valid"]

COOKIE = "revshare_console"
LOGIN_COOKIE = "revshare_console_login"
PATH = "/console"
LIFETIME_S = 12 * 3600
WHO_MAX = 100
Role = Literal["operator", "customer", "licensor"]
_ROLES: tuple[str, ...] = get_args(Role)
_LABEL = b"revshare console session v1"


@dataclass(frozen=True, slots=True)
class Session:
    """One logged-in browser.

    Attributes:
        role: operator, customer or licensor.
        subject: the customer's or the licensor's name; "operator" for the operator.
        credential: the key id, the licensor token id, or the admin token's fingerprint.
        who: the name the operator gave at login, for the audit trail ("" if none).
        sid: 128 random bits naming this session (its CSRF token is derived from it).
        expires: Unix seconds.
    """

    role: Role
    subject: str
    credential: str
    who: str
    sid: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    """Signs and opens session cookies; derives CSRF tokens and the admin token's fingerprint."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def of_secret(cls, secret: bytes) -> Sealer:
        return cls(hmac.new(secret, _LABEL, hashlib.sha256).digest())

    def _mac(self, purpose: str, value: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{value}".encode(), hashlib.sha256).digest())

    def seal(self, session: Session) -> str:
        payload = _b64(json.dumps(asdict(session), separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def open(self, value: str, now: float) -> Session | None:
        """The session in a cookie, or None: malformed, forged, or expired."""
        payload, dot, mac = value.partition(".")
        if not dot or not hmac.compare_digest(mac.encode(), self._mac("session", payload).encode()):
            return None
        try:
            fields: Any = json.loads(_unb64(payload))
            session = Session(**fields)
        except (ValueError, TypeError):
            return None
        if session.role not in _ROLES or not isinstance(session.expires, int) or session.expires <= now:
            return None
        return session

    def csrf(self, session: Session) -> str:
        return self._mac("csrf", session.sid)

    def login_csrf(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def fingerprint(self, admin_token: str) -> str:
        """Names the admin token in a session without revealing it; a new token ends old sessions."""
        return self._mac("admin", admin_token)


@dataclass
class Sessions:
    """A gateway's sealer, and the session ids ended here (by logout) with their expiry."""

    sealer: Sealer
    ended: dict[str, int] = field(default_factory=dict)

    def end(self, session: Session) -> None:
        now = int(time.time())
        if len(self.ended) > 10_000:
            self.ended = {sid: exp for sid, exp in self.ended.items() if exp > now}
        self.ended[session.sid] = session.expires

    def new(self, role: Role, subject: str, credential: str, who: str = "") -> Session:
        return Session(role, subject, credential, who, secrets.token_hex(16), int(time.time()) + LIFETIME_S)

    def read(self, request: Request) -> Session | None:
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        session = self.sealer.open(value, time.time())
        if session is None or session.sid in self.ended:
            return None
        return session


def sessions_of(request: Request) -> Sessions:
    """This app's sessions, made on first use from the host's secret (the log service's)."""
    state = request.app.state
    sessions: Sessions | None = getattr(state, "console_sessions", None)
    if sessions is None:
        tlog = log_service_of(request)
        secret = tlog.identity.secret if tlog is not None else secrets.token_bytes(32)
        sessions = state.console_sessions = Sessions(Sealer.of_secret(secret))
    return sessions


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path=PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https")


async def identify(gateway: Gateway, sealer: Sealer, token: str) -> tuple[Role, str, str] | None:
    """(role, subject, credential) of a pasted token, or None when it is none of the three."""
    if gateway.admin_token and hmac.compare_digest(token.encode(), gateway.admin_token.encode()):
        return "operator", "operator", sealer.fingerprint(token)
    if token.startswith(TOKEN_PREFIX):
        found = await run_in_threadpool(find_token, gateway.ledger, token)
        return None if found is None else ("licensor", found.licensor, found.token_id)
    key = await gateway.keys.lookup(token)
    return None if key is None else ("customer", key.customer, key.key_id)


async def still_valid(gateway: Gateway, sealer: Sealer, session: Session) -> bool:
    """Whether the credential the session was opened with still holds."""
    if session.role == "operator":
        return bool(gateway.admin_token) and hmac.compare_digest(
            session.credential.encode(), sealer.fingerprint(gateway.admin_token).encode())
    if session.role == "licensor":
        return await run_in_threadpool(_licensor_token_live, gateway.ledger, session.credential, session.subject)
    if gateway.accounts is None:
        return False
    try:
        key = await run_in_threadpool(gateway.accounts.key, session.credential)
    except AccountError:
        return False
    return key.revoked_at is None and key.customer == session.subject


def _licensor_token_live(ledger: Ledger, token_id: str, licensor: str) -> bool:
    query = select(licensor_tokens.c.token_id).where(
        licensor_tokens.c.token_id == token_id, licensor_tokens.c.licensor == licensor,
        licensor_tokens.c.revoked_at.is_(None))
    with ledger.engine.connect() as conn:
        return conn.execute(query).first() is not None

"""Who is calling: a customer's API key (Bearer) or the operator's admin token."""

from __future__ import annotations

import hmac

from fastapi import Request

from revshare.api.errors import ApiError
from revshare.ledger.store import ApiKey
from revshare.logstore.service import LogService
from revshare.serving.gateway import Gateway

__all__ = ["bearer", "bearer_value", "customer_key", "gateway_of", "log_service_of", "require_admin",
           "require_customer"]


def gateway_of(request: Request) -> Gateway:
    """The gateway the app's lifespan started (`api.app.GatewayApp`)."""
    gateway: Gateway | None = request.app.gateway
    if gateway is None:
        raise RuntimeError("the gateway has not started: the app's lifespan did not run")
    return gateway


def log_service_of(request: Request) -> LogService | None:
    """The log service the app's lifespan started, None before it ran."""
    service: LogService | None = request.app.tlog
    return service


def bearer(request: Request) -> str | None:
    return bearer_value(request.headers.get("authorization"))


def bearer_value(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header's value."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_customer(request: Request) -> ApiKey:
    """The live API key of this request; 401 without one."""
    return await customer_key(gateway_of(request), bearer(request))


async def customer_key(gateway: Gateway, token: str | None) -> ApiKey:
    """The live API key a Bearer token names: 401 for none or a wrong one, 403 for a suspended customer.

    Keys are found by their SHA-256 (an indexed lookup): what a timing difference could reveal is
    a prefix of a hash, which says nothing about any secret.
    """
    if token is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    # A ledger that cannot be read is a 503 (api.errors maps SQLAlchemyError, never with the secret).
    key = await gateway.keys.lookup(token)
    if key is None:
        raise ApiError(401, "incorrect API key provided", code="invalid_api_key")
    account = gateway.directory.account(key.customer)
    if account is not None and account.suspended_at is not None:
        raise ApiError(403, f"the customer {key.customer!r} is suspended; ask the operator", code="customer_suspended")
    return key


async def require_admin(request: Request) -> None:
    """The operator's admin token; compared in constant time. Customer keys never pass."""
    token = bearer(request)
    expected = gateway_of(request).admin_token
    if token is None or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, "admin token required", code="invalid_admin_token")

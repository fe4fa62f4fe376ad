"""Admin API for accounts: customers, API keys and the audit trail, changed while gateways run.

Every change is audited with the actor `admin`, or `admin (<Revshare-Actor header>)` when the
caller names the person (self-declared: the admin token is one shared secret). A change made here
is in force in this process at once and in every other gateway within `server.accounts_refresh_s`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from revshare.accounts.directory import Account
from revshare.accounts.errors import AccountError
from revshare.accounts.store import Accounts, Actor, AuditEvent, customer_of, limits_of
from revshare.api.auth import gateway_of
from revshare.api.errors import ApiError, error_responses
from revshare.api.openai_routes import StrictJsonRoute
from revshare.api.openapi import ADMIN, ok_response
from revshare.api.protocol import INT64_MAX
from revshare.config.sections import Limits
from revshare.instants import format_instant
from revshare.ledger.store import ApiKey

__all__ = ["router"]

router = APIRouter(route_class=StrictJsonRoute)  # bodies parsed as strictly as the OpenAI routes'

_STATUS = {"invalid": (400, "invalid_value"), "not_found": (404, "not_found"), "conflict": (409, "conflict"),
           "managed_by_catalog": (409, "managed_by_catalog")}

Count = Annotated[int, Field(ge=1, le=INT64_MAX)]
Amount = Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,12})?$", description="a decimal amount, as text")]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")]
Glob = Annotated[str, Field(min_length=1, max_length=128)]
Label = Annotated[str, Field(max_length=128)]
ActorHeader = Annotated[str | None, Header(alias="Revshare-Actor", min_length=1, max_length=120,
                                           description="who is acting, recorded in the audit trail")]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LimitsIn(_Wire):
    """Limits and a budget; a field left out (or null) is no limit."""

    requests_per_minute: Count | None = None
    tokens_per_minute: Count | None = None
    max_concurrent: Count | None = None
    budget: Amount | None = None
    budget_period: Literal["day", "month", "total"] = "month"


class CustomerIn(LimitsIn):
    name: Name
    models: Annotated[list[Glob], Field(min_length=1, max_length=256)] = ["*"]
    description: Annotated[str, Field(max_length=1000)] = ""


class CustomerChange(_Wire):
    """The fields to change; those left out keep their value. `suspended` suspends or resumes."""

    models: Annotated[list[Glob], Field(min_length=1, max_length=256)] | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    requests_per_minute: Count | None = None
    tokens_per_minute: Count | None = None
    max_concurrent: Count | None = None
    budget: Amount | None = None
    budget_period: Literal["day", "month", "total"] | None = None
    suspended: bool | None = None


class KeyIn(_Wire):
    customer: Name
    label: Label = ""
    limits: LimitsIn | None = None


class KeyChange(_Wire):
    """`label` relabels; `limits` replaces the key's own limits, and `"limits": null` removes them."""

    label: Label | None = None
    limits: LimitsIn | None = None


_NOT_NULL = ("models", "description", "budget_period", "suspended")


def _accounts(request: Request) -> Accounts:
    accounts = gateway_of(request).accounts
    if accounts is None:
        raise ApiError(503, "accounts are not available on this gateway", code="accounts_unavailable")
    return accounts


def _actor(name: str | None) -> Actor:
    if name is not None and not name.isprintable():
        raise ApiError(400, "the Revshare-Actor header must be printable text", param="Revshare-Actor")
    return Actor("admin" if name is None else f"admin ({name})", "api")


async def _change(request: Request, work: Any) -> Any:
    """Run a change in a thread, map a refusal to its status, and apply it here at once."""
    try:
        result = await run_in_threadpool(work)
    except AccountError as exc:
        status, code = _STATUS[exc.kind]
        raise ApiError(status, exc.message, code=code, param=exc.param) from None
    await gateway_of(request).follow_accounts()
    return result


def _limits(limits: Limits) -> dict[str, Any]:
    return {"requests_per_minute": limits.requests_per_minute, "tokens_per_minute": limits.tokens_per_minute,
            "max_concurrent": limits.max_concurrent,
            "budget": None if limits.budget is None else str(limits.budget), "budget_period": limits.budget_period}


def customer_json(account: Account) -> dict[str, Any]:
    c = account.customer
    return {"name": c.name, "models": list(c.models), "description": c.description, **_limits(c),
            "source": account.source,
            "suspended_at": format_instant(account.suspended_at) if account.suspended_at else None,
            "created_at": format_instant(account.created_at), "updated_at": format_instant(account.updated_at)}


def key_json(key: ApiKey, limits: Limits | None) -> dict[str, Any]:
    return {"key_id": key.key_id, "customer": key.customer, "label": key.label,
            "created_at": format_instant(key.created_at),
            "revoked_at": format_instant(key.revoked_at) if key.revoked_at else None,
            "limits": None if limits is None else _limits(limits)}


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": format_instant(event.at), "actor": event.actor, "via": event.via,
            "action": event.action, "subject": event.subject, "customer": event.customer, "detail": event.detail}


_CustomerName = Annotated[str, Path(min_length=1, max_length=128)]
_KeyId = Annotated[str, Path(min_length=1, max_length=64)]
_CUSTOMER_OK = ok_response("Customer", description="The customer")
_KEY_OK = ok_response("ApiKey", description="The key")


@router.get("/customers", summary="Customers (the catalog's and those made here)", operation_id="listCustomers",
            response_model=None, openapi_extra=ADMIN,
            responses={**ok_response("Customers", description="The customers, by name"), **error_responses(401)})
async def list_customers(request: Request) -> dict[str, Any]:
    directory = await run_in_threadpool(_accounts(request).load)
    return {"data": [customer_json(directory.accounts[name]) for name in sorted(directory.accounts)]}


@router.post("/customers", summary="Create a customer", operation_id="createCustomer", status_code=201,
             response_model=None, openapi_extra=ADMIN,
             responses={201: _CUSTOMER_OK[200], **error_responses(400, 401, 409)})
async def create_customer(request: Request, body: CustomerIn, actor: ActorHeader = None) -> dict[str, Any]:
    accounts, who = _accounts(request), _actor(actor)

    def work() -> Account:
        return accounts.create_customer(customer_of(body.name, body.model_dump(exclude={"name"})), who)

    return customer_json(await _change(request, work))


@router.get("/customers/{name}", summary="One customer", operation_id="getCustomer", response_model=None,
            openapi_extra=ADMIN, responses={**_CUSTOMER_OK, **error_responses(401, 404)})
async def get_customer(request: Request, name: _CustomerName) -> dict[str, Any]:
    account = await run_in_threadpool(_accounts(request).account, name)
    if account is None:
        raise ApiError(404, f"no customer named {name!r}", code="not_found", param="name")
    return customer_json(account)


@router.patch("/customers/{name}", summary="Change, suspend or resume a customer", operation_id="updateCustomer",
              response_model=None, openapi_extra=ADMIN,
              responses={**_CUSTOMER_OK, **error_responses(400, 401, 404, 409)})
async def update_customer(request: Request, name: _CustomerName, body: CustomerChange,
                          actor: ActorHeader = None) -> dict[str, Any]:
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    for field in _NOT_NULL:
        if field in changes and changes[field] is None:
            raise ApiError(400, f"{field} cannot be null", param=field)
    accounts, who = _accounts(request), _actor(actor)
    return customer_json(await _change(request, lambda: accounts.update_customer(name, changes, who)))


@router.get("/keys", summary="API keys (never their secrets)", operation_id="listKeys", response_model=None,
            openapi_extra=ADMIN, responses={**ok_response("ApiKeys", description="The keys"), **error_responses(401)})
async def list_keys(request: Request, customer: Annotated[str | None, Query(max_length=128)] = None) -> dict[str, Any]:
    gateway = gateway_of(request)
    rows = await run_in_threadpool(gateway.ledger.keys, customer)
    directory = await run_in_threadpool(_accounts(request).load)
    return {"data": [key_json(k, directory.key_limit(k.key_id)) for k in rows]}


@router.post("/keys", summary="Create an API key (its secret is shown once)", operation_id="createKey",
             status_code=201, response_model=None, openapi_extra=ADMIN,
             responses={201: ok_response("NewApiKey", description="The key, with its secret")[200],
                        **error_responses(400, 401, 404)})
async def create_key(request: Request, body: KeyIn, actor: ActorHeader = None) -> dict[str, Any]:
    accounts, who = _accounts(request), _actor(actor)
    limits = None if body.limits is None else limits_of(body.limits.model_dump())
    key, secret = await _change(request, lambda: accounts.create_key(body.customer, body.label, limits, who))
    return {**key_json(key, limits), "secret": secret}


@router.patch("/keys/{key_id}", summary="Relabel a key or set its own limits", operation_id="updateKey",
              response_model=None, openapi_extra=ADMIN, responses={**_KEY_OK, **error_responses(400, 401, 404, 409)})
async def update_key(request: Request, key_id: _KeyId, body: KeyChange, actor: ActorHeader = None) -> dict[str, Any]:
    accounts, who = _accounts(request), _actor(actor)
    limits = None if body.limits is None else limits_of(body.limits.model_dump())
    clear = "limits" in body.model_fields_set and body.limits is None

    def work() -> ApiKey:
        return accounts.update_key(key_id, who, label=body.label, limits=limits, clear_limits=clear)

    key = await _change(request, work)
    return key_json(key, gateway_of(request).directory.key_limit(key_id))


@router.post("/keys/{key_id}/revoke", summary="Revoke a key", operation_id="revokeKey", response_model=None,
             openapi_extra=ADMIN, responses={**_KEY_OK, **error_responses(401, 404, 409)})
async def revoke_key(request: Request, key_id: _KeyId, actor: ActorHeader = None) -> dict[str, Any]:
    accounts, who = _accounts(request), _actor(actor)
    key = await _change(request, lambda: accounts.revoke_key(key_id, who))
    return key_json(key, gateway_of(request).directory.key_limit(key_id))


@router.get("/audit", summary="The audit trail of account changes, oldest first", operation_id="listAuditEvents",
            response_model=None, openapi_extra=ADMIN,
            responses={**ok_response("AuditEvents", description="Audit events in order"), **error_responses(401)})
async def audit(
    request: Request,
    customer: Annotated[str | None, Query(max_length=128)] = None,
    after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    accounts = _accounts(request)
    events = await run_in_threadpool(lambda: accounts.audit(after_seq=after_seq, limit=limit, customer=customer))
    return {"data": [_event_json(e) for e in events], "next_after_seq": events[-1].seq if events else after_seq}

"""Licence terms over HTTP (docs/LICENSING.md): a customer reads the terms that bind the models it
may call and accepts them (`/v1/me/terms`); the operator lists acceptances, records one given
offline, and counts monthly active users per model and licence (`/admin/terms`, and
`/admin/customers/{name}/terms/{id}/accept`). Every acceptance is audited and append-only; it is
in force on this gateway at once and on every other within `server.accounts_refresh_s`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from revshare.accounts.acceptances import Acceptance
from revshare.accounts.errors import AccountError
from revshare.accounts.live_users import LIVE_RSE
from revshare.accounts.model_access import REASON_MAX, history, lift, suspend
from revshare.accounts.store import Accounts, Actor
from revshare.accounts.suspensions import Suspension
from revshare.accounts.terms import NOTE_MAX, accept, acceptances, standings
from revshare.accounts.users import MonthlyUsers, Threshold, monthly_users
from revshare.api.admin_accounts import ActorHeader
from revshare.api.auth import gateway_of, require_admin, require_customer
from revshare.api.end_users import end_users_of
from revshare.api.errors import ApiError, error_responses
from revshare.api.limits import single_query_values
from revshare.api.openai_routes import StrictJsonRoute
from revshare.api.openapi import ADMIN, CUSTOMER, ok_response
from revshare.api.protocol import INT64_MAX
from revshare.config import Catalog
from revshare.config.catalog import LicenceTerms
from revshare.instants import format_instant, utc_now
from revshare.ledger.store import ApiKey

__all__ = ["acceptance_json", "router", "terms_json"]

customer_router = APIRouter(prefix="/v1/me", route_class=StrictJsonRoute, dependencies=[Depends(single_query_values)])
admin_router = APIRouter(prefix="/admin", route_class=StrictJsonRoute, tags=["admin"],
                         dependencies=[Depends(require_admin), Depends(single_query_values)])

Version = Annotated[str, Field(min_length=1, max_length=64, description="the version accepted: the current one")]
TermsId = Annotated[str, Path(min_length=1, max_length=64, description="a [[licences]] id, e.g. gemma")]
_ACCEPTED = ok_response("TermsAcceptance", description="Already accepted: the earlier acceptance; nothing recorded")
_ACCEPT_RESPONSES = {**_ACCEPTED, 201: ok_response("TermsAcceptance", description="Recorded")[200]}
_STATUS = {"invalid": (400, "invalid_value"), "not_found": (404, "not_found"),
           "conflict": (409, "terms_version_mismatch")}


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Version


class OfflineAcceptIn(AcceptIn):
    note: Annotated[str, Field(max_length=NOTE_MAX, description="e.g. the signed order form's reference")] = ""


def terms_json(terms: LicenceTerms) -> dict[str, Any]:
    """What a client is told of a licence's terms (also in GET /v1/models)."""
    return {"id": terms.id, "name": terms.name, "version": terms.version, "url": terms.url,
            "use_policy_url": terms.use_policy_url, "attribution": terms.attribution or None,
            "acceptance_required": terms.acceptance_required}


def acceptance_json(a: Acceptance) -> dict[str, Any]:
    return {"seq": a.seq, "customer": a.customer, "terms_id": a.licence, "version": a.version,
            "accepted_at": format_instant(a.accepted_at), "actor": a.actor, "via": a.via, "note": a.note}


def _accounts(request: Request) -> Accounts:
    accounts = gateway_of(request).accounts
    if accounts is None:
        raise ApiError(503, "accounts are not available on this gateway", code="accounts_unavailable")
    return accounts


async def _accept(request: Request, work: Callable[[], tuple[Acceptance, bool]]) -> JSONResponse:
    """Record in a thread; a refusal as its status; 201 when recorded, 200 when it already was."""
    try:
        acceptance, recorded = await run_in_threadpool(work)
    except AccountError as exc:
        status, code = _STATUS.get(exc.kind, (400, "invalid_value"))
        if exc.param == "terms_id":
            code = "terms_not_found"
        raise ApiError(status, exc.message, code=code, param=exc.param) from None
    if recorded:
        await gateway_of(request).follow_accounts()
    return JSONResponse({"object": "terms.acceptance", **acceptance_json(acceptance), "recorded": recorded},
                        status_code=201 if recorded else 200)


# The customer's own ----------------------------------------------------------------------------------

@customer_router.get("/terms", summary="The licence terms binding the models this key may use, accepted or pending",
                     operation_id="listMyTerms", response_model=None, openapi_extra=CUSTOMER,
                     responses={**ok_response("MyTerms", description="Each licence's terms and where the "
                                              "customer stands"), **error_responses(401, 403, 503)})
async def my_terms(request: Request, key: Annotated[ApiKey, Depends(require_customer)]) -> dict[str, Any]:
    gateway = gateway_of(request)
    customer = gateway.directory.customer(key.customer)
    accounts = _accounts(request)
    history = await run_in_threadpool(lambda: acceptances(accounts, customer=key.customer))
    now = utc_now()
    rows = standings(gateway.catalog, customer, history, now) if customer is not None else []
    return {"object": "list", "data": [
        {**terms_json(s.terms), "notice": gateway.catalog.licence_texts(s.terms.id).notice or None,
         "effective_from": format_instant(s.terms.effective_from) if s.terms.effective_from else None,
         "grace_days": s.terms.grace_days,
         "grace_until": format_instant(until) if s.standing == "grace" and (until := s.terms.grace_until) else None,
         "status": s.standing, "models": list(s.models),
         "accept_url": f"/v1/me/terms/{s.terms.id}/accept",
         "acceptances": [acceptance_json(a) for a in s.accepted]} for s in rows]}


@customer_router.post("/terms/{terms_id}/accept", summary="Accept the current version of a licence's terms",
                      operation_id="acceptMyTerms", response_model=None, openapi_extra=CUSTOMER,
                      responses={**_ACCEPT_RESPONSES, **error_responses(400, 401, 403, 404, 409, 503)})
async def accept_my_terms(request: Request, terms_id: TermsId, body: AcceptIn,
                          key: Annotated[ApiKey, Depends(require_customer)]) -> JSONResponse:
    accounts, catalog = _accounts(request), gateway_of(request).catalog
    actor = Actor(f"key:{key.key_id}", "api")
    return await _accept(request, lambda: accept(accounts, catalog, key.customer, terms_id, body.version, actor))


# The operator's ---------------------------------------------------------------------------------------

@admin_router.post("/customers/{name}/terms/{terms_id}/accept",
                   summary="Record a customer's acceptance given offline (e.g. a signed order form)",
                   operation_id="recordTermsAcceptance", response_model=None, openapi_extra=ADMIN,
                   responses={**_ACCEPT_RESPONSES, **error_responses(400, 401, 404, 409)})
async def record_acceptance(request: Request, name: Annotated[str, Path(min_length=1, max_length=128)],
                            terms_id: TermsId, body: OfflineAcceptIn, actor: ActorHeader = None) -> JSONResponse:
    if actor is not None and not actor.isprintable():
        raise ApiError(400, "the Revshare-Actor header must be printable text", param="Revshare-Actor")
    if not body.note.isprintable():
        raise ApiError(400, "a note is printable text on one line", code="invalid_value", param="note")
    who = Actor("admin" if actor is None else f"admin ({actor})", "api")
    accounts, catalog = _accounts(request), gateway_of(request).catalog
    return await _accept(request, lambda: accept(accounts, catalog, name, terms_id, body.version, who, body.note))


@admin_router.get("/terms/acceptances", summary="Acceptances of licence terms, oldest first",
                  operation_id="listTermsAcceptances", response_model=None, openapi_extra=ADMIN,
                  responses={**ok_response("TermsAcceptances", description="Acceptances in the order recorded"),
                             **error_responses(401)})
async def list_acceptances(
    request: Request,
    customer: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    terms_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    accounts = _accounts(request)
    rows = await run_in_threadpool(lambda: acceptances(accounts, customer=customer, licence=terms_id,
                                                       after_seq=after_seq, limit=limit))
    return {"data": [acceptance_json(a) for a in rows], "next_after_seq": rows[-1].seq if rows else after_seq}


def _threshold_json(t: Threshold) -> dict[str, Any]:
    return {"terms_id": t.licence, "users": t.users, "state": t.state}


def users_json(result: MonthlyUsers) -> dict[str, Any]:
    return {
        "object": "terms.users", "month": result.month, "start": format_instant(result.start),
        "end": format_instant(result.end), "counted": "end_users",
        "models": [{"model": m.model, "terms": list(m.licences), "end_users": m.end_users, "customers": m.customers,
                    "keys": m.keys, "records": m.records, "thresholds": [_threshold_json(t) for t in m.thresholds]}
                   for m in result.models],
        "terms": [{"terms_id": t.licence, "name": t.name, "models": list(t.models), "end_users": t.end_users,
                   "customers": t.customers, "keys": t.keys, "thresholds": [_threshold_json(x) for x in t.thresholds]}
                  for t in result.licences],
        "flagged": [_threshold_json(t) for t in result.flagged],
    }


@admin_router.get("/terms/users", summary="Monthly active end users, customers and keys per model and licence",
                  operation_id="getTermsUsers", response_model=None, openapi_extra=ADMIN,
                  responses={**ok_response("TermsUsers", description="The month's counts, thresholds flagged"),
                             **error_responses(400, 401)})
async def users(request: Request, month: Annotated[str | None, Query(min_length=7, max_length=7, description=(
        "a UTC calendar month, YYYY-MM; default the current one"))] = None) -> dict[str, Any]:
    gateway = gateway_of(request)
    chosen = month or format_instant(utc_now())[:7]
    catalog: Catalog = gateway.catalog
    try:
        result = await run_in_threadpool(monthly_users, gateway.ledger.engine, catalog, chosen)
    except ValueError as exc:
        raise ApiError(400, str(exc), code="invalid_value", param="month") from None
    return users_json(result)


@admin_router.get("/terms/users/live", summary="This month's end users as this gateway estimates them (HyperLogLog)",
                  operation_id="getLiveTermsUsers", response_model=None, openapi_extra=ADMIN,
                  responses={**ok_response("LiveTermsUsers", description="Estimates per model and licence, "
                                           "thresholds flagged"), **error_responses(401, 503)})
async def live_users(request: Request) -> dict[str, Any]:
    end_users = end_users_of(request)
    if end_users is None:
        raise ApiError(503, "the live count is not running on this gateway", code="live_users_unavailable")
    counts = end_users.live.snapshot()
    thresholds = [_threshold_json(t) for t in counts.thresholds]
    return {"object": "terms.users.live", "month": counts.month or format_instant(utc_now())[:7],
            "counted": "end_users", "estimate": "hyperloglog", "relative_standard_error": LIVE_RSE,
            "models": [{"model": m, "end_users": round(v)} for m, v in sorted(counts.models.items())],
            "terms": [{"terms_id": t, "end_users": round(v)} for t, v in sorted(counts.licences.items())],
            "thresholds": thresholds, "flagged": [t for t in thresholds if t["state"] != "below"]}


class SuspensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    reason: Annotated[str, Field(min_length=1, max_length=REASON_MAX,
                                 description="the use-policy violation, or why the suspension ends")]


def suspension_json(s: Suspension) -> dict[str, Any]:
    return {"object": "model.suspension", "seq": s.seq, "customer": s.customer, "model": s.model,
            "action": s.action, "at": format_instant(s.at), "actor": s.actor, "via": s.via, "reason": s.reason}


_SUSPENSION_STATUS = {"invalid": (400, "invalid_value"), "not_found": (404, "not_found"),
                      "conflict": (409, "conflict")}


async def _suspension(request: Request, name: str, model: str, body: SuspensionIn, actor: str | None,
                      change: Callable[..., Suspension]) -> JSONResponse:
    if actor is not None and not actor.isprintable():
        raise ApiError(400, "the Revshare-Actor header must be printable text", param="Revshare-Actor")
    who = Actor("admin" if actor is None else f"admin ({actor})", "api")
    accounts, catalog = _accounts(request), gateway_of(request).catalog
    try:
        made = await run_in_threadpool(lambda: change(accounts, catalog, name, model, body.reason, who))
    except AccountError as exc:
        status, code = _SUSPENSION_STATUS.get(exc.kind, (400, "invalid_value"))
        raise ApiError(status, exc.message, code=code, param=exc.param) from None
    await gateway_of(request).follow_accounts()
    return JSONResponse(suspension_json(made), status_code=201)


ModelId = Annotated[str, Path(min_length=1, max_length=128, description="a catalog model id")]
CustomerName = Annotated[str, Path(min_length=1, max_length=128)]
_SUSPEND_RESPONSES = {201: ok_response("ModelSuspension", description="Recorded")[200],
                      **error_responses(400, 401, 404, 409)}


@admin_router.post("/customers/{name}/models/{model}/suspend",
                   summary="Suspend a customer's access to one model (a use-policy violation)",
                   operation_id="suspendModelAccess", response_model=None, openapi_extra=ADMIN,
                   status_code=201, responses=_SUSPEND_RESPONSES)
async def suspend_access(request: Request, name: CustomerName, model: ModelId, body: SuspensionIn,
                         actor: ActorHeader = None) -> JSONResponse:
    return await _suspension(request, name, model, body, actor, suspend)


@admin_router.post("/customers/{name}/models/{model}/lift",
                   summary="Lift the suspension of a customer's access to one model",
                   operation_id="liftModelAccessSuspension", response_model=None, openapi_extra=ADMIN,
                   status_code=201, responses=_SUSPEND_RESPONSES)
async def lift_access(request: Request, name: CustomerName, model: ModelId, body: SuspensionIn,
                      actor: ActorHeader = None) -> JSONResponse:
    return await _suspension(request, name, model, body, actor, lift)


@admin_router.get("/suspensions", summary="Suspensions of model access and their liftings, oldest first",
                  operation_id="listModelSuspensions", response_model=None, openapi_extra=ADMIN,
                  responses={**ok_response("ModelSuspensions", description="In the order recorded"),
                             **error_responses(401)})
async def list_suspensions(
    request: Request,
    customer: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    model: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    accounts = _accounts(request)
    rows = await run_in_threadpool(lambda: history(accounts, customer=customer, model=model, after_seq=after_seq,
                                                   limit=limit))
    return {"data": [suspension_json(s) for s in rows], "next_after_seq": rows[-1].seq if rows else after_seq}


router = APIRouter()
router.include_router(customer_router)
router.include_router(admin_router)

"""The operator's customers: list, create, edit, suspend and resume (api-sourced ones only: a
customer written in revshare.toml is shown read-only, since the catalog wins).

    GET  /console/customers                  the list and the create form
    POST /console/customers                  create -> its page; bad input -> the form again (400)
    GET  /console/customers/{name}           one customer: limits, budget used, keys, edit form
    POST /console/customers/{name}           save the edit form
    POST /console/customers/{name}/suspend   and /resume

Names may hold "/" (the catalog allows it), so routes take `{name:path}`; suspend and resume come
before the edit route, which would take their path too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.accounts.directory import Account
from revshare.accounts.errors import AccountError
from revshare.api.auth import gateway_of
from revshare.api.console.budget import budget_use
from revshare.api.console.forms import HINTS, FormInvalid, customer_change, customer_in, field_errors, limits_form
from revshare.api.console.forms import models_text as _models
from revshare.api.console.guards import OperatorForm, OperatorPage, Posted, accounts_of, actor_of
from revshare.api.console.web import ConsoleError, ConsoleRoute, SeeOther, nav_item, render

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Customers", "/console/customers", "operator", order=10)

DONE = {"created": "Customer created.", "saved": "Changes saved.", "unchanged": "Nothing to change.",
        "suspended": "Customer suspended: its keys get 403 until it is resumed.",
        "resumed": "Customer resumed: its keys work again."}


def customer_path(name: str) -> str:
    return "/console/customers/" + quote(name, safe="")


def _form_of(account: Account) -> dict[str, str]:
    c = account.customer
    return {"name": c.name, "models": _models(c.models), "description": c.description, **limits_form(c)}


async def _list(request: Request, *, status: int = 200, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, done: str = "") -> Response:
    directory = await run_in_threadpool(accounts_of(request).load)
    accounts = [directory.accounts[name] for name in sorted(directory.accounts)]
    blank = {"name": "", "models": "*", "description": "", **limits_form(None)}
    return render(request, "customers.html", title="Customers", status=status, accounts=accounts,
                  values=values or blank, errors=errors or {}, hints=HINTS, notice=DONE.get(done, ""))


@router.get("/customers")
async def customers(request: Request, _: OperatorPage, done: str = "") -> Response:
    return await _list(request, done=done)


@router.post("/customers")
async def create(request: Request, posted: OperatorForm) -> Response:
    accounts, actor = accounts_of(request), actor_of(posted.session)
    try:
        customer = customer_in(posted.fields)
        await run_in_threadpool(accounts.create_customer, customer, actor)
    except FormInvalid as exc:
        return await _list(request, status=400, values=posted.fields, errors=exc.errors)
    except AccountError as exc:
        return await _list(request, status=400 if exc.kind == "invalid" else 409, values=posted.fields,
                           errors=field_errors(exc))
    await gateway_of(request).follow_accounts()
    raise SeeOther(customer_path(customer.name) + "?done=created")


async def _one(request: Request, name: str, *, status: int = 200, values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, done: str = "") -> Response:
    accounts, ledger = accounts_of(request), gateway_of(request).ledger
    account = await run_in_threadpool(accounts.account, name)
    if account is None:
        raise ConsoleError(404, f"there is no customer named {name!r}")
    keys = await run_in_threadpool(ledger.keys, name)
    directory = gateway_of(request).directory
    use = await run_in_threadpool(budget_use, ledger, f"customer:{name}", account.customer)
    return render(request, "customer.html", title=f"Customer {name}", status=status, account=account,
                  keys=keys, key_limits={k.key_id: directory.key_limit(k.key_id) for k in keys}, use=use,
                  values=values or _form_of(account), errors=errors or {}, hints=HINTS, notice=DONE.get(done, ""))


async def _update(request: Request, name: str, posted: Posted, changes: dict[str, Any], done: str) -> Response:
    accounts, actor = accounts_of(request), actor_of(posted.session)
    before = await run_in_threadpool(accounts.version)
    try:
        await run_in_threadpool(accounts.update_customer, name, changes, actor)
    except AccountError as exc:
        if exc.kind == "not_found":
            raise ConsoleError(404, exc.message) from None
        if exc.kind == "managed_by_catalog":
            raise ConsoleError(409, exc.message) from None
        return await _one(request, name, status=400, values=posted.fields, errors=field_errors(exc))
    moved = await run_in_threadpool(accounts.version) != before
    await gateway_of(request).follow_accounts()
    raise SeeOther(customer_path(name) + "?done=" + (done if moved else "unchanged"))


@router.get("/customers/{name:path}")
async def customer(request: Request, name: str, _: OperatorPage, done: str = "") -> Response:
    return await _one(request, name, done=done)


@router.post("/customers/{name:path}/suspend")
async def suspend(request: Request, name: str, posted: OperatorForm) -> Response:
    return await _update(request, name, posted, {"suspended": True}, "suspended")


@router.post("/customers/{name:path}/resume")
async def resume(request: Request, name: str, posted: OperatorForm) -> Response:
    return await _update(request, name, posted, {"suspended": False}, "resumed")


@router.post("/customers/{name:path}")
async def edit(request: Request, name: str, posted: OperatorForm) -> Response:
    try:
        changes = customer_change(posted.fields)
    except FormInvalid as exc:
        return await _one(request, name, status=400, values=posted.fields, errors=exc.errors)
    return await _update(request, name, posted, changes, "saved")

"""The operator's API keys: list (filtered by customer and state, the filters in the URL),
create (the secret shown once, on the answer to the POST), relabel, revoke after a confirmation.

    GET  /console/keys?customer=&state=live|revoked|all
    POST /console/keys                      -> the new key's page, with its secret, this once
    GET  /console/keys/{key_id}             one key: relabel form, limits, revoke link
    POST /console/keys/{key_id}/label
    GET  /console/keys/{key_id}/revoke      "revoke this key?"
    POST /console/keys/{key_id}/revoke
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.accounts.errors import AccountError
from revshare.accounts.store import Accounts
from revshare.api.auth import gateway_of
from revshare.api.console.forms import HINTS, FormInvalid, field_errors, key_limits, label_of, limits_form
from revshare.api.console.guards import OperatorForm, OperatorPage, accounts_of, actor_of
from revshare.api.console.web import ConsoleError, ConsoleRoute, SeeOther, nav_item, render
from revshare.ledger.store import ApiKey

__all__ = ["key_created", "load_key", "router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Keys", "/console/keys", "operator", order=20)

State = Literal["live", "revoked", "all"]
DONE = {"relabelled": "Label saved.", "unchanged": "Nothing to change.",
        "revoked": "Key revoked: it is refused from now on."}


def key_path(key_id: str) -> str:
    return "/console/keys/" + quote(key_id, safe="")


def _filtered(keys: Sequence[ApiKey], state: State) -> list[ApiKey]:
    if state == "all":
        return list(keys)
    return [k for k in keys if (k.revoked_at is None) == (state == "live")]


async def _list(request: Request, customer: str, state: State, *, status: int = 200,
                values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> Response:
    gateway = gateway_of(request)
    directory = await run_in_threadpool(accounts_of(request).load)
    keys = _filtered(await run_in_threadpool(gateway.ledger.keys, customer or None), state)
    return render(request, "keys.html", title="API keys", status=status, keys=keys, customer=customer, state=state,
                  customers=sorted(directory.accounts),
                  key_limits={k.key_id: directory.key_limit(k.key_id) for k in keys},
                  values=values or {"customer": customer, "label": "", **limits_form(None)}, errors=errors or {},
                  hints=HINTS)


@router.get("/keys")
async def keys(request: Request, _: OperatorPage, customer: Annotated[str, Query(max_length=128)] = "",
               state: State = "live") -> Response:
    return await _list(request, customer, state)


def key_created(request: Request, key: ApiKey, secret: str, back: str) -> Response:
    base = str(request.base_url).rstrip("/") + "/v1"
    return render(request, "key_created.html", title="Key created", status=201, key=key, secret=secret, base_url=base,
                  back=back)


@router.post("/keys")
async def create(request: Request, posted: OperatorForm) -> Response:
    accounts, actor = accounts_of(request), actor_of(posted.session)
    customer = posted.get("customer").strip()
    try:
        errors = {} if customer else {"customer": HINTS["customer"]}
        label = label_of(posted.fields)
        limits = key_limits(posted.fields)
        if errors:
            raise FormInvalid(errors)
        key, secret = await run_in_threadpool(accounts.create_key, customer, label, limits, actor)
    except FormInvalid as exc:
        return await _list(request, "", "live", status=400, values=posted.fields, errors=exc.errors)
    except AccountError as exc:
        return await _list(request, "", "live", status=400, values=posted.fields, errors=field_errors(exc))
    await gateway_of(request).follow_accounts()
    return key_created(request, key, secret, "/console/keys?customer=" + quote(customer, safe=""))


async def load_key(accounts: Accounts, key_id: str, customer: str | None = None) -> ApiKey:
    """The key, or a 404 page; with `customer`, a key of another customer is a 404 as well."""
    try:
        key = await run_in_threadpool(accounts.key, key_id)
    except AccountError:
        key = None
    if key is None or (customer is not None and key.customer != customer):
        raise ConsoleError(404, f"there is no key {key_id!r}" + ("" if customer is None else " among your keys"))
    return key


async def _one(request: Request, key_id: str, *, status: int = 200, label: str | None = None,
               errors: dict[str, str] | None = None, done: str = "") -> Response:
    key = await load_key(accounts_of(request), key_id)
    return render(request, "key.html", title=f"Key {key.key_id}", status=status, key=key,
                  limits=gateway_of(request).directory.key_limit(key.key_id),
                  label=key.label if label is None else label, errors=errors or {}, hints=HINTS,
                  notice=DONE.get(done, ""))


@router.get("/keys/{key_id}")
async def key(request: Request, key_id: str, _: OperatorPage, done: str = "") -> Response:
    return await _one(request, key_id, done=done)


@router.post("/keys/{key_id}/label")
async def relabel(request: Request, key_id: str, posted: OperatorForm) -> Response:
    accounts = accounts_of(request)
    key = await load_key(accounts, key_id)
    try:
        label = label_of(posted.fields)
        if label == key.label:
            raise SeeOther(key_path(key_id) + "?done=unchanged")
        await run_in_threadpool(lambda: accounts.update_key(key_id, actor_of(posted.session), label=label))
    except FormInvalid as exc:
        return await _one(request, key_id, status=400, label=posted.get("label"), errors=exc.errors)
    except AccountError as exc:
        if exc.kind == "conflict":
            raise ConsoleError(409, exc.message) from None
        return await _one(request, key_id, status=400, label=posted.get("label"), errors=field_errors(exc))
    await gateway_of(request).follow_accounts()
    raise SeeOther(key_path(key_id) + "?done=relabelled")


@router.get("/keys/{key_id}/revoke")
async def confirm_revoke(request: Request, key_id: str, _: OperatorPage) -> Response:
    key = await load_key(accounts_of(request), key_id)
    return render(request, "key_revoke.html", title=f"Revoke {key.key_id}?", key=key,
                  action=key_path(key_id) + "/revoke", back=key_path(key_id), own=False)


@router.post("/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: str, posted: OperatorForm) -> Response:
    accounts = accounts_of(request)
    await load_key(accounts, key_id)
    try:
        await run_in_threadpool(accounts.revoke_key, key_id, actor_of(posted.session))
    except AccountError as exc:
        raise ConsoleError(409 if exc.kind == "conflict" else 404, exc.message) from None
    await gateway_of(request).follow_accounts()
    raise SeeOther(key_path(key_id) + "?done=revoked")

"""A customer's own pages: its account (models, limits, budget used this period) and its keys.
Every key route looks the key up among this customer's keys only: another customer's key id is a
404, as if it did not exist.

    GET  /console/me                      the account
    GET  /console/me/keys                 its keys and the create form
    POST /console/me/keys                 create -> the secret, this once
    GET  /console/me/keys/{key_id}/revoke "revoke this key?"
    POST /console/me/keys/{key_id}/revoke
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.accounts.errors import AccountError
from revshare.api.auth import gateway_of
from revshare.api.console.budget import budget_use
from revshare.api.console.forms import HINTS, FormInvalid, field_errors, label_of
from revshare.api.console.guards import CustomerForm, CustomerPage, accounts_of, actor_of
from revshare.api.console.pages_keys import key_created, load_key
from revshare.api.console.session import Session
from revshare.api.console.web import ConsoleError, ConsoleRoute, SeeOther, nav_item, render

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Account", "/console/me", "customer", order=10)
nav_item("Keys", "/console/me/keys", "customer", order=20)

DONE = {"revoked": "Key revoked: it is refused from now on."}


@router.get("/me")
async def me(request: Request, session: CustomerPage) -> Response:
    gateway = gateway_of(request)
    account = await run_in_threadpool(accounts_of(request).account, session.subject)
    if account is None:
        raise ConsoleError(404, f"there is no customer named {session.subject!r} any more")
    use = await run_in_threadpool(budget_use, gateway.ledger, f"customer:{account.name}", account.customer)
    return render(request, "me.html", title="Your account", account=account, use=use)


async def _keys(request: Request, session: Session, *, status: int = 200, label: str = "",
                errors: dict[str, str] | None = None, done: str = "") -> Response:
    gateway = gateway_of(request)
    keys = await run_in_threadpool(gateway.ledger.keys, session.subject)
    return render(request, "me_keys.html", title="Your API keys", status=status, keys=keys,
                  key_limits={k.key_id: gateway.directory.key_limit(k.key_id) for k in keys}, label=label,
                  errors=errors or {}, hints=HINTS, notice=DONE.get(done, ""))


@router.get("/me/keys")
async def my_keys(request: Request, session: CustomerPage, done: str = "") -> Response:
    return await _keys(request, session, done=done)


@router.post("/me/keys")
async def create(request: Request, posted: CustomerForm) -> Response:
    session = posted.session
    try:
        label = label_of(posted.fields)
        key, secret = await run_in_threadpool(accounts_of(request).create_key, session.subject, label, None,
                                              actor_of(session))
    except FormInvalid as exc:
        return await _keys(request, session, status=400, label=posted.get("label"), errors=exc.errors)
    except AccountError as exc:
        return await _keys(request, session, status=400, label=posted.get("label"), errors=field_errors(exc))
    await gateway_of(request).follow_accounts()
    return key_created(request, key, secret, "/console/me/keys")


def _revoke_path(key_id: str) -> str:
    return "/console/me/keys/" + quote(key_id, safe="") + "/revoke"


@router.get("/me/keys/{key_id}/revoke")
async def confirm_revoke(request: Request, key_id: str, session: CustomerPage) -> Response:
    key = await load_key(accounts_of(request), key_id, session.subject)
    return render(request, "key_revoke.html", title=f"Revoke {key.key_id}?", key=key, action=_revoke_path(key_id),
                  back="/console/me/keys", own=key.key_id == session.credential)


@router.post("/me/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: str, posted: CustomerForm) -> Response:
    accounts = accounts_of(request)
    await load_key(accounts, key_id, posted.session.subject)
    try:
        await run_in_threadpool(accounts.revoke_key, key_id, actor_of(posted.session))
    except AccountError as exc:
        raise ConsoleError(409 if exc.kind == "conflict" else 404, exc.message) from None
    await gateway_of(request).follow_accounts()
    if key_id == posted.session.credential:  # the key this session was opened with: the session ends
        raise SeeOther("/console/login?done=ended")
    raise SeeOther("/console/me/keys?done=revoked")

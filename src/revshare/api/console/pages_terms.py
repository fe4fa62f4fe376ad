"""Licence terms in the console (docs/LICENSING.md): a customer reads the terms that bind the models
it may call (licence, version, attribution, notice, use policy) and accepts the version in force;
the operator sees the terms, the acceptances and the suspensions of model access, newest first.

    GET  /console/me/terms                       customer: its terms and where it stands
    POST /console/me/terms/{terms_id}/accept     customer: accept (actor key:<key id>, via console)
    GET  /console/terms                          operator: terms, this month's active users (exact),
                                                 acceptances, suspensions
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.accounts.acceptances import Acceptance, acceptances_of
from revshare.accounts.errors import AccountError
from revshare.accounts.store import Actor
from revshare.accounts.suspensions import Suspension, active_suspensions, suspensions_of
from revshare.accounts.terms import accept, acceptances, standings
from revshare.accounts.users import monthly_users
from revshare.api.auth import gateway_of
from revshare.api.console.guards import CustomerForm, CustomerPage, OperatorPage, accounts_of
from revshare.api.console.web import ConsoleError, ConsoleRoute, SeeOther, nav_item, render
from revshare.instants import format_instant, utc_now

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Terms", "/console/me/terms", "customer", order=25)
nav_item("Terms", "/console/terms", "operator", order=35)

SHOWN = 200  # the operator's page shows the latest this many acceptances and suspensions
DONE = {"accepted": "Accepted: your keys may call the models these terms bind.",
        "already": "You had already accepted this version."}


@router.get("/me/terms")
async def my_terms(request: Request, session: CustomerPage, done: str = "") -> Response:
    gateway = gateway_of(request)
    customer = gateway.directory.customer(session.subject)
    if customer is None:
        raise ConsoleError(403, f"the customer {session.subject!r} is unknown or suspended")
    accounts = accounts_of(request)
    history = await run_in_threadpool(lambda: acceptances(accounts, customer=session.subject))
    rows = standings(gateway.catalog, customer, history, utc_now())
    texts = {s.terms.id: gateway.catalog.licence_texts(s.terms.id) for s in rows}
    suspended = {model: reason for (who, model), reason in gateway.directory.suspended_models.items()
                 if who == session.subject}
    return render(request, "terms.html", title="Licence terms", role="customer", rows=rows, texts=texts,
                  suspended=suspended, notice=DONE.get(done, ""))


@router.post("/me/terms/{terms_id}/accept")
async def accept_terms(request: Request, terms_id: str, posted: CustomerForm) -> Response:
    session = posted.session
    gateway = gateway_of(request)
    accounts = accounts_of(request)
    actor = Actor(f"key:{session.credential}", "console")
    try:
        _, recorded = await run_in_threadpool(accept, accounts, gateway.catalog, session.subject, terms_id,
                                              posted.get("version"), actor)
    except AccountError as exc:
        raise ConsoleError(409 if exc.kind == "conflict" else 404 if exc.kind == "not_found" else 400,
                           exc.message) from None
    await gateway.follow_accounts()
    raise SeeOther("/console/me/terms?done=" + ("accepted" if recorded else "already"))


@router.get("/terms")
async def operator_terms(request: Request, _: OperatorPage) -> Response:
    gateway = gateway_of(request)
    accounts = accounts_of(request)

    def latest() -> tuple[list[Acceptance], list[Suspension], set[int]]:
        with accounts.engine.connect() as conn:
            made = acceptances_of(conn, limit=1_000_000)[-SHOWN:]
            suspended = suspensions_of(conn, limit=1_000_000)[-SHOWN:]
            active = {s.seq for s in active_suspensions(conn).values()}
        return list(reversed(made)), list(reversed(suspended)), active

    made, suspended, active = await run_in_threadpool(latest)
    catalog = gateway.catalog
    users = await run_in_threadpool(monthly_users, gateway.ledger.engine, catalog, format_instant(utc_now())[:7])
    licences = [(t, catalog.models_under(t.id)) for t in catalog.licences]
    return render(request, "terms.html", title="Licence terms", role="operator", licences=licences,
                  acceptances=made, suspensions=suspended, active=active, shown=SHOWN, users=users)

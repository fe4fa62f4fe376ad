"""Who may see a console page and send its forms, as FastAPI dependencies.

    OperatorPage, CustomerPage, LicensorPage   a GET of that role's page: no session -> 303 to
                                               the login page; another role's session -> 403
    OperatorForm, CustomerForm, AnyForm        a POST: no session -> 403, no or a wrong `csrf`
                                               field -> 403, another role's session -> 403; the
                                               form's fields come with the session (`Posted`)

Checks run in that order, and before the route does anything, so a refused POST changes nothing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from revshare.accounts.store import Accounts, Actor
from revshare.api.auth import gateway_of
from revshare.api.console.session import Role, Session, sessions_of, still_valid
from revshare.api.console.web import ConsoleError, SeeOther

__all__ = ["AnyForm", "AnyPage", "CustomerForm", "CustomerPage", "LicensorPage", "OperatorForm", "OperatorPage",
           "Posted", "accounts_of", "actor_of", "current_session"]

MAX_FIELDS = 64
_WHOSE = {"operator": "the operator's", "customer": "a customer's", "licensor": "a licensor's"}


async def current_session(request: Request) -> Session | None:
    """The request's live session (signed, unexpired, not logged out, its credential still good)."""
    sessions = sessions_of(request)
    session = sessions.read(request)
    if session is None or not await still_valid(gateway_of(request), sessions.sealer, session):
        return None
    request.state.console_session = session
    return session


def _role(session: Session, role: Role | None) -> None:
    if role is not None and session.role != role:
        raise ConsoleError(403, f"this is {_WHOSE[role]} page; you are logged in as {session.role} {session.subject!r}")


async def _page(request: Request, role: Role | None) -> Session:
    session = await current_session(request)
    if session is None:
        raise SeeOther("/console/login")
    _role(session, role)
    return session


@dataclass(frozen=True, slots=True)
class Posted:
    """A form sent with a valid CSRF token by a session of the right role."""

    session: Session
    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded body's fields (the first of a repeated name; none for an empty body), or a
    400/415 page."""
    body = await request.body()
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if body and kind != "application/x-www-form-urlencoded":
        raise ConsoleError(415, "console forms are sent as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError:  # bad UTF-8 or percent-encoding, or too many fields
        raise ConsoleError(400, "this form could not be read; reload the page and try again") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def _posted(request: Request, role: Role | None) -> Posted:
    session = await current_session(request)
    if session is None:
        raise ConsoleError(403, "you are not logged in (or your session has ended): log in again", login=True)
    fields = await form_fields(request)
    expected = sessions_of(request).sealer.csrf(session)
    if not hmac.compare_digest(fields.get("csrf", "").encode(), expected.encode()):
        raise ConsoleError(403, "this form has no valid CSRF token (it was not sent from this console, or from an "
                                "older session); reload the page and send it again")
    _role(session, role)
    return Posted(session, fields)


async def _operator_page(request: Request) -> Session:
    return await _page(request, "operator")


async def _customer_page(request: Request) -> Session:
    return await _page(request, "customer")


async def _licensor_page(request: Request) -> Session:
    return await _page(request, "licensor")


async def _any_page(request: Request) -> Session:
    return await _page(request, None)


async def _operator_form(request: Request) -> Posted:
    return await _posted(request, "operator")


async def _customer_form(request: Request) -> Posted:
    return await _posted(request, "customer")


async def _any_form(request: Request) -> Posted:
    return await _posted(request, None)


OperatorPage = Annotated[Session, Depends(_operator_page)]
CustomerPage = Annotated[Session, Depends(_customer_page)]
LicensorPage = Annotated[Session, Depends(_licensor_page)]
AnyPage = Annotated[Session, Depends(_any_page)]
OperatorForm = Annotated[Posted, Depends(_operator_form)]
CustomerForm = Annotated[Posted, Depends(_customer_form)]
AnyForm = Annotated[Posted, Depends(_any_form)]


def accounts_of(request: Request) -> Accounts:
    accounts = gateway_of(request).accounts
    if accounts is None:
        raise ConsoleError(503, "accounts are not available on this gateway")
    return accounts


def actor_of(session: Session) -> Actor:
    """Who the audit trail names: `admin (<name given at login>)` via console, or the customer's key."""
    if session.role == "operator":
        return Actor(f"admin ({session.who})" if session.who else "admin", "console")
    return Actor(f"{session.role} ({session.credential})", "console")

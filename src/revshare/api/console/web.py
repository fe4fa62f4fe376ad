"""What every console page shares: the templates, the navigation, and how a page or a refusal is
answered (HTML, never the API's JSON errors).

    render(request, "keys.html", title=..., **context)   -> HTMLResponse (status= for 400, 403...)
    raise ConsoleError(403, "...")                          -> the error page with that status
    raise SeeOther("/console/login")                        -> 303 to that console path
    nav_item("Usage", "/console/usage", "operator", order=5)   a page adds itself to the menu

Templates are Jinja2 with autoescape on for every file, so text a user typed (a label, a
description, an actor) is printed escaped. Every page is `no-store` (one shows a key's secret)
and under a strict Content-Security-Policy: styles and scripts from /console/static only.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined

from revshare.api.console.session import Role, Session, sessions_of
from revshare.instants import as_utc, format_instant

__all__ = ["ConsoleError", "ConsoleRoute", "NavItem", "SeeOther", "nav_item", "render", "templates"]

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class ConsoleError(Exception):
    """A refusal shown as a page: 403 (not this role's page, no CSRF token), 404, 409, 503."""

    def __init__(self, status: int, message: str, *, login: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.login = login  # offer the login page (no session, or it ended)


class SeeOther(Exception):
    """Answer 303 to another console page (after a change, or to the login page)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    path: str
    role: Role
    order: int


_NAV: list[NavItem] = []


def nav_item(label: str, path: str, role: Role, order: int = 50) -> None:
    """Put a page in its role's menu (pages call this when their module is imported)."""
    if not any(item.path == path and item.role == role for item in _NAV):
        _NAV.append(NavItem(label, path, role, order))
        _NAV.sort(key=lambda item: (item.role, item.order, item.label))


def _utc(value: datetime | None) -> str:
    return "" if value is None else as_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def _iso(value: datetime | None) -> str:
    return "" if value is None else format_instant(value, "seconds")


def _amount(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _sentence(text: str) -> str:
    """A message as a sentence: a capital first letter and a full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?", ")")) else ".")


def _q(value: object) -> str:
    """A path segment or query value, percent-encoded ("/" too)."""
    return quote(str(value), safe="")


templates = Environment(loader=PackageLoader("revshare.api.console", "templates"), autoescape=True,
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
templates.filters.update(utc=_utc, iso=_iso, amount=_amount, q=_q,
                        sentence=_sentence)


def render(request: Request, template: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page: the template with the session's menu, its CSRF token and the current path."""
    session: Session | None = getattr(request.state, "console_session", None)
    csrf = sessions_of(request).sealer.csrf(session) if session is not None else ""
    nav = [item for item in _NAV if session is not None and item.role == session.role]
    path = request.url.path
    current = max((item.path for item in nav if path == item.path or path.startswith(item.path + "/")), key=len,
                  default="")
    html = templates.get_template(template).render(
        request_path=path, current_nav=current, session=session, csrf=csrf, nav=nav, title=title, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, exc: ConsoleError) -> HTMLResponse:
    return render(request, "error.html", title=f"{exc.status}", status=exc.status, status_code=exc.status,
                  message=exc.message, login=exc.login)


class ConsoleRoute(APIRoute):
    """A console route: its refusals and bad query parameters become pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ConsoleError as exc:
                return error_page(request, exc)
            except SeeOther as exc:
                return RedirectResponse(exc.location, status_code=303, headers={"Cache-Control": "no-store"})
            except RequestValidationError as exc:
                where = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors())
                return error_page(request, ConsoleError(400, f"this address is not valid ({where or 'the request'})"))

        return route

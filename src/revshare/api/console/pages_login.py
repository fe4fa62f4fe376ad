"""Logging in and out, the console's front door, its static files and its 404 page.

    GET  /console/               the role's first page, or the login page
    GET  /console/login          the form (and a login cookie whose MAC is the form's CSRF token)
    POST /console/login          token -> a session cookie, or the form again with a message (401)
    POST /console/logout         ends the session (CSRF-checked like every form)
    GET  /console/static/{name}  console.css, console.js (files of static/, by a plain name)
    GET  /console/static/vendor/{name}   a vendored library (uPlot) and its licence
"""

from __future__ import annotations

import hmac
import re
import secrets
from importlib import resources

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from revshare.api.auth import gateway_of
from revshare.api.console.guards import AnyForm, current_session, form_fields
from revshare.api.console.session import (
    COOKIE,
    LIFETIME_S,
    LOGIN_COOKIE,
    WHO_MAX,
    Role,
    clear_cookie,
    identify,
    sessions_of,
    set_cookie,
)
from revshare.api.console.web import ConsoleError, ConsoleRoute, SeeOther, render

__all__ = ["HOME", "fallback", "router"]

router = APIRouter(route_class=ConsoleRoute)
fallback = APIRouter(route_class=ConsoleRoute)  # included last: the console's own 404

HOME: dict[Role, str] = {"operator": "/console/overview", "customer": "/console/me", "licensor": "/console/licensor"}
_STATIC = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".png": "image/png",
           ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}  # .txt: a vendored library's licence
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*\.[a-z]+$")  # console.css, uplot.min.js; never ".."
_VENDOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.[a-z]+$")  # uPlot.iife.min.js
_NOTICES = {"out": "You are logged out.", "ended": "Your session has ended; log in again."}


@router.get("/")
async def index(request: Request) -> Response:
    session = await current_session(request)
    raise SeeOther(HOME[session.role] if session is not None else "/console/login")


def _login_page(request: Request, nonce: str, *, status: int = 200, errors: dict[str, str] | None = None,
                who: str = "", notice: str = "") -> HTMLResponse:
    response = render(request, "login.html", title="Log in", status=status, errors=errors or {}, who=who,
                      notice=notice, login_csrf=sessions_of(request).sealer.login_csrf(nonce))
    set_cookie(request, response, LOGIN_COOKIE, nonce, LIFETIME_S)
    return response


@router.get("/login")
async def login_form(request: Request, done: str = "") -> Response:
    session = await current_session(request)
    if session is not None:
        raise SeeOther(HOME[session.role])
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    return _login_page(request, nonce, notice=_NOTICES.get(done, ""))


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await form_fields(request)
    sessions = sessions_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = sessions.sealer.login_csrf(nonce)
    if not nonce or not hmac.compare_digest(fields.get("csrf", "").encode(), expected.encode()):
        raise ConsoleError(403, "this login form has no valid CSRF token (it was not sent from this console, or "
                                "your browser refuses cookies); reload the login page and try again")
    token, who = fields.get("token", "").strip(), fields.get("who", "").strip()
    if len(who) > WHO_MAX or not who.isprintable():
        return _login_page(request, nonce, status=400, who=who,
                           errors={"who": f"at most {WHO_MAX} printable characters"})
    if not token:
        return _login_page(request, nonce, status=400, who=who, errors={"token": "paste a token or an API key"})
    found = await identify(gateway_of(request), sessions.sealer, token)
    if found is None:
        return _login_page(request, nonce, status=401, who=who, errors={
            "token": "this is not the admin token, a live API key or a live licensor token of this gateway"})
    role, subject, credential = found
    session = sessions.new(role, subject, credential, who if role == "operator" else "")
    response = Response(status_code=303, headers={"Location": HOME[role], "Cache-Control": "no-store"})
    set_cookie(request, response, COOKIE, sessions.sealer.seal(session), LIFETIME_S)
    clear_cookie(request, response, LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, posted: AnyForm) -> Response:
    sessions_of(request).end(posted.session)
    response = Response(status_code=303, headers={"Location": "/console/login?done=out", "Cache-Control": "no-store"})
    clear_cookie(request, response, COOKIE)
    return response


@router.get("/static/{name}")
async def static(name: str) -> Response:
    return _static_file(name, _NAME)


@router.get("/static/vendor/{name}")
async def vendored(name: str) -> Response:
    return _static_file(name, _VENDOR_NAME, "vendor")


def _static_file(name: str, pattern: re.Pattern[str], *folder: str) -> Response:
    suffix = name[name.rfind("."):] if "." in name else ""
    if not pattern.match(name) or suffix not in _STATIC:
        raise ConsoleError(404, "no such file")
    path = resources.files("revshare.api.console").joinpath("static", *folder, name)
    if not path.is_file():
        raise ConsoleError(404, "no such file")
    return Response(path.read_bytes(), media_type=_STATIC[suffix],
                    headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})


@fallback.api_route("/{rest:path}", methods=["GET", "POST"])
async def not_found(request: Request, rest: str) -> Response:
    await current_session(request)  # the page keeps its menu when logged in
    raise ConsoleError(404, "there is no such console page")

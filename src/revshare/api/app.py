"""The ASGI application: wiring of routes, error handlers, limits and the gateway's lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from revshare import __version__
from revshare.accounts.live_users import LiveEndUsers
from revshare.api import (
    admin,
    console,
    documents_routes,
    embeddings_routes,
    health_routes,
    log_routes,
    openai_routes,
    responses_routes,
    usage_routes,
)
from revshare.api.edge import Edge
from revshare.api.end_users import EndUsers
from revshare.api.errors import install_error_handlers
from revshare.api.fast_lane import FastLane
from revshare.api.log_admin_routes import router as log_admin_router
from revshare.api.metrics_routes import router as metrics_router
from revshare.api.openapi import finish_openapi
from revshare.api.terms_routes import router as terms_router
from revshare.api.tiles_routes import router as tiles_router
from revshare.config import Catalog
from revshare.engines.base import Engine
from revshare.ledger.store import Ledger
from revshare.logstore.service import LogService
from revshare.metrics import Metrics
from revshare.serving.gateway import Gateway, open_gateway

__all__ = ["GatewayApp", "create_app"]


class GatewayApp(FastAPI):
    """FastAPI, entered through revshare's own edge: every HTTP request meets `api.edge.Edge`
    first, then the hot lane (`api.fast_lane.FastLane`), and only what the lane hands on goes
    through FastAPI's middleware stack to its routes.

    Why: FastAPI's entry (its telemetry check, Starlette's call, three middlewares and their
    wrappers around `send`) cost about 5% of the gateway's CPU a request on the hot routes,
    which use none of it (docs/BENCHMARKS.md). Starlette's catch-all (`ServerErrorMiddleware`)
    is left out of the stack: `Edge` is the last answer to a bug, and answers it on a connection
    kept alive, where the catch-all would re-raise and the server reset it. FastAPI's native
    OpenTelemetry instrumentation does not run; revshare's own series (api/edge.py) count every
    request."""

    _entry: ASGIApp | None = None
    # What the lifespan started, for the routes (`api.auth.gateway_of` and its kin). Plain
    # attributes: a read of Starlette's `app.state.x` raises and catches an AttributeError first
    # (State answers from `__getattr__`), four times a request on the hot routes.
    gateway: Gateway | None = None
    tlog: LogService | None = None
    end_users: EndUsers | None = None

    def enter_through(self, entry: ASGIApp) -> None:
        """Let every HTTP request in through `entry`, built around `self.routes_app`."""
        self._entry = entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._entry
        if entry is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)  # the lifespan, and an app not wired yet
            return
        if self.root_path:
            scope["root_path"] = self.root_path
        scope["app"] = self  # as Starlette's own call sets it: `Request.app` reads it
        await entry(scope, receive, send)

    async def routes_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's middleware stack and routes, without the telemetry and catch-all around them."""
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack.app if isinstance(stack, ServerErrorMiddleware) else stack


def create_app(catalog: Catalog, *, admin_token: str, ledger: Ledger | None = None,
               engines: dict[str, Engine] | None = None) -> GatewayApp:
    """Build the gateway for a catalog. Engines load and the ledger migrates at startup."""
    ledger = ledger or Ledger(catalog.database_url(), synchronous=catalog.server.sqlite_synchronous)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with open_gateway(catalog, ledger, engines, admin_token, metrics) as gateway:
            app.gateway = gateway
            app.tlog = tlog = LogService.start(catalog, ledger, metrics)
            app.end_users = end_users = EndUsers(tlog.identity.secret, LiveEndUsers(catalog))
            end_users.register(metrics)
            # What startup built (the app, the catalog, engines, templates) lives as long as the
            # process: moved out of the collector's reach, CPython's full collections no longer walk
            # it again and again, which made the p99 tail (13-107 ms pauses; docs/BENCHMARKS.md).
            gc.freeze()
            try:
                yield
            finally:
                await tlog.stop()

    app = GatewayApp(
        title="revshare gateway",
        version=__version__,
        description="OpenAI-compatible gateway that meters every request exactly once.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(openai_routes.router)
    app.include_router(embeddings_routes.router)
    app.include_router(responses_routes.router)
    app.include_router(admin.router)
    app.include_router(usage_routes.admin_router)
    app.include_router(log_admin_router)
    app.include_router(usage_routes.customer_router)
    app.include_router(documents_routes.admin_router)
    app.include_router(documents_routes.customer_router)
    app.include_router(documents_routes.licensor_router)
    app.include_router(terms_router)
    app.include_router(log_routes.router)
    app.include_router(tiles_router)
    app.include_router(metrics_router)
    app.include_router(health_routes.router)
    app.include_router(console.router)

    plain_openapi = app.openapi
    metrics_token = catalog.server.metrics_token_env is not None

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_openapi(plain_openapi(), metrics_token=metrics_token)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # The one layer of ours around everything (body size, series and access log, a bug's 500 on
    # a kept connection), then the hot routes' own lane (api/fast_lane.py), then FastAPI.
    app.enter_through(Edge(FastLane(app.routes_app, fastapi=app), metrics=metrics,
                           max_body_bytes=catalog.server.max_body_bytes, access_log=catalog.server.access_log))
    return app

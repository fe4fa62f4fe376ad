"""The ASGI application: wiring of routes, error handlers, limits and the gateway's lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

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
from revshare.serving.gateway import open_gateway

__all__ = ["create_app"]

def create_app(catalog: Catalog, *, admin_token: str, ledger: Ledger | None = None,
               engines: dict[str, Engine] | None = None) -> FastAPI:
    """Build the gateway for a catalog. Engines load and the ledger migrates at startup."""
    ledger = ledger or Ledger(catalog.database_url(), synchronous=catalog.server.sqlite_synchronous)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_gateway(catalog, ledger, engines, admin_token, metrics) as gateway:
            app.state.gateway = gateway
            app.state.tlog = LogService.start(catalog, ledger, metrics)
            app.state.end_users = EndUsers(app.state.tlog.identity.secret, LiveEndUsers(catalog))
            app.state.end_users.register(metrics)
            # What startup built (the app, the catalog, engines, templates) lives as long as the
            # process: moved out of the collector's reach, CPython's full collections no longer walk
            # it again and again, which made the p99 tail (13-107 ms pauses; docs/BENCHMARKS.md).
            gc.freeze()
            try:
                yield
            finally:
                await app.state.tlog.stop()

    app = FastAPI(
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
    # The hot routes' own lane inside the edge (api/fast_lane.py); then the one layer of ours
    # around everything: body size, series and access log, a bug's 500 on a kept connection.
    app.add_middleware(FastLane, fastapi=app)
    app.add_middleware(Edge, metrics=metrics, max_body_bytes=catalog.server.max_body_bytes,
                       access_log=catalog.server.access_log)
    return app

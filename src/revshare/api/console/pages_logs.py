"""The operator's Logs page: per verifiable log its size, its newest checkpoint and how old it
is, the records waiting, and the last audit's result (the same figures as `GET /admin/logs`).

    GET /console/logs
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of, log_service_of
from revshare.api.console.guards import OperatorPage
from revshare.api.console.web import ConsoleError, ConsoleRoute, nav_item, render
from revshare.api.log_admin_routes import logs_overview

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Logs", "/console/logs", "operator", order=35)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@router.get("/logs")
async def logs(request: Request, _: OperatorPage) -> Response:
    service = log_service_of(request)
    if service is None:
        raise ConsoleError(503, "the verifiable logs are not running on this gateway")
    overview = await run_in_threadpool(logs_overview, service)
    interval = gateway_of(request).catalog.log.interval_s
    return render(request, "logs.html", title="Logs", overview=overview, interval=interval,
                  ages={row["log_id"]: _age(row["checkpoint_age_s"]) for row in overview["data"]},
                  stale={row["log_id"] for row in overview["data"]
                         if row["pending"] and (row["checkpoint_age_s"] or 0) > 5 * interval})

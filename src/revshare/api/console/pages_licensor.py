"""A licensor's page: its log (one per licensor, named by its id), the newest signed checkpoint's
size, and how to fetch and verify it. Its statements will be listed here later.

    GET /console/licensor
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.console.guards import LicensorPage
from revshare.api.console.web import ConsoleRoute, nav_item, render
from revshare.logstore.service import LogService
from revshare.logstore.tree_store import LogReadError

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Log", "/console/licensor", "licensor", order=10)


@router.get("/licensor")
async def licensor(request: Request, session: LicensorPage) -> Response:
    log_id = session.subject
    service: LogService | None = getattr(request.app.state, "tlog", None)
    size: int | None = None
    checkpoint = ""
    if service is not None:
        try:
            checkpoint = await run_in_threadpool(service.reader.latest_checkpoint, log_id)
            size = int(checkpoint.split("\n", 2)[1])
        except (LogReadError, IndexError, ValueError):
            checkpoint = ""
    gateway = str(request.base_url).rstrip("/")
    return render(request, "licensor.html", title=f"Log of {log_id}", log_ids=[log_id], size=size,
                  checkpoint=checkpoint, gateway=gateway)

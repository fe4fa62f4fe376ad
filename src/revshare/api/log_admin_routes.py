"""The operator's view of the verifiable logs: per log its size, its newest signed checkpoint
and how old it is, the records waiting to go into it, and whether the last integration (which
audits each log: the stored tree against its leaves and its checkpoints) passed.

    GET /admin/logs        (the console's Logs page shows the same, `logs_overview`)

Read from the log service's state, refreshed every `log.interval_s`, and one read of the logs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import log_service_of, require_admin
from revshare.api.errors import ApiError, error_responses
from revshare.api.limits import single_query_values
from revshare.api.openapi import ADMIN, SCHEMAS, ok_response
from revshare.instants import format_instant
from revshare.logstore.service import LogService
from revshare.logstore.tree_store import LogReadError

__all__ = ["logs_overview", "router"]

_INT = {"type": "integer", "minimum": 0}
SCHEMAS["Logs"] = {
    "type": "object", "additionalProperties": False, "required": ["object", "integrated_seq", "last_error", "data"],
    "properties": {
        "object": {"const": "logs"}, "integrated_seq": _INT,
        "last_error": {"type": ["string", "null"],
                       "description": "why the last integration (which audits every log) failed; null: it passed"},
        "data": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["log_id", "origin", "size", "checkpoint_size", "checkpoint_signed_at", "checkpoint_age_s",
                         "pending", "audit"],
            "properties": {
                "log_id": {"type": "string"}, "origin": {"type": "string"}, "size": _INT,
                "checkpoint_size": {"type": ["integer", "null"]},
                "checkpoint_signed_at": {"type": ["string", "null"], "format": "date-time"},
                "checkpoint_age_s": {"type": ["number", "null"]}, "pending": _INT,
                "audit": {"type": "string", "enum": ["ok", "failed"]}}}}}}

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin), Depends(single_query_values)],
                   tags=["admin"])


def logs_overview(service: LogService) -> dict[str, Any]:
    """Every log, by id: size, newest checkpoint (size, when signed, age in seconds), pending
    records and the audit result (`failed` for the logs the last integration's error names, or
    all when it names none)."""
    reader = service.reader
    logs = reader.logs()
    state = service.state
    error = service.last_error
    now = time.time()
    data = []
    for info in logs:
        signed = state.signed_at.get(info.log_id)
        failed = error is not None and (info.log_id in error or not any(x.log_id in error for x in logs))
        try:
            newest: int | None = int(reader.latest_checkpoint(info.log_id).split("\n", 2)[1])
        except (LogReadError, IndexError, ValueError):
            newest = None
        data.append({
            "log_id": info.log_id, "origin": info.origin, "size": info.size,
            "checkpoint_size": newest,
            "checkpoint_signed_at": None if signed is None else format_instant(datetime.fromtimestamp(signed, UTC),
                                                                               "seconds"),
            "checkpoint_age_s": round(max(0.0, now - signed), 3) if signed is not None else None,
            "pending": state.pending.get(info.log_id, 0), "audit": "failed" if failed else "ok"})
    return {"object": "logs", "integrated_seq": reader.integrated_seq(), "last_error": error, "data": data}


@router.get("/logs", summary="The verifiable logs: sizes, checkpoint ages, audit results", operation_id="listLogs",
            response_model=None, openapi_extra=ADMIN,
            responses={**ok_response("Logs", description="Every log, by id"), **error_responses(401, 503)})
async def logs(request: Request) -> dict[str, Any]:
    service = log_service_of(request)
    if service is None:
        raise ApiError(503, "the verifiable logs are not running on this gateway", code="logs_unavailable")
    return await run_in_threadpool(logs_overview, service)

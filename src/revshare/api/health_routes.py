"""Probes: liveness and readiness, unauthenticated.

    GET /healthz   liveness: 200 while the process serves (the ledger's state and backlog in the body)
    GET /readyz    readiness: 200 when every check passes, else 503 naming each failing one

Readiness checks, each "ok" or a short reason:

    ledger         the group-commit writer can write (its health flag: what fail-closed uses);
                   with `server.fail_open` a ledger that cannot be written is reported, not failed,
                   since the gateway serves anyway by design
    engine:<id>    the engine's `ready()`: an embedded model is loaded; an upstream answers
                   GET /models (1 s timeout, answer kept a few seconds)
    log            no record waits for the logs, or they were signed within 5 intervals
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from revshare import __version__
from revshare.api.auth import gateway_of, log_service_of
from revshare.api.openapi import PUBLIC, ok_response
from revshare.engines.base import Engine

__all__ = ["Readiness", "router"]

router = APIRouter(tags=["health"])

OK = "ok"
# An engine's own probe is bounded (1 s for upstreams); this bounds a misbehaving one.
ENGINE_PROBE_TIMEOUT_S = 3.0


class Readiness(BaseModel):
    """The answer of GET /readyz: each check's state, "ok" or why not."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


@router.get("/healthz", summary="Liveness", operation_id="healthz", response_model=None, openapi_extra=PUBLIC,
            responses=ok_response("Health", description="The process serves"))
async def healthz(request: Request) -> dict[str, Any]:
    gateway = gateway_of(request)
    return {"status": "ok", "version": __version__, "models": [m.id for m in gateway.catalog.models],
            "records_appended": gateway.writer.appended,
            "ledger": "ok" if gateway.writer.healthy else "unavailable", "ledger_backlog": gateway.writer.backlog}


@router.get("/readyz", summary="Readiness", operation_id="readyz", response_model=Readiness, openapi_extra=PUBLIC,
            responses={503: {"model": Readiness, "description": "Not ready: each failing check with its reason"}})
async def readyz(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    checks: dict[str, str] = {}
    failing: set[str] = set()
    if not gateway.writer.healthy:
        if gateway.catalog.server.fail_open:
            checks["ledger"] = "degraded: the ledger cannot be written; serving anyway (server.fail_open)"
        else:
            checks["ledger"] = "the ledger cannot be written (fail closed: completions get 503)"
            failing.add("ledger")
    else:
        checks["ledger"] = OK
    engines = sorted(gateway.engines.items())
    answers = await asyncio.gather(*(_engine_ready(engine) for _, engine in engines))
    for (engine_id, _), answer in zip(engines, answers, strict=True):
        name = f"engine:{engine_id}"
        checks[name] = answer or OK
        if answer is not None:
            failing.add(name)
    service = log_service_of(request)
    log_reason = service.ready() if service is not None else "the log service is not running"
    checks["log"] = log_reason or OK
    if log_reason is not None:
        failing.add("log")
    body = Readiness(status="not_ready" if failing else "ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=503 if failing else 200)


async def _engine_ready(engine: Engine) -> str | None:
    try:
        return await asyncio.wait_for(engine.ready(), ENGINE_PROBE_TIMEOUT_S)
    except TimeoutError:
        return f"no answer to the readiness probe within {ENGINE_PROBE_TIMEOUT_S:g} s"
    except Exception as exc:  # a probe that fails is a failing check, never a 500
        return f"the readiness probe failed: {exc.__class__.__name__}"

"""`GET /metrics`: the gateway's series in Prometheus text format (docs/OPERATIONS.md lists them).

Unauthenticated by default, as vLLM's is: the series carry no customer, key or record id, only
counts by model, route, outcome, kind and log. Set `server.metrics_token_env` to the name of an
environment variable holding a token to require `Authorization: Bearer <token>` instead (a
scrape without it gets 401, and every scrape does while the variable is unset or empty).

Several processes serving one port (gunicorn, `uvicorn --workers`): set the environment variable
`PROMETHEUS_MULTIPROC_DIR` to an empty directory shared by the workers before they start, and
each scrape answers the sum over every worker's counters and histograms (prometheus-client's
`MultiProcessCollector`); each worker adds its counts to the shared files every second, so a
scrape sees the other workers' counts at most a second late. The gauges read at scrape time
(ledger backlog, intents outstanding, engine queue depth, the logs' state) then describe the
process that answered only.
"""

from __future__ import annotations

import hmac
import os

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from revshare.api.auth import bearer, gateway_of
from revshare.api.errors import ApiError, error_responses
from revshare.metrics import Metrics
from revshare.metrics.series import MULTIPROC_ENV

__all__ = ["router"]

router = APIRouter()

def _registry(metrics: Metrics) -> CollectorRegistry:
    if not any(os.environ.get(name) for name in MULTIPROC_ENV):
        return metrics.registry  # collecting it folds this process's tallies first
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics.fold()  # this process's latest counts into its file; the others fold every second

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(metrics.state)  # this process's state gauges: they are not in the shared files
    return registry


@router.get("/metrics", summary="Prometheus metrics (text format)", response_class=Response,
            responses={200: {"description": "The series in Prometheus text format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       **error_responses(401)})
async def metrics(request: Request) -> Response:
    gateway = gateway_of(request)
    token_env = gateway.catalog.server.metrics_token_env
    if token_env is not None:
        expected = os.environ.get(token_env) or ""
        token = bearer(request)
        if not expected or token is None or not hmac.compare_digest(token.encode(), expected.encode()):
            raise ApiError(401, "a metrics token is required: send 'Authorization: Bearer <token>'",
                           code="invalid_metrics_token")
    # Off the event loop: a scrape-time reader may query the database.
    body = await run_sync(generate_latest, _registry(gateway.metrics))
    return Response(body, media_type=CONTENT_TYPE_LATEST)

"""Usage over time and invoice figures, from the rollups: the operator's view (`GET /admin/usage`,
`/admin/billing`, any customer) and a customer's own (`GET /v1/me/usage`, `/v1/me/billing`).
Times are UTC; `as_of_seq` says which records the figures hold (every record up to that seq)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of, require_admin, require_customer
from revshare.api.errors import ApiError, error_responses
from revshare.api.limits import single_query_values
from revshare.api.openapi import ADMIN, CUSTOMER, SCHEMAS, ok_response
from revshare.api.protocol import INT64_MAX
from revshare.instants import format_instant, parse_instant
from revshare.ledger.store import ApiKey
from revshare.reporting.invoices import invoice_figures
from revshare.reporting.months import Period
from revshare.reporting.query import Granularity, GroupBy, Usage, usage
from revshare.reporting.records_page import RecordFilter, records_page

__all__ = ["admin_router", "customer_router"]

admin_router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin), Depends(single_query_values)],
                         tags=["admin"])
customer_router = APIRouter(prefix="/v1/me", dependencies=[Depends(single_query_values)])

# The longest range one answer covers, per granularity (points: 31 x 24 hours, or 10 years of days).
MOST_DAYS: dict[str, int] = {"hour": 31, "day": 3660}

Instant = Annotated[str | None, Query(min_length=10, max_length=40, description=(
    "ISO 8601 date or instant, UTC unless it says otherwise; a date is its midnight UTC"))]
GranularityQuery = Annotated[Literal["hour", "day"], Query()]
GroupByQuery = Annotated[Literal["model", "customer", "key", "outcome"] | None, Query()]
_OK = ok_response("UsageReport", description="Totals per period (and group and currency), oldest first; UTC")


def _range(start: str | None, end: str | None, granularity: str) -> tuple[datetime, datetime]:
    """[start, end) aligned down to whole hours or days; default the last 30 days (7 for hours)."""
    def read(text: str, name: str) -> datetime:
        try:
            return parse_instant(text)
        except ValueError:
            raise ApiError(400, f"{name} must be an ISO 8601 date or instant, e.g. 2026-11-01", param=name) from None

    now = datetime.now(UTC)
    until = read(end, "end") if end else now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    since = read(start, "start") if start else until - timedelta(days=7 if granularity == "hour" else 30)
    if until <= since:
        raise ApiError(400, "end must be after start", param="end")
    if until - since > timedelta(days=MOST_DAYS[granularity]):
        raise ApiError(400, f"a range of {granularity}s covers at most {MOST_DAYS[granularity]} days", param="end")
    return since, until


async def _answer(request: Request, start: str | None, end: str | None, granularity: Granularity,
                  group_by: GroupBy | None, customer: str | None) -> dict[str, Any]:
    since, until = _range(start, end, granularity)
    ledger = gateway_of(request).ledger
    result: Usage = await run_in_threadpool(lambda: usage(ledger, start=since, end=until, granularity=granularity,
                                                          group_by=group_by, customer=customer))
    return {
        "object": "usage", "granularity": granularity, "group_by": group_by, "timezone": "UTC",
        "start": format_instant(since), "end": format_instant(until), "as_of_seq": result.folded_seq,
        "data": [{"period_start": format_instant(row.period_start), "group": row.group, "currency": row.currency,
                  "requests": row.totals.requests, "prompt_tokens": row.totals.prompt_tokens,
                  "completion_tokens": row.totals.completion_tokens, "cached_tokens": row.totals.cached_tokens,
                  "amount": str(row.totals.amount)} for row in result.rows],
    }


@admin_router.get("/usage", summary="Usage per hour or day, by model, customer, key or outcome",
                  operation_id="getUsage", response_model=None, openapi_extra=ADMIN,
                  responses={**_OK, **error_responses(400, 401)})
async def admin_usage(request: Request, start: Instant = None, end: Instant = None,
                      granularity: GranularityQuery = "day", group_by: GroupByQuery = None,
                      customer: Annotated[str | None, Query(min_length=1, max_length=128)] = None) -> dict[str, Any]:
    return await _answer(request, start, end, granularity, group_by, customer)


@customer_router.get("/usage", summary="This key's customer's usage per hour or day", operation_id="getMyUsage",
                     response_model=None, openapi_extra=CUSTOMER, responses={**_OK, **error_responses(400, 401, 403)})
async def my_usage(request: Request, key: Annotated[ApiKey, Depends(require_customer)], start: Instant = None,
                   end: Instant = None, granularity: GranularityQuery = "day",
                   group_by: GroupByQuery = None) -> dict[str, Any]:
    if group_by == "customer":
        raise ApiError(400, "a customer sees only its own usage: group by model, key or outcome", param="group_by")
    return await _answer(request, start, end, granularity, group_by, key.customer)


_BILLING_OK = ok_response("Billing", description="Each customer's invoice figures for the period, to the cent")
PeriodQuery = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="a month, YYYY-MM")]


async def _billing(request: Request, period: str | None, customer: str | None) -> dict[str, Any]:
    gateway = gateway_of(request)
    month = period or format_instant(datetime.now(UTC))[:7]
    try:
        Period.parse(month)  # the pattern admits months with no calendar: 0000-01, 9999-12
    except ValueError as exc:
        raise ApiError(400, f"period: {exc}", param="period") from None
    figures, folded = await run_in_threadpool(invoice_figures, gateway.ledger, month, gateway.catalog.unit_prices)
    return {"object": "billing", "period": month, "timezone": "UTC", "as_of_seq": folded,
            "data": [{"customer": f.customer, "currency": f.currency, "requests": f.requests,
                      "subtotal": str(f.subtotal), "credits": str(f.credits), "total_due": str(f.total_due)}
                     for f in figures if customer is None or f.customer == customer]}


@admin_router.get("/billing", summary="What each customer's invoice for a month comes to", operation_id="getBilling",
                  response_model=None, openapi_extra=ADMIN, responses={**_BILLING_OK, **error_responses(400, 401)})
async def admin_billing(request: Request, period: PeriodQuery = None,
                        customer: Annotated[str | None, Query(min_length=1, max_length=128)] = None) -> dict[str, Any]:
    return await _billing(request, period, customer)


@customer_router.get("/billing", summary="What this key's customer's invoice for a month comes to",
                     operation_id="getMyBilling", response_model=None, openapi_extra=CUSTOMER,
                     responses={**_BILLING_OK, **error_responses(400, 401, 403)})
async def my_billing(request: Request, key: Annotated[ApiKey, Depends(require_customer)],
                     period: PeriodQuery = None) -> dict[str, Any]:
    return await _billing(request, period, key.customer)


SCHEMAS["RecordsPage"] = {
    "type": "object", "additionalProperties": False, "required": ["object", "data", "next_after_seq", "has_more"],
    "properties": {"object": {"const": "list"},
                   "data": {"type": "array", "items": {"$ref": "#/components/schemas/UsageRecord"}},
                   "next_after_seq": {"type": "integer", "minimum": 0,
                                      "description": "send it as `after_seq` for the next page"},
                   "has_more": {"type": "boolean"}},
    "description": "Usage records in ledger order, one page"}
_RECORDS_OK = ok_response("RecordsPage", description="A page of usage records, oldest first (UTC instants)")
AfterSeq = Annotated[int, Query(ge=0, le=INT64_MAX, description="the cursor: records after this ledger seq")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Name = Annotated[str | None, Query(min_length=1, max_length=128)]
Outcome = Annotated[Literal["ok", "client_disconnect", "engine_error", "rejected"] | None, Query()]


async def _records(request: Request, where: RecordFilter, after_seq: int, limit: int) -> dict[str, Any]:
    ledger = gateway_of(request).ledger
    page = await run_in_threadpool(lambda: records_page(ledger, where, after_seq=after_seq, limit=limit))
    return {"object": "list", "data": [r.to_json() for r in page.records], "next_after_seq": page.next_after_seq,
            "has_more": page.has_more}


def _filter(start: str | None, end: str | None, **names: str | None) -> RecordFilter:
    def read(text: str | None, name: str) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_instant(text)
        except ValueError:
            raise ApiError(400, f"{name} must be an ISO 8601 date or instant, e.g. 2026-11-01", param=name) from None

    since, until = read(start, "start"), read(end, "end")
    if since is not None and until is not None and until <= since:
        raise ApiError(400, "end must be after start", param="end")
    return RecordFilter(start=since, end=until, **names)


@admin_router.get("/usage/records", summary="Usage records, filtered, a page at a time (cursor: after_seq)",
                  operation_id="listUsageRecords", response_model=None, openapi_extra=ADMIN,
                  responses={**_RECORDS_OK, **error_responses(400, 401)})
async def admin_records(request: Request, after_seq: AfterSeq = 0, limit: Limit = 100, customer: Name = None,
                        key: Name = None, model: Name = None, outcome: Outcome = None, start: Instant = None,
                        end: Instant = None) -> dict[str, Any]:
    where = _filter(start, end, customer=customer, key_id=key, model=model, outcome=outcome)
    return await _records(request, where, after_seq, limit)


@customer_router.get("/usage/records", summary="This key's customer's usage records, a page at a time",
                     operation_id="listMyUsageRecords", response_model=None, openapi_extra=CUSTOMER,
                     responses={**_RECORDS_OK, **error_responses(400, 401, 403)})
async def my_records(request: Request, key_: Annotated[ApiKey, Depends(require_customer)], after_seq: AfterSeq = 0,
                     limit: Limit = 100, key: Name = None, model: Name = None, outcome: Outcome = None,
                     start: Instant = None, end: Instant = None) -> dict[str, Any]:
    where = _filter(start, end, customer=key_.customer, key_id=key, model=model, outcome=outcome)
    return await _records(request, where, after_seq, limit)

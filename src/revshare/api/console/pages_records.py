"""The usage records themselves, a page at a time: the operator's (every customer's, filtered) and
a customer's own (scoped by its session; a `customer=` in its URL is ignored). The same query as
`GET /admin/usage/records` and `/v1/me/usage/records` (`reporting.records_page`): ledger order, a
cursor (`after`, the last seq listed) instead of an offset, so every page costs the same. Filters
live in the URL; bad ones get the page again with a message per field, status 400.

    GET /console/records?customer=&key=&model=&outcome=&start=&end=&after=      operator
    GET /console/me/records?key=&model=&outcome=&start=&end=&after=             customer

Dates are whole UTC days, both ends included, as in the usage explorer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of
from revshare.api.console.guards import CustomerPage, OperatorPage
from revshare.api.console.web import ConsoleRoute, nav_item, render
from revshare.api.protocol import INT64_MAX
from revshare.records.record import Outcome
from revshare.reporting.records_page import RecordFilter, RecordsPage, records_page

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Records", "/console/records", "operator", order=6)
nav_item("Records", "/console/me/records", "customer", order=16)

PAGE_SIZE = 50
OUTCOMES = tuple(o.value for o in Outcome)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_NAMES = ("customer", "key", "model")
_FIELDS = (*_NAMES, "outcome", "start", "end")


@dataclass(frozen=True, slots=True)
class Query:
    """The filters as the URL gives them (checked), and the cursor."""
    values: dict[str, str]  # each filter's text, "" when not given
    where: RecordFilter
    after: int

    def link(self, after: int | None = None) -> str:
        """This query's URL parameters (the filters given), at a cursor."""
        pairs = [(k, v) for k, v in self.values.items() if v]
        return urlencode(pairs + ([("after", str(after))] if after else []))


def read_query(params: Mapping[str, str], *, customer: str | None) -> tuple[Query, dict[str, str]]:
    """The filters and cursor from the URL, and a message per bad one; `customer`: the session's
    customer, which replaces any in the URL."""
    values = {name: params.get(name, "").strip() for name in _FIELDS}
    if customer is not None:
        values["customer"] = ""  # never the URL's: the session says whose
    errors: dict[str, str] = {}
    for name in _NAMES:
        if len(values[name]) > 128:
            errors[name] = "at most 128 characters"
    if values["outcome"] and values["outcome"] not in OUTCOMES:
        errors["outcome"] = "one of " + ", ".join(OUTCOMES)
    days: dict[str, date | None] = {}
    for name in ("start", "end"):
        days[name] = None
        if values[name]:
            try:
                if not _DATE.match(values[name]):
                    raise ValueError(values[name])
                days[name] = date.fromisoformat(values[name])
            except ValueError:
                errors[name] = "a date, YYYY-MM-DD (UTC)"
    start, end = days["start"], days["end"]
    if start is not None and end is not None and end < start:
        errors["end"] = "on or after the start"
    after_text = params.get("after", "").strip() or "0"
    after = int(after_text) if after_text.isascii() and after_text.isdigit() and len(after_text) <= 19 else -1
    if not 0 <= after <= INT64_MAX:
        errors["after"] = "a record's position in the ledger (a whole number, 0 or more)"
        after = 0
    where = RecordFilter(
        customer=customer if customer is not None else values["customer"] or None,
        key_id=values["key"] or None, model=values["model"] or None, outcome=values["outcome"] or None,
        start=datetime(start.year, start.month, start.day, tzinfo=UTC) if start else None,
        end=datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1) if end else None)
    return Query(values, where, after), errors


async def _page(request: Request, *, customer: str | None, base: str) -> Response:
    query, errors = read_query(request.query_params, customer=customer)
    page = RecordsPage([], query.after, False)
    if not errors:
        ledger = gateway_of(request).ledger
        page = await run_in_threadpool(lambda: records_page(ledger, query.where, after_seq=query.after,
                                                            limit=PAGE_SIZE))
    return render(request, "records.html", title="Records", status=400 if errors else 200, errors=errors,
                  values=query.values, outcomes=OUTCOMES, operator=customer is None, base=base, page=page,
                  first_link=f"{base}?{query.link()}" if query.after else "",
                  next_link=f"{base}?{query.link(page.next_after_seq)}" if page.has_more else "")


@router.get("/records")
async def operator_records(request: Request, _: OperatorPage) -> Response:
    return await _page(request, customer=None, base="/console/records")


@router.get("/me/records")
async def my_records(request: Request, session: CustomerPage) -> Response:
    return await _page(request, customer=session.subject, base="/console/me/records")

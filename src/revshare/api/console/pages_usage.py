"""Usage pages, read from the rollups: the operator's overview (the last 30 days by model, the
licensors' share per day and how requests ended (`overview_view.py`), this month's invoice figures
per customer) and usage explorer, and a customer's own explorer, scoped
to its customer by the session (a `customer=` in its URL is ignored). Filters live in the URL; the
CSV is the same query's rows. Bad filters: the page again with a message per field, status 400.

    GET /console/overview                       operator
    GET /console/usage?start=&end=&granularity=&group_by=&customer=     and /console/usage.csv
    GET /console/me/usage?start=&end=&granularity=&group_by=            and /console/me/usage.csv
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of
from revshare.api.console.guards import CustomerPage, OperatorPage
from revshare.api.console.overview_view import outcomes_view, shares_view
from revshare.api.console.usage_view import (
    GROUPS,
    MAX_ROWS,
    Filters,
    Shown,
    chart_data,
    load,
    period_text,
    read_filters,
    today,
    usage_csv,
)
from revshare.api.console.web import SECURITY_HEADERS, ConsoleRoute, nav_item, render, templates
from revshare.reporting.invoices import InvoiceFigures, invoice_figures

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Overview", "/console/overview", "operator", order=1)
nav_item("Usage", "/console/usage", "operator", order=5)
nav_item("Usage", "/console/me/usage", "customer", order=15)

TOP = 10


def _total(value: Decimal) -> str:
    """A total in a figure box: exact, without the trailing zeros of its picounits (at least 2 places)."""
    text = format(value.normalize(), "f") if value else "0"
    whole, _, places = text.partition(".")
    return f"{whole}.{places.ljust(2, '0')}"


templates.filters["total"] = _total


def _figures(request: Request, month: str) -> tuple[tuple[InvoiceFigures, ...], int]:
    gateway = gateway_of(request)
    return invoice_figures(gateway.ledger, month, gateway.catalog.unit_prices)


@router.get("/overview")
async def overview(request: Request, _: OperatorPage) -> Response:
    ledger = gateway_of(request).ledger
    end = today()
    filters = Filters(end - timedelta(days=29), end, "day", "model", None)
    month = datetime.now(UTC).strftime("%Y-%m")
    shown = await run_in_threadpool(load, ledger, filters)
    figures, billed_seq = await run_in_threadpool(_figures, request, month)
    plot = chart_data(filters, shown)
    share_lines, shares, shares_seq = await run_in_threadpool(shares_view, ledger, gateway_of(request).catalog,
                                                              filters, plot["x"])
    outcomes = await run_in_threadpool(outcomes_view, ledger, filters, plot["x"])
    plot |= {"share": share_lines, "rates": outcomes.chart}
    ranked = sorted(figures, key=lambda f: (-f.total_due, -f.requests, f.customer, f.currency))
    due: dict[str, Decimal] = {}
    for f in figures:
        due[f.currency] = due.get(f.currency, Decimal(0)) + f.total_due
    return render(request, "overview.html", title="Overview", filters=filters, totals=shown.totals(),
                  plot=plot, shares=shares, outcomes=outcomes, month=month, top=ranked[:TOP],
                  more=max(0, len(ranked) - TOP),
                  customers=len({f.customer for f in figures}), due=sorted(due.items()),
                  as_of_seq=min(shown.as_of_seq, billed_seq, shares_seq, outcomes.folded_seq),
                  interval=gateway_of(request).catalog.server.rollup_interval_s,
                  explore="/console/usage?" + filters.query(with_customer=False))


async def _explore(request: Request, *, operator: bool, customer: str | None) -> tuple[Filters, dict[str, str], Shown]:
    filters, errors = read_filters(request.query_params, operator=operator, customer=customer)
    if errors:
        return filters, errors, Shown((), 0)
    shown = await run_in_threadpool(load, gateway_of(request).ledger, filters)
    return filters, errors, shown


def _page(request: Request, filters: Filters, errors: dict[str, str], shown: Shown, *, base: str,
          operator: bool) -> Response:
    values = {name: request.query_params.get(name, "") for name in ("start", "end", "granularity", "group_by",
                                                                     "customer")}
    if not errors:  # the form shows the filters in force (the defaults filled in)
        values = {"start": filters.start.isoformat(), "end": filters.end.isoformat(),
                  "granularity": filters.granularity, "group_by": filters.group_by or "",
                  "customer": filters.customer or "" if operator else ""}
    status = 400 if errors or shown.too_many else 200
    query = filters.query(with_customer=operator)
    return render(request, "usage.html", title="Usage", status=status, filters=filters, errors=errors,
                  values=values, shown=shown, totals=shown.totals(), max_rows=MAX_ROWS, operator=operator,
                  groups={k: v for k, v in GROUPS.items() if operator or k != "customer"}, base=base,
                  periods=[period_text(filters, r.period_start) for r in shown.rows],
                  plot=chart_data(filters, shown) if not errors and shown.rows else None,
                  csv_link=f"{base}.csv?{query}" if not errors and not shown.too_many else "",
                  reset_link=base)


def _csv(filters: Filters, shown: Shown, who: str) -> Response:
    group = f"-by-{filters.group_by}" if filters.group_by else ""
    name = f"usage-{who}-{filters.start.isoformat()}-to-{filters.end.isoformat()}-{filters.granularity}{group}.csv"
    return Response(usage_csv(filters, shown), media_type="text/csv; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/usage")
async def operator_usage(request: Request, _: OperatorPage) -> Response:
    filters, errors, shown = await _explore(request, operator=True, customer=None)
    return _page(request, filters, errors, shown, base="/console/usage", operator=True)


@router.get("/usage.csv")
async def operator_usage_csv(request: Request, _: OperatorPage) -> Response:
    filters, errors, shown = await _explore(request, operator=True, customer=None)
    if errors or shown.too_many:
        return _page(request, filters, errors, shown, base="/console/usage", operator=True)
    return _csv(filters, shown, "all" if filters.customer is None else "customer")


@router.get("/me/usage")
async def my_usage(request: Request, session: CustomerPage) -> Response:
    filters, errors, shown = await _explore(request, operator=False, customer=session.subject)
    return _page(request, filters, errors, shown, base="/console/me/usage", operator=False)


@router.get("/me/usage.csv")
async def my_usage_csv(request: Request, session: CustomerPage) -> Response:
    filters, errors, shown = await _explore(request, operator=False, customer=session.subject)
    if errors or shown.too_many:
        return _page(request, filters, errors, shown, base="/console/me/usage", operator=False)
    return _csv(filters, shown, "mine")

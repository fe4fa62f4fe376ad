"""The console at /console/: server-rendered pages for the operator, customers and licensors
(docs/CONSOLE.md). HTML only, over the same rooms as the admin API; no route here is in the
OpenAPI document.

    session.py          the signed session cookie, CSRF tokens, what a pasted token is
    guards.py           the role and CSRF checks, as dependencies (OperatorPage, CustomerForm...)
    web.py              templates, the menu (`nav_item`), pages and refusals as HTML
    forms.py            form fields -> the admin API's wire models, errors next to their fields
    budget.py           a budget's use in its current period
    pages_login.py      /console/, login, logout, static files, the 404 page
    pages_customers.py  operator: customers          pages_keys.py   operator: API keys
    pages_audit.py      operator: the audit trail    pages_me.py     customer: its account and keys
    pages_licensor.py   licensor: its statements (page, JSON, CSV, bundle), its log, how to verify
    pages_me_documents.py  customer: its invoices, a receipt by record id
    pages_logs.py       operator: the logs (log_admin_routes.logs_overview)
    pages_periods.py    operator: close, settle, documents   overview_view.py: licensor share, outcomes
    pages_usage.py      operator: overview, usage explorer; customer: its usage (usage_view.py: filters, CSV)
    pages_records.py    operator, customer: the usage records, a page at a time (a cursor; filters in the URL)

A new page is a `pages_*.py` with its own `APIRouter(route_class=ConsoleRoute)`, a guard
(`OperatorPage`, `CustomerPage`, `LicensorPage`; a form's POST takes `OperatorForm`...), a template
extending `base.html`, a `nav_item(...)` for the menu, and one `include_router` line below.
"""

from __future__ import annotations

from fastapi import APIRouter

from revshare.api.console import (
    pages_audit,
    pages_customers,
    pages_keys,
    pages_licensor,
    pages_login,
    pages_logs,
    pages_me,
    pages_me_documents,
    pages_periods,
    pages_records,
    pages_terms,
    pages_usage,
)
from revshare.api.console.web import ConsoleRoute

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
router.include_router(pages_login.router)
router.include_router(pages_usage.router)
router.include_router(pages_records.router)
router.include_router(pages_customers.router)
router.include_router(pages_keys.router)
router.include_router(pages_audit.router)
router.include_router(pages_periods.router)
router.include_router(pages_logs.router)
router.include_router(pages_me.router)
router.include_router(pages_me_documents.router)
router.include_router(pages_licensor.router)
router.include_router(pages_terms.router)
router.include_router(pages_login.fallback)  # last: a path no page has is the console's 404

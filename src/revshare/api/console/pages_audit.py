"""The operator's audit trail of account changes: oldest first, a page at a time, filtered by
customer, the filters and the position kept in the URL (a page can be bookmarked and shared).

    GET /console/audit?customer=&after_seq=&limit=
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.console.guards import OperatorPage, accounts_of
from revshare.api.console.web import ConsoleRoute, nav_item, render
from revshare.api.protocol import INT64_MAX

__all__ = ["changes", "router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Audit", "/console/audit", "operator", order=30)

PAGE = 50


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def changes(detail: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """An event's `before` and `after` as the fields that changed: (field, before, after);
    before is None for a creation (only the values set are listed)."""
    before, after = detail.get("before"), detail.get("after")
    if not isinstance(before, dict) and not isinstance(after, dict):
        return [("", _shown(before), _shown(after))]
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    rows: list[tuple[str, str | None, str]] = []
    for name in sorted(old.keys() | new.keys()):
        if before is None:
            if new.get(name) not in (None, "", []):
                rows.append((name, None, _shown(new[name])))
        elif old.get(name) != new.get(name):
            rows.append((name, _shown(old.get(name)), _shown(new.get(name))))
    return rows or [("", None, "created" if before is None else "no change")]


@router.get("/audit")
async def audit(request: Request, _: OperatorPage,
                customer: Annotated[str, Query(max_length=128)] = "",
                after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
                limit: Annotated[int, Query(ge=1, le=500)] = PAGE) -> Response:
    accounts = accounts_of(request)
    events = await run_in_threadpool(lambda: accounts.audit(after_seq=after_seq, limit=limit + 1,
                                                            customer=customer or None))
    more = len(events) > limit
    events = events[:limit]

    def link(after: int) -> str:
        query = {k: v for k, v in (("customer", customer), ("after_seq", after)) if v}
        if limit != PAGE:
            query["limit"] = limit
        return "/console/audit" + ("?" + urlencode(query) if query else "")

    return render(request, "audit.html", title="Audit trail", events=events,
                  details=[changes(e.detail) for e in events], customer=customer, after_seq=after_seq, limit=limit,
                  next_link=link(events[-1].seq) if more else "", first_link=link(0) if after_seq else "")

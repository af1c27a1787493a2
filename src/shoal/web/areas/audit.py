"""The audit log page: who did what to which target, with filters and pages.

Scoping is the audit service's (admins see everything; others see their own
actions and those in projects they may view). Time filters: a period relative
to now (last hour … 30 days) and/or a from/to range in UTC, as the page shows
times; "to" includes the minute (or day) it names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shoal.api.deps import SessionDep
from shoal.api.problems import language_of
from shoal.audit import service
from shoal.core.i18n import translate
from shoal.store.types import utcnow
from shoal.web.deps import FormError, PagePrincipal
from shoal.web.nav import NavItem
from shoal.web.paging import Pager, page_number
from shoal.web.render import render

__all__ = ["nav", "parse_moment", "router"]

router = APIRouter(include_in_schema=False)
nav = (NavItem("ui.nav.audit", "/audit", "audit", order=30),)

OUTCOMES = ("success", "failure", "denied")
PERIODS: dict[str, timedelta] = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
                                 "30d": timedelta(days=30)}
#: What a datetime-local input sends (minutes, or seconds with step=1), and a bare date; "T" or a space.
_FORMATS = (("%Y-%m-%d", timedelta(days=1)), ("%Y-%m-%dT%H:%M", timedelta(minutes=1)),
            ("%Y-%m-%d %H:%M", timedelta(minutes=1)), ("%Y-%m-%dT%H:%M:%S", timedelta(seconds=1)),
            ("%Y-%m-%d %H:%M:%S", timedelta(seconds=1)))


def parse_moment(text: str, *, end: bool = False) -> datetime | None:
    """A UTC moment from a form field; with ``end`` the first moment after the day/minute/second named.

    Returns None for an empty field; raises ValueError for one that is not a date or time.
    """
    text = text.strip()
    if not text:
        return None
    for fmt, step in _FORMATS:
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return moment + step if end else moment
    raise ValueError(text)


def _input_value(text: str) -> str:
    """The value a datetime-local input shows for what was asked, to the minute (a bare date: its midnight)."""
    moment = parse_moment(text)
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M")


@router.get("/audit")
async def audit_page(
    request: Request, principal: PagePrincipal, session: SessionDep,
    user: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    project: Annotated[str, Query(max_length=32)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    period: Annotated[str, Query(max_length=8)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    page: str = "1",
) -> Response:
    params = {"user": user.strip(), "action": action.strip(), "project": project.strip(),
              "outcome": outcome if outcome in OUTCOMES else "", "period": period if period in PERIODS else "",
              "since": since.strip(), "until": until.strip()}
    error: FormError | None = None
    start = end = None
    shown = {"since": "", "until": ""}
    for name in ("since", "until"):
        try:
            moment = parse_moment(params[name], end=name == "until")
        except ValueError:
            message = translate("error.bad_time", language_of(request), value=params[name])
            error = FormError("error.bad_time", message, translate("hint.time", language_of(request)), name, 400)
            params[name] = ""
            continue
        if name == "since":
            start = moment
        else:
            end = moment
        shown[name] = _input_value(params[name])
    if params["period"]:
        recent = utcnow() - PERIODS[params["period"]]
        start = max(start, recent) if start else recent
    flt = service.AuditFilter(username=params["user"] or None, action=params["action"] or None,
                              project_code=params["project"] or None, outcome=params["outcome"] or None,
                              since=start, until=end)
    total = await service.count(session, principal, flt)
    pager = Pager(page=page_number(page), total=total)
    rows = await service.query(session, principal, flt, limit=pager.size, offset=pager.offset)
    return render(request, "audit/list.html", {
        "rows": rows, "pager": pager, "params": params, "outcomes": OUTCOMES, "periods": tuple(PERIODS),
        "filtered": any(params.values()), "error": error, "shown": shown,
    }, status=400 if error else 200)

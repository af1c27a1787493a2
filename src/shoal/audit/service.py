"""Write and read audit entries.

Reading is scoped here, for the API, the web page and the CLI alike: admins
see everything; others see their own entries and those of projects they may
view, except the lines typed in consoles (``TYPED_LINE_ACTIONS``), which need
``console_audit_view`` on the project.

Services call :func:`record` inside the transaction of the change they audit, so
an entry exists exactly when the change does. Refusals and failures, whose
transaction rolls back, are recorded by the edge in a fresh transaction
(:func:`record_failure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.iam.authz import Action, Principal, ProjectRef, can, visible_project_codes
from shoal.store.models import AuditEntry

__all__ = ["TYPED_LINE_ACTIONS", "AuditFilter", "count", "query", "record"]

#: Audit actions whose detail holds what a user typed (console lines): readable with
#: ``console_audit_view`` on the project (managers), by platform admins, and by their author.
TYPED_LINE_ACTIONS = ("console.command",)


async def record(
    session: AsyncSession,
    actor: Principal | None,
    action: str,
    *,
    target_type: str = "",
    target_id: str = "",
    project_code: str | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    username: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        username=username if username is not None else (actor.username if actor else ""),
        action=action,
        target_type=target_type,
        target_id=target_id,
        project_code=project_code,
        outcome=outcome,
        source=actor.source if actor else "",
        detail=detail or {},
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    username: str | None = None
    action: str | None = None
    project_code: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        # A time without a zone is read as UTC, the zone every stored time is in.
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                object.__setattr__(self, name, moment.replace(tzinfo=UTC))


def _scoped(principal: Principal, flt: AuditFilter) -> Select[AuditEntry]:
    stmt = select(AuditEntry)
    if not can(principal, Action.AUDIT_VIEW_ALL):
        # A non-admin sees entries of projects they may view and their own actions; of the typed
        # console lines, only those of projects where ``console_audit_view`` is theirs (managers).
        codes = visible_project_codes(principal) or set()
        line_codes = {code for code in codes if can(principal, Action.CONSOLE_AUDIT_VIEW, ProjectRef(code))}
        own = AuditEntry.username == principal.username
        stmt = stmt.where(
            AuditEntry.project_code.in_(codes) | own,
            AuditEntry.action.not_in(TYPED_LINE_ACTIONS) | AuditEntry.project_code.in_(line_codes) | own,
        )
    if flt.username:
        stmt = stmt.where(AuditEntry.username == flt.username)
    if flt.action:
        stmt = stmt.where(AuditEntry.action.like(f"{flt.action}%"))
    if flt.project_code:
        stmt = stmt.where(AuditEntry.project_code == flt.project_code)
    if flt.outcome:
        stmt = stmt.where(AuditEntry.outcome == flt.outcome)
    if flt.since:
        stmt = stmt.where(AuditEntry.time >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.time < flt.until)
    return stmt


async def query(
    session: AsyncSession, principal: Principal, flt: AuditFilter, *, limit: int = 50, offset: int = 0
) -> list[AuditEntry]:
    stmt = _scoped(principal, flt).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all())


async def count(session: AsyncSession, principal: Principal, flt: AuditFilter) -> int:
    stmt = select(func.count()).select_from(_scoped(principal, flt).subquery())
    return int((await session.scalar(stmt)) or 0)

"""One interface over where businesses come from, and the rights layered on it.

Two adapters implement :class:`BusinessDirectory`: the built-in directory
(tables in Shoal's own database, managed by admins) and BK-CMDB over HTTP.
Grants approved inside Shoal (a permission request for a business) are kept in
``business_maintainers`` and added on top of either adapter by
:func:`businesses_for`, so approval works even when CMDB is read-only to us.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.iam.authz import Principal
from shoal.store.models import BusinessMaintainer

__all__ = ["BusinessDirectory", "BusinessInfo", "businesses_for", "find_business", "maintains"]


@dataclass(frozen=True)
class BusinessInfo:
    id: int
    name: str
    maintainers: tuple[str, ...] = field(default=())


class BusinessDirectory(Protocol):
    """Where businesses and their maintainers come from."""

    name: str
    writable: bool

    async def all(self, session: AsyncSession) -> list[BusinessInfo]:
        """Every business (admins choose from all of them, R3)."""
        ...

    async def maintained_by(self, session: AsyncSession, username: str) -> list[BusinessInfo]:
        """Businesses whose maintainers include ``username`` (R2)."""
        ...

    async def get(self, session: AsyncSession, business_id: int) -> BusinessInfo | None: ...


async def _granted_ids(session: AsyncSession, username: str) -> set[int]:
    rows = await session.scalars(
        select(BusinessMaintainer.business_id).where(BusinessMaintainer.username == username)
    )
    return set(rows.all())


async def businesses_for(
    session: AsyncSession, directory: BusinessDirectory, principal: Principal
) -> list[BusinessInfo]:
    """The businesses ``principal`` may bind a project to: all for admins, else maintained or granted."""
    if principal.is_admin:
        return await directory.all(session)
    found = {b.id: b for b in await directory.maintained_by(session, principal.username)}
    for business_id in await _granted_ids(session, principal.username) - set(found):
        info = await directory.get(session, business_id)
        if info is not None:
            found[info.id] = info
    return sorted(found.values(), key=lambda b: b.id)


async def maintains(
    session: AsyncSession, directory: BusinessDirectory, principal: Principal, business_id: int
) -> bool:
    return any(b.id == business_id for b in await businesses_for(session, directory, principal))


async def find_business(session: AsyncSession, directory: BusinessDirectory, business_id: int) -> BusinessInfo:
    from shoal.core.errors import NotFound

    info = await directory.get(session, business_id)
    if info is None:
        raise NotFound("error.business_not_found", hint="hint.business_not_found", id=business_id)
    return info

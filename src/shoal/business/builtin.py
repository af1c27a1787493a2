"""The built-in business directory: businesses kept in Shoal's database by admins."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.business.directory import BusinessDirectory, BusinessInfo
from shoal.core.errors import Conflict, Invalid
from shoal.iam.authz import Action, Principal, require
from shoal.store.models import Business, BusinessMaintainer, User

__all__ = ["BuiltinDirectory", "add_business", "remove_business", "set_maintainers"]

MAX_BUSINESS_ID = 2**53


class BuiltinDirectory:
    """Businesses from the ``businesses`` table; maintainers from ``business_maintainers``."""

    name = "builtin"
    writable = True

    async def _info(self, session: AsyncSession, business: Business) -> BusinessInfo:
        rows = await session.scalars(
            select(BusinessMaintainer.username)
            .where(BusinessMaintainer.business_id == business.id)
            .order_by(BusinessMaintainer.username)
        )
        return BusinessInfo(id=business.id, name=business.name, maintainers=tuple(rows.all()))

    async def all(self, session: AsyncSession) -> list[BusinessInfo]:
        rows = await session.scalars(select(Business).order_by(Business.id))
        return [await self._info(session, b) for b in rows.all()]

    async def maintained_by(self, session: AsyncSession, username: str) -> list[BusinessInfo]:
        rows = await session.scalars(
            select(Business)
            .join(BusinessMaintainer, BusinessMaintainer.business_id == Business.id)
            .where(BusinessMaintainer.username == username)
            .order_by(Business.id)
        )
        return [await self._info(session, b) for b in rows.all()]

    async def get(self, session: AsyncSession, business_id: int) -> BusinessInfo | None:
        business = await session.get(Business, business_id)
        return None if business is None else await self._info(session, business)


async def add_business(
    session: AsyncSession, actor: Principal, business_id: int, name: str, maintainers: list[str]
) -> BusinessInfo:
    """Add a business to the built-in directory (admins only)."""
    require(actor, Action.BUSINESS_MANAGE)
    if not 0 < business_id < MAX_BUSINESS_ID:
        raise Invalid("error.business_id", field="id", value=business_id)
    name = name.strip()
    if not 1 <= len(name) <= 128:
        raise Invalid("error.business_name", field="name")
    if await session.get(Business, business_id) is not None:
        raise Conflict("error.business_exists", id=business_id)
    unknown = [m for m in maintainers if await session.scalar(select(User.id).where(User.username == m)) is None]
    if unknown:
        raise Invalid("error.unknown_users", hint="hint.create_user_first", field="maintainers",
                      names=", ".join(unknown))
    session.add(Business(id=business_id, name=name))
    for username in dict.fromkeys(maintainers):
        session.add(BusinessMaintainer(business_id=business_id, username=username, granted_by=actor.username))
    await session.flush()
    await audit.record(session, actor, "business.create", target_type="business", target_id=str(business_id),
                       detail={"name": name, "maintainers": list(dict.fromkeys(maintainers))})
    return BusinessInfo(id=business_id, name=name, maintainers=tuple(sorted(set(maintainers))))


async def remove_business(session: AsyncSession, actor: Principal, business_id: int) -> None:
    require(actor, Action.BUSINESS_MANAGE)
    business = await session.get(Business, business_id)
    if business is None:
        from shoal.core.errors import NotFound

        raise NotFound("error.business_not_found", id=business_id)
    await session.execute(delete(BusinessMaintainer).where(BusinessMaintainer.business_id == business_id))
    await session.delete(business)
    await audit.record(session, actor, "business.delete", target_type="business", target_id=str(business_id))


async def set_maintainers(
    session: AsyncSession, actor: Principal, directory: BusinessDirectory, business_id: int, maintainers: list[str]
) -> BusinessInfo:
    """Replace the maintainers of a built-in business (admins only).

    Maintainers of BK-CMDB businesses live in ``bk_biz_maintainer`` and are edited
    there: with that directory the change is refused with a message saying so.
    Rights granted by approved requests are maintainer rows too, so they are part
    of the list being replaced.
    """
    require(actor, Action.BUSINESS_MANAGE)
    if not directory.writable:
        raise Conflict("error.business_maintainers_readonly", hint="hint.business_maintainers_readonly",
                       id=business_id)
    business = await session.get(Business, business_id)
    if business is None:
        from shoal.core.errors import NotFound

        raise NotFound("error.business_not_found", id=business_id)
    wanted = list(dict.fromkeys(m.strip() for m in maintainers if m.strip()))
    unknown = [m for m in wanted if await session.scalar(select(User.id).where(User.username == m)) is None]
    if unknown:
        raise Invalid("error.unknown_users", hint="hint.create_user_first", field="maintainers",
                      names=", ".join(unknown))
    rows = {row.username: row for row in (await session.scalars(
        select(BusinessMaintainer).where(BusinessMaintainer.business_id == business_id))).all()}
    removed = sorted(set(rows) - set(wanted))
    added = sorted(set(wanted) - set(rows))
    for username in removed:
        await session.delete(rows[username])
    for username in added:
        session.add(BusinessMaintainer(business_id=business_id, username=username, granted_by=actor.username))
    await session.flush()
    await audit.record(session, actor, "business.set_maintainers", target_type="business",
                       target_id=str(business_id), detail={"added": added, "removed": removed})
    return BusinessInfo(id=business_id, name=business.name, maintainers=tuple(sorted(wanted)))

"""BK-CMDB adapter: businesses where the user is in ``bk_biz_maintainer``.

Calls ``search_business`` of BK-CMDB's ESB API. ``bk_biz_maintainer`` is a
comma-separated list of usernames, so membership is checked here rather than
trusting CMDB's substring matching.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.business.directory import BusinessInfo
from shoal.core.config import BusinessSettings
from shoal.core.errors import Unavailable

__all__ = ["BkCmdbDirectory", "CmdbUnavailable"]

_PAGE = 200


class CmdbUnavailable(Unavailable):
    """BK-CMDB did not answer or answered with an error."""


class BkCmdbDirectory:
    name = "bkcmdb"
    writable = False

    def __init__(self, settings: BusinessSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport

    def __repr__(self) -> str:
        return f"BkCmdbDirectory(url={self._settings.cmdb_url!r}, secret=<hidden>)"

    async def _search(self, username: str = "admin") -> list[dict[str, Any]]:
        url = self._settings.cmdb_url.rstrip("/") + "/api/c/compapi/v2/cc/search_business/"
        found: list[dict[str, Any]] = []
        start = 0
        async with httpx.AsyncClient(timeout=self._settings.cmdb_timeout, transport=self._transport) as client:
            while True:
                body = {
                    "bk_app_code": self._settings.cmdb_app_code,
                    "bk_app_secret": self._settings.cmdb_app_secret,
                    "bk_username": username,
                    "fields": ["bk_biz_id", "bk_biz_name", "bk_biz_maintainer"],
                    "page": {"start": start, "limit": _PAGE, "sort": "bk_biz_id"},
                }
                try:
                    resp = await client.post(url, json=body)
                    resp.raise_for_status()
                    payload = resp.json()
                except (httpx.HTTPError, ValueError) as e:
                    raise CmdbUnavailable("error.cmdb_unavailable", hint="hint.cmdb",
                                          reason=type(e).__name__) from e
                if not payload.get("result", False):
                    raise CmdbUnavailable("error.cmdb_unavailable", hint="hint.cmdb",
                                          reason=str(payload.get("message", ""))[:200])
                data = payload.get("data") or {}
                info = data.get("info") or []
                found.extend(info)
                start += _PAGE
                if not info or start >= int(data.get("count", 0)):
                    return found

    @staticmethod
    def _to_info(row: dict[str, Any]) -> BusinessInfo:
        maintainers = tuple(m.strip() for m in str(row.get("bk_biz_maintainer") or "").split(",") if m.strip())
        return BusinessInfo(id=int(row["bk_biz_id"]), name=str(row.get("bk_biz_name", "")), maintainers=maintainers)

    async def all(self, session: AsyncSession) -> list[BusinessInfo]:
        return [self._to_info(r) for r in await self._search()]

    async def maintained_by(self, session: AsyncSession, username: str) -> list[BusinessInfo]:
        return [b for b in await self.all(session) if username in b.maintainers]

    async def get(self, session: AsyncSession, business_id: int) -> BusinessInfo | None:
        return next((b for b in await self.all(session) if b.id == business_id), None)

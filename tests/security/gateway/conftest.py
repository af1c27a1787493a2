"""The gateway's security tests share one world: the stand-in cluster of ``tests.support.strict_cluster``
(declines upgrades, keeps connections alive, binds the identity to the connection) behind each front."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shoal.context import AppContext
from tests.support.strict_cluster import strict_gateway


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the database plays no part in which bytes, paths and headers cross the gateway."""
    shutil.copyfile(sqlite_template, tmp_path / "shoal.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'shoal.db'}"


@pytest.fixture(params=["front", "asgi"])
async def gw(request: pytest.FixtureRequest, ctx: AppContext, admin_headers: dict[str, str], tmp_path: Path
             ) -> AsyncIterator[dict[str, Any]]:
    """Shoal with the stand-in cluster imported, on ``front`` (``gateway.front``, what ``shoal server``
    runs) or ``asgi`` (uvicorn's protocol in front of the ASGI gateway), each over a real socket."""
    async with strict_gateway(ctx, admin_headers, tmp_path, request.param) as world:
        yield world

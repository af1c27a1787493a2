"""The BK-CMDB adapter against a local fake CMDB over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.business.bkcmdb import BkCmdbDirectory, CmdbUnavailable
from shoal.business.directory import businesses_for
from shoal.context import AppContext
from shoal.core.config import BusinessSettings
from shoal.iam.authz import Principal
from shoal.store.models import BusinessMaintainer
from tests.support.fake_cmdb import APP_SECRET, make_app
from tests.support.threaded_server import ThreadedServer

# 450 businesses so the adapter must page (page size 200); bob maintains 3, 'bobby' is a different user.
BUSINESSES = [
    {"bk_biz_id": i, "bk_biz_name": f"biz-{i}",
     "bk_biz_maintainer": "alice,bob" if i in (2, 250, 449) else ("bobby" if i == 3 else "alice")}
    for i in range(1, 451)
]


def settings(url: str, secret: str = APP_SECRET) -> BusinessSettings:
    # The fake CMDB speaks plain http on loopback: allowed explicitly, as an admin would have to.
    return BusinessSettings(directory="bkcmdb", cmdb_url=url, cmdb_app_secret=secret, cmdb_timeout=5,
                            cmdb_allow_http=True)


async def test_maintained_by_pages_and_matches_exact_names(ctx: AppContext) -> None:
    calls: list[dict[str, Any]] = []
    with ThreadedServer(make_app(BUSINESSES, calls)) as fake:
        directory = BkCmdbDirectory(settings(fake.url))
        async with ctx.db.session() as session:
            mine = await directory.maintained_by(session, "bob")
            assert [b.id for b in mine] == [2, 250, 449]
            assert mine[0].maintainers == ("alice", "bob")
            assert len(await directory.all(session)) == 450
            assert (await directory.get(session, 3)) is not None
            assert await directory.get(session, 9999) is None
    assert [c["page"]["start"] for c in calls[:3]] == [0, 200, 400]
    assert "secret" not in repr(directory).replace("secret=<hidden>", "")


async def test_local_grants_add_to_cmdb(ctx: AppContext) -> None:
    with ThreadedServer(make_app(BUSINESSES, [])) as fake:
        directory = BkCmdbDirectory(settings(fake.url))
        async with ctx.db.session() as session:
            session.add(BusinessMaintainer(business_id=10, username="bob", granted_by="admin"))
            await session.flush()
            bob = Principal(user_id=99, username="bob")
            assert [b.id for b in await businesses_for(session, directory, bob)] == [2, 10, 250, 449]
            admin = Principal(user_id=1, username="admin", is_admin=True)
            assert len(await businesses_for(session, directory, admin)) == 450


async def test_bad_secret_and_unreachable_cmdb_are_clear_errors(ctx: AppContext) -> None:
    with ThreadedServer(make_app(BUSINESSES, [])) as fake:
        async with ctx.db.session() as session:
            with pytest.raises(CmdbUnavailable) as info:
                await BkCmdbDirectory(settings(fake.url, "wrong")).all(session)
            assert "authentication failed" in str(info.value)
            gone = fake.url
    async with ctx.db.session() as session:
        with pytest.raises(CmdbUnavailable) as info:
            await BkCmdbDirectory(settings(gone)).all(session)
        assert info.value.status == 503 and info.value.hint_key == "hint.cmdb"

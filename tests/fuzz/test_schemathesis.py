"""Property-based fuzzing of the whole JSON API with schemathesis: no input gives a 5xx.

Runs as admin (the widest surface) against an app on a fresh, seeded SQLite
database; every operation in the OpenAPI document is exercised.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from shoal.api.app import create_app
from shoal.business.builtin import add_business
from shoal.context import build_context
from shoal.core.config import load_settings
from shoal.iam.accounts import bootstrap_admin, get_user, load_principal
from shoal.projects.service import create_project
from tests.conftest import ADMIN_PASSWORD, ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _seed(ctx_settings: object) -> None:
    ctx = build_context(ctx_settings)  # type: ignore[arg-type]
    async with ctx.db.session() as session:
        await bootstrap_admin(session, password=ADMIN_PASSWORD, token=ADMIN_TOKEN)
    async with ctx.db.session() as session:
        admin = await load_principal(session, await get_user(session, "admin"))
        await add_business(session, admin, 100, "Fuzz Biz", ["admin"])
        await create_project(session, admin, "demo", "Demo")
    await ctx.db.dispose()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> schemathesis.BaseSchema:
    base = tmp_path_factory.mktemp("fuzz")
    shutil.copyfile(sqlite_template, base / "shoal.db")
    cfg = load_settings(data_dir=base, database_url=f"sqlite+aiosqlite:///{base / 'shoal.db'}", secret_key="fuzz",
                        plain_http=True)  # driven in-process over http (ASGI)
    asyncio.run(_seed(cfg))
    app = create_app(build_context(cfg), with_web=False)
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


def test_no_server_errors(api_schema: schemathesis.BaseSchema) -> None:
    """Each operation gets its own hypothesis run; failures are collected so one run shows them all."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, "the schema should expose the whole API"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=AUTH)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"

        try:
            run()
        except AssertionError as e:
            failures.append(f"{operation.label}: {e}")
    assert failures == []

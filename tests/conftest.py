"""Shared fixtures: a real database (SQLite, and PostgreSQL started by the tests), the app, clients.

``db_url`` is parametrised over both backends for every test that asks for it,
so the same suite runs on SQLite and on a real PostgreSQL 15.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shoal.api.app import create_app
from shoal.context import AppContext, build_context
from shoal.core.config import Settings, load_settings
from shoal.core.security import configure_password_hashing
from shoal.iam.accounts import bootstrap_admin
from shoal.store.migrate import upgrade
from tests.support.postgres import PostgresServer
from tests.support.threaded_server import ThreadedServer

# kubesim and the test servers listen on loopback, which the cluster address policy refuses by default
# (tests/security/test_kube_addresses.py checks that default with a policy of its own). Set before any
# Settings is built, so every server, worker and subprocess of the session reads it.
TEST_ADDRESS_POLICY = "allow=loopback"
os.environ["SHOAL_CLUSTER_ADDRESS_POLICY"] = TEST_ADDRESS_POLICY

# Cheap argon2 parameters for tests only: the hashes stay real argon2id, just faster to compute.
configure_password_hashing(time_cost=1, memory_cost_kib=1024)

ADMIN_TOKEN = "shoal_test-admin-token-0123456789abcdef"
ADMIN_PASSWORD = "admin-password-123"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test: migrations run once, not per test."""
    path = tmp_path_factory.mktemp("template") / "shoal.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """A migrated PostgreSQL database used as CREATE DATABASE … TEMPLATE for each test."""
    url = postgres.create_database(name="shoal_template")
    upgrade(url)
    return "shoal_template"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database per test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "shoal.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(template=request.getfixturevalue("postgres_template"))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    # In-process tests call the app over http://shoal.test (ASGI): the explicit plain-HTTP mode, so the session
    # cookie is not Secure and no CA is generated per test (HTTPS, the default, is tested on real servers).
    return load_settings(data_dir=tmp_path / "data", database_url=db_url, secret_key="test-secret-key",
                         plain_http=True)


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = build_context(settings)
    async with context.db.session() as session:
        await bootstrap_admin(session, password=ADMIN_PASSWORD, token=ADMIN_TOKEN)
    try:
        yield context
    finally:
        await context.db.dispose()


@pytest.fixture
async def client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process (no token set)."""
    app = create_app(ctx, with_web=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shoal.test") as c:
        yield c


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture
def api_server(ctx: AppContext, settings: Settings) -> Iterator[str]:
    """The API (no web pages) served on loopback in a thread, for tests that drive the real CLI
    (``ctx`` has migrated the database and bootstrapped the admin first)."""
    with ThreadedServer(create_app(build_context(settings), with_web=False)) as running:
        yield running.url

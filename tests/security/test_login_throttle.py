"""Finding 6: password guessing is slowed per account and per address, on every login path, across replicas.

Each test runs on SQLite and PostgreSQL (the ``db_url`` fixture): the counts live
in the database, and the upsert that keeps them is dialect-specific.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from shoal.api.app import create_app
from shoal.cli import app as cli
from shoal.context import AppContext, build_context
from shoal.core.config import Settings
from shoal.iam.models import LoginThrottle
from shoal.store.types import utcnow
from tests.conftest import ADMIN_PASSWORD
from tests.web.helpers import browser, hidden

WRONG = "wrong-password-1"


async def _login(client: httpx.AsyncClient, password: str, username: str = "admin",
                 lang: str = "en") -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password},
                             headers={"Accept-Language": lang})


async def _expire_blocks(ctx: AppContext) -> None:
    """Let every running wait end, as if its time had passed (the counts stay)."""
    async with ctx.db.session() as session:
        await session.execute(update(LoginThrottle).values(blocked_until=utcnow() - timedelta(seconds=1)))


async def test_account_backs_off_after_five_failures_and_success_resets(
        client: httpx.AsyncClient, ctx: AppContext, admin_headers: dict[str, str]) -> None:
    for _ in range(5):
        assert (await _login(client, WRONG)).status_code == 401
    # Blocked now: even the right password is refused, without being checked.
    r = await _login(client, ADMIN_PASSWORD, lang="zh-CN")
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == "1"
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "login_throttled" and body["retry_after"] == 1
    assert body["message"] == "登录失败次数过多：请在 1 秒后重试。" and "管理员" in body["hint"]
    r = await _login(client, ADMIN_PASSWORD)
    assert r.status_code == 429 and r.json()["message"] == "Too many failed logins: try again in 1 seconds."

    # The wait doubles with each further failure once the previous wait is over.
    await _expire_blocks(ctx)
    assert (await _login(client, WRONG)).status_code == 401
    assert (await _login(client, ADMIN_PASSWORD)).headers["retry-after"] == "2"
    await _expire_blocks(ctx)
    assert (await _login(client, WRONG)).status_code == 401
    assert (await _login(client, ADMIN_PASSWORD)).headers["retry-after"] == "4"

    # A success clears the account's count: the next failure is an ordinary 401 again.
    await _expire_blocks(ctx)
    assert (await _login(client, ADMIN_PASSWORD)).status_code == 200
    assert (await _login(client, WRONG)).status_code == 401
    assert (await _login(client, ADMIN_PASSWORD)).status_code == 200

    refused = (await client.get("/api/v1/audit", params={"action": "auth.login", "outcome": "denied"},
                                headers=admin_headers)).json()
    assert refused["total"] == 4
    assert refused["items"][0]["detail"]["reason"] == "throttled"
    assert refused["items"][0]["detail"]["scope"] == "account"


async def test_parallel_attempts_past_the_threshold_are_not_all_checked(
        client: httpx.AsyncClient, ctx: AppContext) -> None:
    """Counting after the password check let a burst of parallel guesses all pass a check that
    saw no block yet; counted first, at most the threshold's worth of them is checked at all."""
    ctx.settings.auth.login_backoff_initial = 60  # no wait runs out during a burst, however loaded the machine
    for _ in range(4):
        assert (await _login(client, WRONG)).status_code == 401
    answers = await asyncio.gather(*(_login(client, f"guess-{i}") for i in range(16)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(401) == 1 and codes.count(429) == 15, codes
    # The same after the block has run out: one guess per wait, never a burst.
    await _expire_blocks(ctx)
    answers = await asyncio.gather(*(_login(client, f"again-{i}") for i in range(16)))
    assert sorted(r.status_code for r in answers).count(401) == 1
    async with ctx.db.session() as session:
        row = await session.scalar(select(LoginThrottle).where(LoginThrottle.kind == "account",
                                                               LoginThrottle.key == "admin"))
    assert row is not None and row.failures == 6


async def test_address_backs_off_after_twenty_failures_over_any_accounts(ctx: AppContext) -> None:
    app = create_app(ctx, with_web=False)
    attacker = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4000)),
                                 base_url="http://shoal.test")
    colleague = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.2", 4000)),
                                  base_url="http://shoal.test")
    async with attacker, colleague:
        for index in range(20):  # one guess per made-up account: no account reaches its own threshold
            assert (await _login(attacker, WRONG, username=f"user{index}")).status_code == 401
        r = await _login(attacker, ADMIN_PASSWORD)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        # The block is the address's: the same account from elsewhere logs in.
        assert (await _login(colleague, ADMIN_PASSWORD)).status_code == 200
    async with ctx.db.session() as session:
        row = await session.scalar(select(LoginThrottle).where(LoginThrottle.kind == "address"))
        assert row is not None and row.key == "203.0.113.7" and row.failures == 20


async def test_replicas_share_the_counts(settings: Settings, ctx: AppContext) -> None:
    """Two app instances with their own engines (two replicas) on one database count failures together."""
    other = build_context(settings)
    try:
        first = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx, with_web=False)),
                                  base_url="http://shoal.test")
        second = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(other, with_web=False)),
                                   base_url="http://shoal.test")
        async with first, second:
            for replica in (first, second, first, second, first):
                assert (await _login(replica, WRONG)).status_code == 401
            assert (await _login(second, ADMIN_PASSWORD)).status_code == 429
    finally:
        await other.db.dispose()


async def test_web_login_form_shows_the_wait(ctx: AppContext) -> None:
    async with browser(ctx, lang="en") as client:
        page = await client.get("/login")
        token = hidden(page.text, "login_csrf")
        for _ in range(5):
            r = await client.post("/login", data={"username": "admin", "password": WRONG, "login_csrf": token})
            assert r.status_code == 401 and 'data-error-code="bad_login"' in r.text
        r = await client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "login_csrf": token})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert 'data-error-code="login_throttled"' in r.text
        assert "Too many failed logins: try again in 1 seconds." in r.text
        assert "shoal_session" not in r.headers.get("set-cookie", "")


@pytest.fixture
async def cli_env(api_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> AsyncIterator[str]:
    for key, value in {"SHOAL_LANG": "en", "COLUMNS": "200", "SHOAL_CONFIG": f"{tmp_path}/shoal.json"}.items():
        monkeypatch.setenv(key, value)
    yield api_server


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cli_login_shows_the_wait(cli_env: str) -> None:
    runner = CliRunner()

    def login(password: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["login", "--url", cli_env, "-u", "admin", "--password-stdin"],
                               input=password + "\n", catch_exceptions=False)
        return result.exit_code, result.output

    for _ in range(5):
        code, text = login(WRONG)
        assert code == 1 and "Wrong username or password." in text
    code, text = login(ADMIN_PASSWORD)
    assert code == 1, text
    assert "Error: Too many failed logins: try again in 1 seconds." in text
    assert "Hint: Repeated failed logins" in text
    assert "Traceback" not in text


async def test_odd_usernames_are_plain_failures(client: httpx.AsyncClient) -> None:
    """A NUL (which PostgreSQL text cannot hold) or a case variant neither crashes nor logs anyone in."""
    for name in ("adm\x00in", "ADMIN", "admin\x00"):
        r = await _login(client, ADMIN_PASSWORD, username=name)
        assert r.status_code == 401, r.text
    # 'ADMIN' counts for the account 'admin' (the NUL names do not): four more failures make five.
    for _ in range(4):
        assert (await _login(client, WRONG)).status_code == 401
    assert (await _login(client, ADMIN_PASSWORD)).status_code == 429

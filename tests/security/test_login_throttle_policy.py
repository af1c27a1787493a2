"""Finding 6: the throttle's policy (defaults, back-off curve, keys) and its bookkeeping under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from shoal.context import AppContext
from shoal.core.config import AuthSettings
from shoal.iam.models import LoginThrottle
from shoal.iam.throttle import account_key, address_key, backoff_seconds
from shoal.store.types import utcnow


def test_default_policy_and_back_off_curve() -> None:
    auth = AuthSettings()
    assert (auth.login_account_failures, auth.login_address_failures) == (5, 20)
    assert (auth.login_backoff_initial, auth.login_backoff_max, auth.login_forget_seconds) == (1.0, 900.0, 900.0)
    waits = [backoff_seconds(n, auth.login_account_failures, auth) for n in range(1, 17)]
    assert waits == [None, None, None, None, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert backoff_seconds(10_000, 5, auth) == 900


def test_keys() -> None:
    assert account_key("  Admin ") == "admin"
    assert address_key("203.0.113.9") == "203.0.113.9"
    # One host usually holds a whole IPv6 /64: counted as one address.
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:198.51.100.4") == "198.51.100.4"
    assert address_key("") == "unknown"


async def test_concurrent_failures_are_all_counted(client: httpx.AsyncClient, ctx: AppContext) -> None:
    ctx.settings.auth.login_account_failures = 1000  # count only; no blocks in the way
    answers = await asyncio.gather(*(client.post("/api/v1/auth/login", json={"username": f"u{i % 2}",
                                                                             "password": "wrong-password"})
                                     for i in range(12)))
    assert [r.status_code for r in answers] == [401] * 12
    async with ctx.db.session() as session:
        rows = {(r.kind, r.key): r.failures for r in await session.scalars(select(LoginThrottle))}
    assert rows[("account", "u0")] == 6 and rows[("account", "u1")] == 6
    assert sum(v for (kind, _), v in rows.items() if kind == "address") == 12


async def test_quiet_counts_are_forgotten(client: httpx.AsyncClient, ctx: AppContext) -> None:
    for name in ("admin", "admin", "ghost"):
        await client.post("/api/v1/auth/login", json={"username": name, "password": "wrong-password"})
    quiet = utcnow() - timedelta(minutes=16)
    async with ctx.db.session() as session:
        await session.execute(update(LoginThrottle).values(last_failure_at=quiet))
    # The next failure starts admin's count again, and the quiet rows of others are gone.
    await client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"})
    async with ctx.db.session() as session:
        rows = {(r.kind, r.key): r.failures for r in await session.scalars(select(LoginThrottle))}
    assert rows[("account", "admin")] == 1
    assert ("account", "ghost") not in rows

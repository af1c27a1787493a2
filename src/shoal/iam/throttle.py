"""Failed-login counts and back-off, per account and per client address, in the database.

Called only by :mod:`shoal.iam.login` (the one login path) and by a password
reset (which lifts its account's wait). The counts live in the ``login_throttle``
table so that every replica behind a load balancer sees the same ones; each
failure is one atomic upsert, so concurrent failures on different replicas are
all counted.

Policy (numbers in ``AuthSettings``): the n-th failure of an account, from the
``login_account_failures``-th on, blocks the account for
``login_backoff_initial * 2**(n - threshold)`` seconds, at most ``login_backoff_max``;
the same for a client address with ``login_address_failures``. A count is
forgotten after ``login_forget_seconds`` without a failure; a successful login
clears its account's count (not its address's: one good password must not buy
an attacker more guesses at other accounts). Attempts refused while blocked are
not counted and cost no argon2 run.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.core.config import AuthSettings
from shoal.iam.models import LoginThrottle

__all__ = ["ACCOUNT", "ADDRESS", "Block", "account_key", "address_key", "backoff_seconds", "blocked",
           "clear_account", "forget_quiet", "record_failure"]

ACCOUNT = "account"
ADDRESS = "address"
_KEY_LENGTH = 128
# 2**60 seconds is far beyond any cap; bounding the exponent keeps the float finite.
_MAX_DOUBLINGS = 60


@dataclass(frozen=True)
class Block:
    """Why and how long a login is refused: ``scope`` is ``account`` or ``address``."""

    scope: str
    seconds: int


def account_key(username: str) -> str:
    """The account a login names, as counted: usernames are lowercase, so ``Admin`` counts for ``admin``."""
    return username.strip().lower()[:_KEY_LENGTH]


def address_key(source: str) -> str:
    """The client address as counted: an IPv6 address by its /64 (one host usually holds a whole /64)."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return source[:_KEY_LENGTH] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def backoff_seconds(failures: int, threshold: int, settings: AuthSettings) -> float | None:
    """How long the ``failures``-th failure blocks (None: not yet at the threshold)."""
    if failures < threshold:
        return None
    doublings = min(failures - threshold, _MAX_DOUBLINGS)
    return float(min(settings.login_backoff_initial * 2.0**doublings, settings.login_backoff_max))


async def blocked(session: AsyncSession, username: str, source: str, now: datetime) -> Block | None:
    """The longest wait still running for this account or this address, if any."""
    keys = ((ACCOUNT, account_key(username)), (ADDRESS, address_key(source)))
    stmt = select(LoginThrottle.kind, LoginThrottle.blocked_until).where(
        or_(*(and_(LoginThrottle.kind == kind, LoginThrottle.key == key) for kind, key in keys)),
        LoginThrottle.blocked_until > now,
    )
    longest: Block | None = None
    for kind, until in (await session.execute(stmt)).all():
        if until is None:
            continue
        seconds = math.ceil((until - now).total_seconds())
        if longest is None or seconds > longest.seconds:
            longest = Block(scope=kind, seconds=max(1, seconds))
    return longest


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(LoginThrottle)
    return sqlite.insert(LoginThrottle)


async def _count(session: AsyncSession, kind: str, key: str, threshold: int, settings: AuthSettings,
                 now: datetime) -> None:
    forgotten = now - timedelta(seconds=settings.login_forget_seconds)
    stale = LoginThrottle.last_failure_at < forgotten
    stmt = _insert(session).values(kind=kind, key=key, failures=1, last_failure_at=now, blocked_until=None)
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.kind, LoginThrottle.key],
        set_={"failures": case((stale, 1), else_=LoginThrottle.failures + 1), "last_failure_at": now},
    ).returning(LoginThrottle.failures)
    failures = int((await session.execute(stmt)).scalar_one())
    wait = backoff_seconds(failures, threshold, settings)
    if wait is not None:
        await session.execute(update(LoginThrottle).where(LoginThrottle.kind == kind, LoginThrottle.key == key)
                              .values(blocked_until=now + timedelta(seconds=wait)))


async def record_failure(session: AsyncSession, username: str, source: str, settings: AuthSettings,
                         now: datetime) -> None:
    """Count a failed login for its account and its address.

    Always the account's row first, then the address's: concurrent failures lock
    rows in one order, so they cannot deadlock on PostgreSQL.
    """
    await _count(session, ACCOUNT, account_key(username), settings.login_account_failures, settings, now)
    await _count(session, ADDRESS, address_key(source), settings.login_address_failures, settings, now)


async def forget_quiet(session: AsyncSession, settings: AuthSettings, now: datetime) -> None:
    """Delete counts that have gone quiet and are not blocking, so the table stays small.

    Attackers choose the usernames, so rows for made-up names must go too. Run in a
    transaction of its own (not with :func:`record_failure`): a DELETE over many rows
    holding another failure's row locks could deadlock with it.
    """
    forgotten = now - timedelta(seconds=settings.login_forget_seconds)
    await session.execute(delete(LoginThrottle).where(
        LoginThrottle.last_failure_at < forgotten,
        or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
    ))


async def clear_account(session: AsyncSession, username: str) -> None:
    """Forget an account's failures: after a successful login, or when an admin resets its password."""
    await session.execute(delete(LoginThrottle).where(LoginThrottle.kind == ACCOUNT,
                                                      LoginThrottle.key == account_key(username)))

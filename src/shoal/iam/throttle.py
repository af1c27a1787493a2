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

Every attempt is counted *before* its password is checked (:func:`reserve`) and
settled after (:func:`settle`): checking and counting as two steps would let
many parallel attempts all pass the check while a block was not yet written.
The reserving update is a compare-and-set — it only counts a key that is not
blocked — and from the threshold on it holds the key (``blocked_until`` a
little ahead) while that one attempt's password is checked, so past the
threshold one attempt per key runs at a time, however many arrive together.
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
from shoal.store.types import utcnow

__all__ = ["ACCOUNT", "ADDRESS", "HOLD_SECONDS", "Block", "Reservation", "account_key", "address_key",
           "backoff_seconds", "blocked", "clear_account", "forget_quiet", "reserve", "settle"]

ACCOUNT = "account"
ADDRESS = "address"
_KEY_LENGTH = 128
# 2**60 seconds is far beyond any cap; bounding the exponent keeps the float finite.
_MAX_DOUBLINGS = 60
#: How long a key at its threshold is held while its one attempt's password is checked (argon2 takes
#: well under a second; a server that dies meanwhile leaves the key blocked this long at most).
HOLD_SECONDS = 30.0


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


@dataclass(frozen=True)
class _Counted:
    kind: str
    key: str
    failures: int
    threshold: int
    held_until: datetime | None  # set when this attempt holds the key (at or past its threshold)


@dataclass(frozen=True)
class Reservation:
    """An attempt counted for its account and its address, to be settled once the password is checked."""

    counted: tuple[_Counted, ...]


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(LoginThrottle)
    return sqlite.insert(LoginThrottle)


async def _reserve_key(session: AsyncSession, kind: str, key: str, threshold: int, settings: AuthSettings,
                       now: datetime) -> _Counted | None:
    """Count one attempt for ``key`` unless it is blocked (None then); hold it from the threshold on."""
    await session.execute(_insert(session).values(kind=kind, key=key, failures=0, last_failure_at=now,
                                                   blocked_until=None).on_conflict_do_nothing())
    forgotten = now - timedelta(seconds=settings.login_forget_seconds)
    counted = case((LoginThrottle.last_failure_at < forgotten, 1), else_=LoginThrottle.failures + 1)
    hold = now + timedelta(seconds=HOLD_SECONDS)
    stmt = (update(LoginThrottle)
            .where(LoginThrottle.kind == kind, LoginThrottle.key == key,
                   or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now))
            .values(failures=counted, last_failure_at=now,
                    blocked_until=case((counted >= threshold, hold), else_=None))
            .returning(LoginThrottle.failures))
    failures = (await session.execute(stmt)).scalar_one_or_none()
    if failures is None:
        return None
    return _Counted(kind, key, int(failures), threshold, hold if failures >= threshold else None)


async def reserve(session: AsyncSession, username: str, source: str, settings: AuthSettings,
                  now: datetime) -> Reservation | None:
    """Count this attempt for its account and its address; None (nothing counted) when either is blocked.

    The account's row first, then the address's: concurrent attempts lock rows in one
    order, so they cannot deadlock on PostgreSQL. Run in a transaction of its own and
    commit it before the password is checked.
    """
    account = await _reserve_key(session, ACCOUNT, account_key(username), settings.login_account_failures,
                                 settings, now)
    if account is None:
        await session.rollback()
        return None
    address = await _reserve_key(session, ADDRESS, address_key(source), settings.login_address_failures,
                                 settings, now)
    if address is None:
        await session.rollback()
        return None
    return Reservation((account, address))


async def settle(session: AsyncSession, reservation: Reservation, settings: AuthSettings, *,
                 success: bool) -> None:
    """After the password check: a failure blocks each held key for its back-off; a success clears
    the account and gives the address its attempt back (releasing only a hold this attempt set)."""
    for counted in reservation.counted:
        match_key = (LoginThrottle.kind == counted.kind, LoginThrottle.key == counted.key)
        if success and counted.kind == ACCOUNT:
            await session.execute(delete(LoginThrottle).where(*match_key))
        elif success:
            released = case((LoginThrottle.blocked_until == counted.held_until, None),
                            else_=LoginThrottle.blocked_until) if counted.held_until else LoginThrottle.blocked_until
            await session.execute(update(LoginThrottle).where(*match_key).values(
                failures=case((LoginThrottle.failures > 0, LoginThrottle.failures - 1), else_=0),
                blocked_until=released))
            await session.execute(delete(LoginThrottle).where(  # nothing left to count: no row
                *match_key, LoginThrottle.failures <= 0, LoginThrottle.blocked_until.is_(None)))
        elif counted.held_until is not None:  # the wait runs from when the failure is known, not from its start
            wait = backoff_seconds(counted.failures, counted.threshold, settings) or 0.0
            await session.execute(update(LoginThrottle).where(
                *match_key, LoginThrottle.blocked_until == counted.held_until,
            ).values(blocked_until=utcnow() + timedelta(seconds=wait)))


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

"""The one login path: throttling, password verification and audit, for every way to log in.

Called by ``POST /api/v1/auth/login`` (web session over the API), ``POST
/api/v1/auth/token`` (``shoal login``) and the web login form; each then makes
its own credential (session cookie or API token) for the user returned here.

What it defends against:
- guessing passwords: failed logins are counted per account and per client
  address in the database (:mod:`shoal.iam.throttle`), and a blocked login is
  refused with :class:`Throttled` (429 with Retry-After) before any password
  is checked;
- telling which usernames exist by timing: an unknown, disabled or
  password-less account costs the same argon2 run as a known one (against a
  dummy hash) and the same writes;
- stalling the server: argon2 runs in a worker thread, not on the event loop.

API tokens are not throttled: they are 256-bit random strings
(``core.security.new_token``) looked up by their SHA-256, so no rate of
guessing could find one, and a lookup costs one indexed read.

Failures are recorded in their own transactions (the caller's rolls back when
the error propagates); a success is audited in the caller's transaction, with
the credential it then creates.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.core.config import AuthSettings
from shoal.core.errors import Throttled, Unauthenticated
from shoal.core.security import verify_password_or_dummy
from shoal.iam import throttle
from shoal.iam.accounts import load_principal
from shoal.iam.authz import Principal
from shoal.store.db import Database
from shoal.store.models import User
from shoal.store.types import utcnow

__all__ = ["password_login"]

log = logging.getLogger("shoal.iam.login")

_NAME_LENGTH = 64


async def password_login(
    db: Database, session: AsyncSession, settings: AuthSettings, username: str, password: str, *,
    source: str, via: str,
) -> tuple[User, Principal]:
    """Check ``username``/``password`` from ``source``; the user and their principal, or an error.

    Raises :class:`Throttled` while the account or the address is blocked, and
    :class:`Unauthenticated` (never saying whether the name or the password was
    wrong) otherwise. ``via`` names the path (``web``, ``api``, ``cli``) in the audit.
    """
    # PostgreSQL text cannot hold NUL and no username has one: such a name stays unknown but storable.
    name = username.strip()[:_NAME_LENGTH].replace("\x00", "\ufffd")
    now = utcnow()
    async with db.session() as counting:  # committed before the password is checked: see throttle.reserve
        reservation = await throttle.reserve(counting, name, source, settings, now)
    if reservation is None:
        block = await throttle.blocked(session, name, source, now)
        seconds = block.seconds if block is not None else 1
        async with db.session() as other:
            await audit.record(other, None, "auth.login", target_type="user", target_id=name, outcome="denied",
                               username=name, detail={"source": source, "via": via, "reason": "throttled",
                                                      "scope": block.scope if block else "account",
                                                      "retry_after": seconds})
        raise Throttled("error.login_throttled", error_code="login_throttled", hint="hint.login_throttled",
                        retry_after=seconds, seconds=seconds)
    user = await session.scalar(select(User).where(User.username == name))
    usable = user is not None and user.is_active and bool(user.password_hash)
    known_hash = user.password_hash if user is not None and usable else None
    ok = await asyncio.to_thread(verify_password_or_dummy, known_hash, password)
    if not ok or user is None:
        async with db.session() as other:
            await throttle.settle(other, reservation, settings, success=False)
            await audit.record(other, None, "auth.login", target_type="user", target_id=name, outcome="failure",
                               username=name, detail={"source": source, "via": via})
        try:
            async with db.session() as other:
                await throttle.forget_quiet(other, settings, now)
        except SQLAlchemyError:  # housekeeping only: the next failure tries again
            log.warning("could not forget quiet login counts", exc_info=True)
        raise Unauthenticated("error.bad_login")
    await throttle.settle(session, reservation, settings, success=True)
    principal = await load_principal(session, user, via=via, source=source)
    await audit.record(session, principal, "auth.login", target_type="user", target_id=user.username,
                       detail={"via": via})
    return user, principal

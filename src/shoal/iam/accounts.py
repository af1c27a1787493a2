"""Users, API tokens and web sessions.

Called by the API's auth dependency (every request resolves a token here), by
the login page, by the CLI's server-side commands and by start-up bootstrap.
Tokens are stored as SHA-256 digests; the plaintext is returned once.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from shoal.core.i18n import LANGUAGES
from shoal.core.security import hash_password, hash_token, new_token, verify_password
from shoal.iam.authz import Action, Principal, Role, require
from shoal.iam.throttle import clear_account
from shoal.store.models import ApiToken, Project, ProjectMember, User
from shoal.store.types import utcnow

__all__ = [
    "USERNAME_RE",
    "Bootstrap",
    "bootstrap_admin",
    "change_password",
    "create_token",
    "create_user",
    "get_user",
    "list_tokens",
    "list_users",
    "load_principal",
    "parse_duration",
    "reset_password",
    "resolve_token",
    "revoke_token",
    "saved_language",
    "set_language",
    "set_user_active",
]

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
MIN_PASSWORD = 8
_DURATION_RE = re.compile(r"^(\d+)([hdwy])$")
_DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
                   "y": timedelta(days=365)}
#: ``User.language`` of a user who never chose one: pages follow the browser (Accept-Language).
NO_LANGUAGE = ""
# Last-used stamps are advisory; rewriting them at most once a minute keeps reads write-free.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def parse_duration(text: str) -> timedelta | None:
    """Parse ``30d``, ``12h``, ``2w``, ``1y``; ``never`` gives None (no expiry)."""
    if text.strip().lower() in ("never", "0"):
        return None
    match = _DURATION_RE.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise Invalid("error.bad_duration", hint="hint.duration", field="expires", value=text)
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _check_username(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise Invalid("error.bad_username", hint="hint.username", field="username", value=username)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid("error.password_short", field="password", min=MIN_PASSWORD)


async def get_user(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("error.user_not_found", name=username)
    return user


async def list_users(session: AsyncSession, actor: Principal) -> list[User]:
    require(actor, Action.USER_MANAGE)
    return list((await session.scalars(select(User).order_by(User.username))).all())


async def _insert_user(
    session: AsyncSession, username: str, password: str | None, *, is_admin: bool, display_name: str = ""
) -> User:
    _check_username(username)
    if password is not None:
        _check_password(password)
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict("error.user_exists", name=username)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=await asyncio.to_thread(hash_password, password) if password else None,
        is_admin=is_admin,
        language=NO_LANGUAGE,
    )
    session.add(user)
    await session.flush()
    return user


async def create_user(
    session: AsyncSession,
    actor: Principal,
    username: str,
    password: str | None,
    *,
    is_admin: bool = False,
    display_name: str = "",
) -> User:
    require(actor, Action.USER_MANAGE)
    user = await _insert_user(session, username, password, is_admin=is_admin, display_name=display_name)
    await audit.record(session, actor, "user.create", target_type="user", target_id=username,
                       detail={"admin": is_admin})
    return user




async def _insert_token(
    session: AsyncSession, user: User, *, kind: str, name: str, expires_in: timedelta | None,
    created_by: str, plaintext: str | None = None,
) -> tuple[ApiToken, str]:
    token = plaintext or new_token()
    row = ApiToken(
        user_id=user.id,
        kind=kind,
        name=name,
        token_hash=hash_token(token),
        created_by=created_by,
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(row)
    await session.flush()
    return row, token


async def create_token(
    session: AsyncSession,
    actor: Principal,
    *,
    username: str | None = None,
    name: str = "",
    expires_in: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """Mint an API token for the actor, or (admins only) for another user."""
    target = username or actor.username
    if target != actor.username:
        require(actor, Action.USER_MANAGE)
    user = await get_user(session, target)
    row, token = await _insert_token(
        session, user, kind="api", name=name[:128], expires_in=expires_in, created_by=actor.username
    )
    await audit.record(session, actor, "token.create", target_type="token", target_id=str(row.id),
                       detail={"user": target, "name": row.name})
    return row, token


async def create_session(session: AsyncSession, user: User, hours: int) -> str:
    _, token = await _insert_token(
        session, user, kind="session", name="web", expires_in=timedelta(hours=hours), created_by=user.username
    )
    return token


async def end_session(session: AsyncSession, token: str) -> None:
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


async def resolve_token(session: AsyncSession, token: str, kinds: tuple[str, ...] = ("api",)) -> User:
    """Return the active user a bearer token belongs to, or raise Unauthenticated."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.kind not in kinds:
        raise Unauthenticated("error.bad_token")
    if row.revoked_at is not None:
        raise Unauthenticated("error.token_revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("error.token_expired")
    if not row.user.is_active:
        raise Unauthenticated("error.user_inactive")
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_GRANULARITY:
        row.last_used_at = now
    return row.user


async def list_tokens(session: AsyncSession, actor: Principal, username: str | None = None) -> list[ApiToken]:
    target = username or actor.username
    if target != actor.username:
        require(actor, Action.USER_MANAGE)
    user = await get_user(session, target)
    stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == "api").order_by(ApiToken.id)
    return list((await session.scalars(stmt)).all())


async def revoke_token(session: AsyncSession, actor: Principal, token_id: int) -> ApiToken:
    row = await session.get(ApiToken, token_id)
    if row is None or row.kind != "api":
        raise NotFound("error.token_not_found", id=token_id)
    if row.user_id != actor.user_id and not actor.is_admin:
        raise PermissionDenied("error.permission_denied_platform", error_code="error.permission_denied",
                               action=Action.USER_MANAGE.value)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    await audit.record(session, actor, "token.revoke", target_type="token", target_id=str(token_id),
                       detail={"user": row.user.username})
    return row


async def load_principal(session: AsyncSession, user: User, *, via: str = "api", source: str = "") -> Principal:
    rows = await session.execute(
        select(Project.code, ProjectMember.role)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == user.id)
    )
    roles = {code: Role(role) for code, role in rows.all()}
    return Principal(user_id=user.id, username=user.username, is_admin=user.is_admin, roles=roles,
                     via=via, source=source)


@dataclass(frozen=True)
class Bootstrap:
    """What the first start created, so the caller can tell the operator once."""

    username: str
    password: str | None
    password_generated: bool


async def bootstrap_admin(
    session: AsyncSession, *, password: str = "", token: str = ""
) -> Bootstrap | None:
    """Create the first admin on an empty database; do nothing if any user exists."""
    if (await session.scalar(select(func.count()).select_from(User))) != 0:
        return None
    generated = not password
    password = password or secrets.token_urlsafe(12)
    user = await _insert_user(session, "admin", password, is_admin=True, display_name="Administrator")
    if token:
        await _insert_token(session, user, kind="api", name="bootstrap", expires_in=None,
                            created_by="bootstrap", plaintext=token)
    await audit.record(session, None, "user.bootstrap", target_type="user", target_id="admin",
                       username="system")
    return Bootstrap(username="admin", password=password, password_generated=generated)


# -- account administration: disable/enable, passwords, the remembered UI language ----------------------------


async def _active_admins(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(User).where(User.is_admin.is_(True), User.is_active.is_(True))
    return int((await session.scalar(stmt)) or 0)


async def set_user_active(session: AsyncSession, actor: Principal, username: str, active: bool) -> User:
    """Disable or re-enable an account (admins only).

    A disabled user's API tokens, web sessions and gateway tokens stop working on
    their next request, because every resolver checks ``is_active``; nothing is
    revoked, so enabling the account again restores them. Admins cannot disable
    themselves, nor the last active admin (nobody could undo it).
    """
    require(actor, Action.USER_MANAGE)
    user = await get_user(session, username)
    if user.is_active == active:
        return user
    if not active:
        if user.id == actor.user_id:
            raise Conflict("error.disable_self", hint="hint.disable_self")
        if user.is_admin and await _active_admins(session) <= 1:
            raise Conflict("error.last_admin", hint="hint.last_admin", name=username)
    user.is_active = active
    await session.flush()
    await audit.record(session, actor, "user.enable" if active else "user.disable", target_type="user",
                       target_id=username)
    return user


async def _end_web_sessions(session: AsyncSession, user: User, *, keep: str | None = None) -> int:
    """Revoke ``user``'s web sessions (not their API tokens), except the one whose token is ``keep``."""
    stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == "session",
                                  ApiToken.revoked_at.is_(None))
    if keep:
        stmt = stmt.where(ApiToken.token_hash != hash_token(keep))
    rows = list((await session.scalars(stmt)).all())
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    return len(rows)


async def reset_password(session: AsyncSession, actor: Principal, username: str, password: str, *,
                         keep_session: str | None = None) -> User:
    """Set a user's password (admins only); their open web sessions end, API tokens stay.

    ``keep_session`` is the caller's own web session, kept when admins reset their own password.
    """
    require(actor, Action.USER_MANAGE)
    user = await get_user(session, username)
    _check_password(password)
    user.password_hash = await asyncio.to_thread(hash_password, password)
    await clear_account(session, username)  # the owner may log in with the new password at once
    ended = await _end_web_sessions(session, user, keep=keep_session if user.id == actor.user_id else None)
    await audit.record(session, actor, "user.password_reset", target_type="user", target_id=username,
                       detail={"sessions_ended": ended})
    return user


async def change_password(session: AsyncSession, actor: Principal, current: str, new: str, *,
                          keep_session: str | None = None) -> User:
    """Change your own password; the current one must be given.

    Your other web sessions end (``keep_session`` is the one you are using, if any);
    your API tokens keep working.
    """
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound("error.user_not_found", name=actor.username)
    if not user.password_hash:
        raise Conflict("error.no_password", hint="hint.no_password")
    if not current or not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise Invalid("error.current_password", hint="hint.current_password", field="current_password")
    _check_password(new)
    if new == current:
        raise Invalid("error.password_unchanged", field="new_password")
    user.password_hash = await asyncio.to_thread(hash_password, new)
    ended = await _end_web_sessions(session, user, keep=keep_session)
    await audit.record(session, actor, "user.password_change", target_type="user", target_id=user.username,
                       detail={"sessions_ended": ended})
    return user


async def set_language(session: AsyncSession, actor: Principal, language: str) -> User:
    """Remember the UI language ``actor`` chose (``zh-CN`` or ``en``); pages then prefer it to the browser's."""
    if language not in LANGUAGES:
        raise Invalid("error.bad_language", hint="hint.language", field="language", value=language,
                      choices=", ".join(LANGUAGES))
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound("error.user_not_found", name=actor.username)
    if user.language != language:
        user.language = language
        await audit.record(session, actor, "user.language", target_type="user", target_id=user.username,
                           detail={"language": language})
    return user


def saved_language(user: User) -> str | None:
    """The language ``user`` chose, or None to follow the browser."""
    return user.language if user.language in LANGUAGES else None

"""Shoal's one domain error hierarchy.

Every failure a user can cause or meet is one of these; routes, pages, the CLI
and websockets map them to their medium in one place each (``api.problems``).
Library exceptions are translated at the boundary with ``raise ... from e``.

    ShoalError                 base: code, message key, params, hint key
    ├── Invalid                400  the request is malformed or a value is wrong
    ├── Unauthenticated        401  no or bad credentials
    ├── PermissionDenied       403  authenticated, but lacks the right
    ├── NotFound               404  the named thing does not exist (or is hidden)
    ├── Conflict               409  the state of things forbids it now
    ├── Unprocessable          422  well-formed but semantically unacceptable
    ├── Throttled              429  too many attempts: wait ``retry_after`` seconds (sent as Retry-After)
    └── Unavailable            503  a system Shoal depends on (CMDB, a cluster…) did not answer
        └── ClusterUnreachable 503  a managed cluster did not answer, or refused Shoal's credential

Messages are keys into ``core.messages``; the text is chosen per language when
the error is rendered, so the same error reads well in zh-CN and en.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ClusterUnreachable",
    "Conflict",
    "Invalid",
    "NotFound",
    "PermissionDenied",
    "ShoalError",
    "Throttled",
    "Unauthenticated",
    "Unavailable",
    "Unprocessable",
]


class ShoalError(Exception):
    """A failure with a stable code, a localisable message and a hint on what to do."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        hint: str | None = None,
        field: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(message)
        self.message_key = message
        self.code = error_code or message
        self.hint_key = hint
        self.field = field
        self.params = params

    def __str__(self) -> str:
        from shoal.core.i18n import translate

        return translate(self.message_key, "en", **self.params)


class Invalid(ShoalError):
    """The request is malformed or a value is wrong."""

    status = 400


class Unauthenticated(ShoalError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    status = 401


class PermissionDenied(ShoalError):
    """The caller is known but lacks the right for this action."""

    status = 403


class NotFound(ShoalError):
    """The thing named does not exist (or the caller may not know it does)."""

    status = 404


class Conflict(ShoalError):
    """The current state forbids the change (duplicate, bound, in use)."""

    status = 409


class Unprocessable(ShoalError):
    """Well-formed input that fails validation."""

    status = 422


class Throttled(ShoalError):
    """Too many attempts (failed logins): the caller must wait ``retry_after`` seconds before the next."""

    status = 429

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))


class Unavailable(ShoalError):
    """A system Shoal depends on (BK-CMDB, a managed cluster, a cloud API) did not answer."""

    status = 503


class ClusterUnreachable(Unavailable):
    """A managed cluster could not be reached (DNS, TCP, TLS, timeout) or refused Shoal's credential."""

"""The login throttle's table: failed-login counts per account and per client address.

Kept in the database (not in process memory) so that every replica behind a
load balancer counts the same failures; see :mod:`shoal.iam.login`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoal.store.models import Base
from shoal.store.types import utcnow

__all__ = ["LoginThrottle"]


class LoginThrottle(Base):
    """Failed logins of one account (``kind='account'``) or from one address (``kind='address'``).

    ``failures`` counts failures since the count was last forgotten (``last_failure_at`` older
    than the configured forget time); ``blocked_until`` is when the next attempt is accepted.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_login_throttle_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(default=None)

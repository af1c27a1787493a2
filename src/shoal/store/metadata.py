"""The one MetaData that Alembic compares against: every model module is imported here."""

from __future__ import annotations

from shoal.store import models

target_metadata = models.Base.metadata

__all__ = ["target_metadata"]

"""Pick the business directory adapter named in the settings."""

from __future__ import annotations

from shoal.business.bkcmdb import BkCmdbDirectory
from shoal.business.builtin import BuiltinDirectory
from shoal.business.directory import BusinessDirectory
from shoal.core.config import BusinessSettings

__all__ = ["make_directory"]


def make_directory(settings: BusinessSettings) -> BusinessDirectory:
    if settings.directory == "bkcmdb":
        if not settings.cmdb_url:
            raise ValueError("SHOAL_BUSINESS__CMDB_URL is required when SHOAL_BUSINESS__DIRECTORY=bkcmdb")
        return BkCmdbDirectory(settings)
    if settings.directory == "builtin":
        return BuiltinDirectory()
    raise ValueError(f"unknown business directory {settings.directory!r}: use 'builtin' or 'bkcmdb'")

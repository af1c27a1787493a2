"""What a running Shoal process holds: settings, database, secret box, business directory.

Built once by the server, the worker, the CLI's server-side commands and the
tests, and passed explicitly to whoever needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.business.directory import BusinessDirectory
from shoal.business.factory import make_directory
from shoal.core.config import Settings
from shoal.core.security import SecretBox
from shoal.kube import addresses
from shoal.store.db import Database

__all__ = ["AppContext", "build_context"]


@dataclass
class AppContext:
    settings: Settings
    db: Database
    secrets: SecretBox
    directory: BusinessDirectory

    def __repr__(self) -> str:
        return f"AppContext(db={self.db!r}, directory={self.directory.name!r})"


def build_context(settings: Settings, directory: BusinessDirectory | None = None) -> AppContext:
    """The process's context; also installs the cluster address policy every connection to a cluster obeys
    (a bad ``SHOAL_CLUSTER_ADDRESS_POLICY`` stops start-up here with the entry it cannot read)."""
    addresses.install(addresses.AddressPolicy.parse(settings.cluster_address_policy, listen=settings.listen,
                                                    database_url=settings.effective_database_url))
    return AppContext(
        settings=settings,
        db=Database(settings.effective_database_url),
        secrets=SecretBox(settings.secret_key),
        directory=directory or make_directory(settings.business),
    )

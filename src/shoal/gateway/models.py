"""The gateway's own table: per-cluster gateway settings (impersonation on or off).

Gateway tokens themselves are ``api_tokens`` rows of kind ``gateway`` (with an
optional ``cluster_id``); this table only holds what belongs to the cluster.
A cluster without a row uses ``GatewaySettings.impersonate_default``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shoal.store.models import Base
from shoal.store.types import utcnow

__all__ = ["ClusterGateway"]


class ClusterGateway(Base):
    __tablename__ = "cluster_gateway"

    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True)
    impersonate: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

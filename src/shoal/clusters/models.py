"""Tables of managed clusters: the cluster, its nodes as last synced, and the id counters.

Status and id conventions follow the original platform (BCS cluster-manager):
ids ``BCS-K8S-<n>`` numbered per environment (stag from 15001, debug from
25001, prod from 40000) and the statuses of :class:`ClusterStatus`.

``credential`` holds the cluster's credential encrypted with ``SecretBox``;
it is never returned by the API nor logged. A kube-system namespace UID may be
registered by one cluster that is not DELETED (a partial unique index).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shoal.store.models import Base
from shoal.store.types import utcnow

__all__ = ["ENVIRONMENT_START", "Cluster", "ClusterId", "ClusterIdCounter", "ClusterNode", "ClusterStatus",
           "Environment"]

ClusterId = NewType("ClusterId", str)


class ClusterStatus(StrEnum):
    INITIALIZATION = "INITIALIZATION"
    RUNNING = "RUNNING"
    CREATE_FAILURE = "CREATE-FAILURE"
    IMPORT_FAILURE = "IMPORT-FAILURE"
    CONNECT_FAILURE = "CONNECT-FAILURE"
    DELETING = "DELETING"
    DELETED = "DELETED"
    DELETE_FAILURE = "DELETE-FAILURE"


class Environment(StrEnum):
    STAG = "stag"
    DEBUG = "debug"
    PROD = "prod"


#: First number of each environment's ids, as on the original platform.
ENVIRONMENT_START = {Environment.STAG: 15001, Environment.DEBUG: 25001, Environment.PROD: 40000}


class Cluster(Base):
    __tablename__ = "clusters"
    __table_args__ = (
        Index("ix_clusters_project_status", "project_code", "status"),
        Index("ix_clusters_health_due", "status", "health_next_at"),
        Index("uq_clusters_live_uid", "kube_system_uid", unique=True,
              sqlite_where=text("status != 'DELETED'"), postgresql_where=text("status != 'DELETED'")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    environment: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provider: Mapped[str] = mapped_column(String(32), default="kubeconfig")
    import_method: Mapped[str] = mapped_column(String(16), default="kubeconfig")
    status: Mapped[str] = mapped_column(String(16), default=ClusterStatus.INITIALIZATION.value)
    status_message: Mapped[str] = mapped_column(Text, default="")
    server_url: Mapped[str] = mapped_column(String(512), default="")
    kube_system_uid: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64), default="")
    master_count: Mapped[int] = mapped_column(Integer, default=0)
    node_count: Mapped[int] = mapped_column(Integer, default=0)
    credential: Mapped[str] = mapped_column(Text, default="")
    credential_user: Mapped[str] = mapped_column(String(128), default="")
    credential_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    import_task_id: Mapped[str | None] = mapped_column(String(36), default=None)
    creator: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # health loop: when to probe next, the last outcome, and since when it has been failing
    health_next_at: Mapped[datetime | None] = mapped_column(default=None)
    health_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    health_failures: Mapped[int] = mapped_column(Integer, default=0)
    health_error: Mapped[str] = mapped_column(Text, default="")
    health_failing_since: Mapped[datetime | None] = mapped_column(default=None)
    health_latency_ms: Mapped[float | None] = mapped_column(Float, default=None)

    nodes: Mapped[list[ClusterNode]] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", order_by="ClusterNode.name", lazy="noload")

    def __repr__(self) -> str:
        return f"Cluster(id={self.id!r}, project={self.project_code!r}, status={self.status!r}, credential=<hidden>)"


class ClusterNode(Base):
    """A node as the last sync saw it; the cluster's own API stays the truth."""

    __tablename__ = "cluster_nodes"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),
                      Index("ix_cluster_nodes_cluster_status", "cluster_id", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="node")
    internal_ip: Mapped[str] = mapped_column(String(64), default="")
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    unschedulable: Mapped[bool] = mapped_column(Boolean, default=False)
    kubelet_version: Mapped[str] = mapped_column(String(64), default="")
    os_image: Mapped[str] = mapped_column(String(255), default="")
    container_runtime: Mapped[str] = mapped_column(String(128), default="")
    cpu_capacity: Mapped[float] = mapped_column(Float, default=0.0)
    memory_capacity: Mapped[float] = mapped_column(Float, default=0.0)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Node management (R16, ``shoal.nodes.sync``): the status names of the original platform (RUNNING,
    # NOTREADY, UNKNOWN, REMOVABLE = cordoned, DELETING, REMOVE-FAILURE, REMOVED; "" until the first sync)
    # and what the node list shows, filters and sorts by without calling the cluster.
    status: Mapped[str] = mapped_column(String(16), default="", server_default="")
    status_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    uid: Mapped[str] = mapped_column(String(64), default="", server_default="")
    roles: Mapped[str] = mapped_column(String(255), default="", server_default="")
    kernel_version: Mapped[str] = mapped_column(String(128), default="", server_default="")
    cpu_allocatable: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    memory_allocatable: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    cpu_requested: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    memory_requested: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    cpu_share: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    memory_share: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    pods_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pods_limit: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    taints: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    #: ``\nkey=value\n`` per label, so a label filter is one LIKE on SQLite and PostgreSQL alike.
    labels_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    node_created_at: Mapped[datetime | None] = mapped_column(default=None)

    cluster: Mapped[Cluster] = relationship(back_populates="nodes")


class ClusterIdCounter(Base):
    """The next number of each environment's cluster ids; taken with an atomic UPDATE … RETURNING."""

    __tablename__ = "cluster_id_counters"

    environment: Mapped[str] = mapped_column(String(8), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer)

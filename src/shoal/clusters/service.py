"""Import, list, show, rotate the credential of, and delete managed clusters.

Who calls it: API routes, web pages and the demo; the CLI through the API.
Every operation is authorised with ``iam.authz.require`` against the cluster's
project (``cluster_create`` to check and import, ``cluster_view`` to read,
``cluster_manage`` to rotate the credential, ``cluster_delete`` to delete) and
audited in its own transaction.

Import (R17, R19): the server re-runs the kubeconfig check and proceeds only if
every check passes; then, in one transaction, it takes the next id of the
environment, stores the credential encrypted, creates the cluster
(INITIALIZATION) and its import task. The task's on-finish hook turns the
cluster RUNNING or IMPORT-FAILURE (``clusters.importing``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.clusters import importing as _importing  # noqa: F401  (registers the import task type)
from shoal.clusters.check import CheckReport, check_kubeconfig
from shoal.clusters.models import Cluster, ClusterIdCounter, ClusterNode, ClusterStatus, Environment
from shoal.clusters.overview import Overview, read_overview
from shoal.clusters.settings import ClusterSettings
from shoal.core.errors import Conflict, Invalid, NotFound, Unprocessable
from shoal.core.security import SecretBox, SecretDecryptError
from shoal.iam.authz import ROLE_ACTIONS, Action, Principal, ProjectRef, require, visible_project_codes
from shoal.kube import Credential
from shoal.projects.service import CLUSTER_COUNTERS
from shoal.store.models import Project
from shoal.store.types import utcnow
from shoal.tasks.service import create_task

__all__ = [
    "IMPORT_TASK",
    "ClusterFilter",
    "ClusterPage",
    "check",
    "count_clusters",
    "credential_of",
    "delete_cluster",
    "get_cluster",
    "import_cluster",
    "list_clusters",
    "list_nodes",
    "overview",
    "rotate_credential",
]

IMPORT_TASK = "blueking-ImportCluster"
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ClusterFilter:
    project_code: str | None = None
    status: str | None = None
    environment: str | None = None
    search: str = ""
    include_deleted: bool = False


@dataclass(frozen=True)
class ClusterPage:
    items: list[Cluster]
    total: int


def _live() -> Any:
    return Cluster.status != ClusterStatus.DELETED.value


async def count_clusters(session: AsyncSession, project_code: str) -> int:
    """Clusters (not deleted) of a project; registered so rebinding a project with clusters is refused."""
    return int(await session.scalar(
        select(func.count()).select_from(Cluster).where(Cluster.project_code == project_code, _live())) or 0)


if count_clusters not in CLUSTER_COUNTERS:
    CLUSTER_COUNTERS.append(count_clusters)


async def _lookup_uid(session: AsyncSession, uid: str) -> tuple[str, str, str] | None:
    row = (await session.execute(select(Cluster.id, Cluster.name, Cluster.project_code)
                                 .where(Cluster.kube_system_uid == uid, _live()))).first()
    return (row[0], row[1], row[2]) if row else None


async def _project(session: AsyncSession, code: str) -> Project:
    project = await session.scalar(select(Project).where(Project.code == code))
    if project is None:
        raise NotFound("error.project_not_found", code=code)
    return project


def _may_import_somewhere(actor: Principal) -> bool:
    return actor.is_admin or any(Action.CLUSTER_CREATE in ROLE_ACTIONS[role] for role in actor.roles.values())


async def check(session: AsyncSession, actor: Principal, project_code: str | None, kubeconfig: str,
                settings: ClusterSettings) -> CheckReport:
    """The kubeconfig check (R19) for someone who may import into ``project_code`` (or, without one, into
    some project: the CLI's ``shoal cluster check`` before choosing where to import)."""
    if project_code:
        require(actor, Action.CLUSTER_CREATE, ProjectRef(project_code))
        await _project(session, project_code)
    elif not _may_import_somewhere(actor):
        require(actor, Action.CLUSTER_CREATE, ProjectRef(""))
    return await check_kubeconfig(kubeconfig, settings=settings, lookup=lambda uid: _lookup_uid(session, uid))


def _validate(name: str, environment: str, description: str, labels: dict[str, str]) -> tuple[str, Environment]:
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise Invalid("error.cluster_name", field="name")
    try:
        env = Environment(environment)
    except ValueError as e:
        raise Invalid("error.cluster_environment", field="environment", value=environment) from e
    if len(description) > 1000:
        raise Invalid("error.cluster_description", field="description", max=1000)
    if len(labels) > 50 or any(not isinstance(v, str) or len(v) > 253 or len(k) > 63 or not _LABEL_KEY.match(k)
                               for k, v in labels.items()):
        raise Invalid("error.cluster_labels", field="labels")
    return name, env


async def _allocate_id(session: AsyncSession, environment: Environment) -> str:
    """Take the environment's next number with one atomic UPDATE … RETURNING (row-locked on PostgreSQL,
    serialised by the single writer on SQLite), so concurrent imports never share an id."""
    number = await session.scalar(
        update(ClusterIdCounter).where(ClusterIdCounter.environment == environment.value)
        .values(next_number=ClusterIdCounter.next_number + 1)
        .returning(ClusterIdCounter.next_number)
        .execution_options(synchronize_session=False))
    if number is None:
        raise RuntimeError(f"no id counter for environment {environment.value}")
    return f"BCS-K8S-{number - 1}"


def _refuse(report: CheckReport) -> Unprocessable:
    failure = report.failure
    assert failure is not None
    return Unprocessable(failure.message, error_code="cluster_check_failed", hint=failure.hint, field="kubeconfig",
                         **failure.params)


async def import_cluster(
    session: AsyncSession, actor: Principal, secrets: SecretBox, *, project_code: str, name: str,
    kubeconfig: str, settings: ClusterSettings, environment: str = "prod", description: str = "",
    labels: dict[str, str] | None = None,
) -> Cluster:
    """Check ``kubeconfig`` again, then register the cluster and queue its import task (R17)."""
    require(actor, Action.CLUSTER_CREATE, ProjectRef(project_code))
    labels = dict(labels or {})
    name, env = _validate(name, environment, description, labels)
    project = await _project(session, project_code)
    if not project.enabled:
        raise Conflict("error.cluster_project_disabled", hint="hint.cluster_enable_project", project=project_code)
    taken = (await session.execute(select(Cluster.id).where(
        Cluster.project_code == project_code, Cluster.name == name, _live()))).first()
    if taken is not None:
        raise Conflict("error.cluster_name_taken", field="name", project=project_code, name=name, id=taken[0])
    report = await check_kubeconfig(kubeconfig, settings=settings, lookup=lambda uid: _lookup_uid(session, uid))
    if not report.ok:
        raise _refuse(report)
    credential = report.credential
    cluster_id = await _allocate_id(session, env)
    now = utcnow()
    cluster = Cluster(
        id=cluster_id, project_code=project_code, name=name, environment=env.value, description=description,
        labels=labels, provider="kubeconfig", import_method="kubeconfig",
        status=ClusterStatus.INITIALIZATION.value, status_message="", server_url=credential.server,
        kube_system_uid=report.kube_system_uid, version=report.version,
        credential=secrets.encrypt(credential.to_json()), credential_user=report.user, credential_updated_at=now,
        creator=actor.username, created_at=now, updated_at=now,
    )
    session.add(cluster)
    try:
        await session.flush()
    except IntegrityError as e:  # a concurrent import of the same cluster won the race
        raise Conflict("error.cluster_duplicate", hint="hint.cluster_duplicate", id="?", name=name,
                       project=project_code) from e
    task = await create_task(session, IMPORT_TASK, project_code=project_code, creator=actor.username,
                             cluster_id=cluster_id, params={"name": name})
    cluster.import_task_id = task.id
    await audit.record(session, actor, "cluster.import", target_type="cluster", target_id=cluster_id,
                       project_code=project_code, detail={"name": name, "environment": env.value,
                                                          "server": credential.server, "task": task.id,
                                                          "kube_system_uid": report.kube_system_uid})
    return cluster


async def _load(session: AsyncSession, cluster_id: str) -> Cluster:
    cluster = await session.get(Cluster, cluster_id, populate_existing=True)
    if cluster is None:
        raise NotFound("error.cluster_not_found", id=cluster_id)
    return cluster


async def get_cluster(session: AsyncSession, actor: Principal, cluster_id: str,
                      action: Action = Action.CLUSTER_VIEW) -> Cluster:
    cluster = await _load(session, cluster_id)
    require(actor, action, cluster)
    if cluster.status == ClusterStatus.DELETED.value and action is not Action.CLUSTER_VIEW:
        raise NotFound("error.cluster_not_found", id=cluster_id)
    return cluster


async def list_clusters(session: AsyncSession, actor: Principal, flt: ClusterFilter, *, limit: int = 50,
                        offset: int = 0) -> ClusterPage:
    """Clusters of the projects ``actor`` may view (scoping in the query), newest first."""
    stmt = select(Cluster)
    if flt.project_code:
        require(actor, Action.CLUSTER_VIEW, ProjectRef(flt.project_code))
        stmt = stmt.where(Cluster.project_code == flt.project_code)
    else:
        codes = visible_project_codes(actor)
        if codes is not None:
            stmt = stmt.where(Cluster.project_code.in_(codes))
    if flt.status:
        stmt = stmt.where(Cluster.status == flt.status.upper())
    elif not flt.include_deleted:
        stmt = stmt.where(_live())
    if flt.environment:
        stmt = stmt.where(Cluster.environment == flt.environment)
    if flt.search:
        pattern = f"%{flt.search.strip()}%"
        stmt = stmt.where(or_(Cluster.id.ilike(pattern), Cluster.name.ilike(pattern),
                              Cluster.server_url.ilike(pattern)))
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await session.scalars(stmt.order_by(Cluster.created_at.desc(), Cluster.id.desc())
                                 .limit(limit).offset(offset))
    return ClusterPage(items=list(rows.all()), total=total)


async def list_nodes(session: AsyncSession, cluster: Cluster) -> list[ClusterNode]:
    """Nodes of an authorised ``cluster`` as last synced, masters first."""
    rows = await session.scalars(select(ClusterNode).where(ClusterNode.cluster_id == cluster.id)
                                 .order_by((ClusterNode.role == "master").desc(), ClusterNode.name))
    return list(rows.all())


def credential_of(cluster: Cluster, secrets: SecretBox) -> Credential:
    """The decrypted credential of ``cluster`` (callers have authorised the use)."""
    if not cluster.credential:
        raise Conflict("error.cluster_no_credential", hint="hint.cluster_rotate", id=cluster.id)
    try:
        return Credential.from_json(secrets.decrypt(cluster.credential))
    except (SecretDecryptError, ValueError, TypeError) as e:
        raise Conflict("error.cluster_no_credential", hint="hint.cluster_rotate", id=cluster.id) from e


async def rotate_credential(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str,
                            kubeconfig: str, settings: ClusterSettings) -> tuple[Cluster, CheckReport]:
    """Replace the kubeconfig of ``cluster_id`` with one for the same cluster (same kube-system UID)."""
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    report = await check_kubeconfig(kubeconfig, settings=settings, expect_uid=cluster.kube_system_uid)
    if not report.ok:
        raise _refuse(report)
    now = utcnow()
    cluster.credential = secrets.encrypt(report.credential.to_json())
    cluster.credential_user = report.user
    cluster.credential_updated_at = now
    cluster.server_url = report.credential.server
    cluster.version = report.version or cluster.version
    cluster.updated_at = now
    cluster.health_next_at = now  # probe with the new credential at once
    await audit.record(session, actor, "cluster.credential.rotate", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code, detail={"server": report.credential.server,
                                                                  "user": report.user})
    return cluster, report


async def delete_cluster(session: AsyncSession, actor: Principal, cluster_id: str, confirm: str) -> Cluster:
    """Forget a cluster: its credential, nodes and health records go; nothing inside the cluster changes."""
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_DELETE)
    if confirm != cluster.id:
        raise Invalid("error.cluster_confirm", hint="hint.cluster_confirm", field="confirm", id=cluster.id)
    if cluster.status in (ClusterStatus.INITIALIZATION.value, ClusterStatus.DELETING.value):
        raise Conflict("error.cluster_state", id=cluster.id, status=cluster.status)
    now = utcnow()
    await session.execute(delete(ClusterNode).where(ClusterNode.cluster_id == cluster.id))
    cluster.status = ClusterStatus.DELETED.value
    cluster.status_message = f"deleted by {actor.username}"
    cluster.credential = ""
    cluster.deleted_at = now
    cluster.updated_at = now
    cluster.health_next_at = None
    cluster.health_error = ""
    cluster.master_count = cluster.node_count = 0
    await audit.record(session, actor, "cluster.delete", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code, detail={"name": cluster.name})
    return cluster


async def overview(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str,
                   settings: ClusterSettings) -> Overview:
    """The live overview (R12) of a cluster ``actor`` may view."""
    cluster = await get_cluster(session, actor, cluster_id)
    if cluster.status == ClusterStatus.DELETED.value:
        raise Conflict("error.cluster_state", id=cluster.id, status=cluster.status)
    credential = credential_of(cluster, secrets)
    return await read_overview(credential, settings)

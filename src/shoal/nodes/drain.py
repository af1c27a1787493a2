"""Drain [Pod驱逐] (R16): which pods a drain touches and why, and the task that does it.

Who uses it: ``nodes.service`` calls :func:`plan` to show — before anything
starts — which pods will be evicted, skipped or refuse the drain, and creates
the ``shoal-DrainNodes`` task; a worker runs its steps:

1. ``cordonNodesTask``  mark every node unschedulable (idempotent);
2. ``evictPodsTask``    plan again (pods may have changed), refuse if a pod now
   blocks, then evict each pod through the Eviction API. A ``429`` means a
   PodDisruptionBudget forbids it *now*: the step waits and asks again with
   backoff (1 s doubling to 15 s) until the drain timeout, then fails naming the
   budget. This wait is inside the step, not an engine retry, because it is
   waiting for a condition with a deadline (as ``kubectl drain`` does) and
   its progress belongs in the live log;
3. ``waitPodsGoneTask`` wait until every evicted pod is gone (404, or a new pod
   with the same name — a different UID), each for at most its grace period
   plus a margin and never past the timeout; then refresh the node records.

Rules, as ``kubectl drain --ignore-daemonsets``: DaemonSet-managed pods and
mirror (static) pods are skipped; finished pods are deleted; pods without a
controller refuse the drain unless forced; pods with ``emptyDir`` volumes
refuse it unless their data may be deleted. Cluster calls that fail for
network reasons become ``TemporaryError`` (the engine retries the step).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.clusters.models import Cluster, ClusterNode
from shoal.clusters.settings import ClusterSettings
from shoal.core.errors import ClusterUnreachable, NotFound, ShoalError
from shoal.core.i18n import translate
from shoal.kube import JSON, KubeClient, connect
from shoal.kube import nodes as kn
from shoal.nodes.sync import sync_nodes
from shoal.tasks.models import Task, TaskStatus
from shoal.tasks.registry import REGISTRY, PermanentError, StepContext, TemporaryError

__all__ = ["DRAIN_TASK", "NodePlan", "PodPlan", "classify", "plan", "plan_node"]

DRAIN_TASK = "shoal-DrainNodes"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
#: Evictions in flight at once per drain (kubectl evicts every pod of a node concurrently; this bounds it).
EVICT_CONCURRENCY = 16
_BACKOFF_START, _BACKOFF_MAX = 1.0, 15.0
#: Seconds added to a pod's grace period while waiting for it to go (kubelet and API latency).
_GONE_MARGIN = 30


@dataclass
class PodPlan:
    """What a drain does to one pod: ``evict``, ``skip`` or ``refuse``, with the reasons (message keys)."""

    namespace: str
    name: str
    uid: str
    node: str
    action: str
    reasons: list[str] = field(default_factory=list)
    owner: str = ""
    grace: int = 30

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class NodePlan:
    node: str
    pods: list[PodPlan]

    def of(self, action: str) -> list[PodPlan]:
        return [p for p in self.pods if p.action == action]


def _controller(pod: JSON) -> JSON | None:
    return next((o for o in (pod.get("metadata") or {}).get("ownerReferences") or [] if o.get("controller")), None)


def classify(pod: JSON, *, force: bool, delete_emptydir: bool) -> PodPlan:
    """Decide what a drain does to ``pod``: the rules of ``kubectl drain --ignore-daemonsets``."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    controller = _controller(pod)
    owner = f"{controller.get('kind', '')}/{controller.get('name', '')}" if controller else ""
    grace = spec.get("terminationGracePeriodSeconds")
    result = PodPlan(str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", "")),
                     str(spec.get("nodeName", "")), "evict", [], owner, int(grace if grace is not None else 30))
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        result.action, result.reasons = "skip", ["node.pod.mirror"]
        return result
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        result.reasons = ["node.pod.finished"]
        return result
    if controller is not None and controller.get("kind") == "DaemonSet":
        result.action, result.reasons = "skip", ["node.pod.daemonset"]
        return result
    refusals: list[str] = []
    if controller is None:
        if force:
            result.reasons.append("node.pod.unmanaged_forced")
        else:
            refusals.append("node.pod.unmanaged")
    if any("emptyDir" in v for v in spec.get("volumes") or []):
        if delete_emptydir:
            result.reasons.append("node.pod.emptydir_deleted")
        else:
            refusals.append("node.pod.emptydir")
    if refusals:
        result.action, result.reasons = "refuse", refusals
    elif not result.reasons:
        result.reasons = ["node.pod.controller"]
    return result


async def plan_node(kube: KubeClient, node: str, *, force: bool, delete_emptydir: bool) -> NodePlan:
    pods = await kn.list_pods_on(kube, node)
    plans = [classify(p, force=force, delete_emptydir=delete_emptydir) for p in pods]
    return NodePlan(node, sorted(plans, key=lambda p: (p.action, p.namespace, p.name)))


async def plan(kube: KubeClient, nodes: list[str], *, force: bool, delete_emptydir: bool) -> list[NodePlan]:
    """What a drain of ``nodes`` would do now (every node must exist)."""
    for node in nodes:
        await kn.get_node(kube, node)
    return [await plan_node(kube, n, force=force, delete_emptydir=delete_emptydir) for n in nodes]


def refusal_text(plans: list[NodePlan], lang: str = "en") -> str:
    lines = [f"{p.ref} on {p.node}: " + "; ".join(translate(r, lang) for r in p.reasons)
             for np in plans for p in np.of("refuse")]
    return "\n".join(lines)


# -- the task ------------------------------------------------------------------------------------------------

async def _cluster(ctx: StepContext) -> tuple[Cluster, Any]:
    if ctx.app is None or ctx.cluster_id is None:
        raise PermanentError("the drain task needs the application context and a cluster id")
    from shoal.clusters.service import credential_of

    async with ctx.db.session() as session:
        cluster = await session.get(Cluster, ctx.cluster_id)
        if cluster is None:
            raise PermanentError(f"cluster {ctx.cluster_id} no longer exists")
        try:
            return cluster, credential_of(cluster, ctx.app.secrets)
        except ShoalError as e:
            raise PermanentError(str(e)) from e


def _temporary(e: ShoalError) -> Exception:
    return TemporaryError(str(e), delay=2.0) if isinstance(e, ClusterUnreachable) else PermanentError(str(e))


def _nodes(ctx: StepContext) -> list[str]:
    return [str(n) for n in ctx.params.get("nodes") or []]


@REGISTRY.step("cordonNodesTask", title_en="Cordon the nodes", title_zh="停止调度", timeout=120, max_retries=3)
async def cordon_step(ctx: StepContext) -> None:
    cluster, credential = await _cluster(ctx)
    try:
        async with connect(credential, call_timeout=ClusterSettings().request_timeout) as kube:
            changed = []
            for name in _nodes(ctx):
                node = await kn.get_node(kube, name)
                if (node.get("spec") or {}).get("unschedulable"):
                    await ctx.log.info(f"{name}: already cordoned (SchedulingDisabled)")
                    changed.append(node)
                    continue
                changed.append(await kn.patch_node(kube, name, {"spec": {"unschedulable": True}}))
                await ctx.log.info(f"{name}: cordoned (SchedulingDisabled)")
            async with ctx.db.session() as session:
                await sync_nodes(session, cluster, kube, changed, message=f"draining (task {ctx.task_id})")
    except ShoalError as e:
        await ctx.log.error(str(e))
        raise _temporary(e) from e


class _Blocked(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


async def _evict_one(ctx: StepContext, kube: KubeClient, pod: PodPlan, deadline: float,
                     grace: int | None) -> bool:
    """Evict one pod, waiting (with backoff) while a disruption budget blocks it; False if it was already gone."""
    delay = _BACKOFF_START
    body: JSON = {"metadata": {"namespace": pod.namespace, "name": pod.name}}
    live = await kn.get_pod(kube, pod.namespace, pod.name)
    if live is None:
        return False
    body = live
    announced = False
    while True:
        ctx.check_cancelled()
        try:
            accepted = await kn.evict_pod(kube, body, grace_seconds=grace)
        except kn.EvictionBlocked as e:
            budgets = str(e.params.get("budgets", "?"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Blocked(f"pod {pod.ref} could not be evicted before the timeout: PodDisruptionBudget "
                               f"{budgets} does not allow the disruption") from e
            if not announced:
                await ctx.log.warning(f"{pod.ref}: eviction refused by PodDisruptionBudget {budgets}; "
                                      f"retrying with backoff for up to {remaining:.0f}s")
                announced = True
            await ctx.sleep(min(delay, max(remaining, 0.05)))
            delay = min(delay * 2, _BACKOFF_MAX)
            continue
        if accepted:
            await ctx.log.info(f"{pod.ref}: evicted ({', '.join(translate(r, 'en') for r in pod.reasons)})")
        return accepted


@REGISTRY.step("evictPodsTask", title_en="Evict the pods", title_zh="驱逐 Pod", timeout=900, max_retries=3)
async def evict_step(ctx: StepContext) -> None:
    _, credential = await _cluster(ctx)
    force, allow = bool(ctx.params.get("force")), bool(ctx.params.get("delete_emptydir_data"))
    timeout = float(ctx.params.get("timeout_seconds") or 300)
    grace = ctx.params.get("grace_period")
    deadline = time.monotonic() + timeout
    evicted: list[dict[str, Any]] = []
    gate = asyncio.Semaphore(EVICT_CONCURRENCY)
    try:
        async with connect(credential, call_timeout=ClusterSettings().request_timeout) as kube:
            plans = [await plan_node(kube, n, force=force, delete_emptydir=allow) for n in _nodes(ctx)]
            refused = refusal_text(plans)
            if refused:
                await ctx.log.error("pods that block the drain:\n" + refused)
                raise PermanentError("these pods block the drain (use force / delete emptyDir data):\n" + refused)
            for np in plans:
                skipped = np.of("skip")
                if skipped:
                    await ctx.log.info(f"{np.node}: skipping {len(skipped)} pods: " + ", ".join(
                        f"{p.ref} ({translate(p.reasons[0], 'en')})" for p in skipped))
                todo = np.of("evict")
                await ctx.log.info(f"{np.node}: evicting {len(todo)} pods")

                async def one(p: PodPlan) -> None:
                    async with gate:
                        if await _evict_one(ctx, kube, p, deadline, None if grace is None else int(grace)):
                            evicted.append({"namespace": p.namespace, "name": p.name, "uid": p.uid,
                                            "node": p.node, "grace": p.grace if grace is None else int(grace)})

                results = await asyncio.gather(*(one(p) for p in todo), return_exceptions=True)
                failures = [r for r in results if isinstance(r, BaseException)]
                if failures:
                    raise failures[0]
    except _Blocked as e:
        await ctx.log.error(str(e))
        raise PermanentError(str(e)) from e
    except ShoalError as e:
        await ctx.log.error(str(e))
        raise _temporary(e) from e
    ctx.state["evicted"] = evicted
    await ctx.log.info(f"{len(evicted)} pods evicted")


@REGISTRY.step("waitPodsGoneTask", title_en="Wait until the evicted pods are gone", title_zh="等待 Pod 退出",
               timeout=900, max_retries=3)
async def wait_step(ctx: StepContext) -> None:
    cluster, credential = await _cluster(ctx)
    timeout = float(ctx.params.get("timeout_seconds") or 300)
    start = time.monotonic()
    pending = list(ctx.state.get("evicted") or [])
    try:
        async with connect(credential, call_timeout=ClusterSettings().request_timeout) as kube:
            # Pods still terminating on the nodes count too (say, evicted by an earlier attempt of the step).
            known = {p["uid"] for p in pending}
            for name in _nodes(ctx):
                for pod in await kn.list_pods_on(kube, name):
                    meta = pod.get("metadata") or {}
                    if meta.get("deletionTimestamp") and meta.get("uid") not in known:
                        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
                        pending.append({"namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
                                        "uid": meta.get("uid", ""), "node": name,
                                        "grace": int(grace if grace is not None else 30)})
            while pending:
                ctx.check_cancelled()
                waiting = []
                for pod in pending:
                    live = await kn.get_pod(kube, pod["namespace"], pod["name"])
                    if live is None or (live.get("metadata") or {}).get("uid") != pod["uid"]:
                        await ctx.log.info(f"{pod['namespace']}/{pod['name']}: gone")
                        continue
                    waiting.append(pod)
                pending = waiting
                if not pending:
                    break
                elapsed = time.monotonic() - start
                limit = min(timeout, max(int(p.get("grace", 30)) for p in pending) + _GONE_MARGIN)
                if elapsed > limit:
                    names = ", ".join(f"{p['namespace']}/{p['name']}" for p in pending)
                    raise PermanentError(f"pods still terminating after {elapsed:.0f}s: {names}")
                await ctx.log.info(f"waiting for {len(pending)} pods to terminate")
                await ctx.sleep(1.0)
            nodes = []
            for name in _nodes(ctx):
                try:
                    nodes.append(await kn.get_node(kube, name))
                except NotFound:
                    continue
            async with ctx.db.session() as session:
                await sync_nodes(session, cluster, kube, nodes, with_pods=True)
    except ShoalError as e:
        await ctx.log.error(str(e))
        raise _temporary(e) from e
    await ctx.log.info(f"drained {', '.join(_nodes(ctx))}")


async def on_finish(session: AsyncSession, task: Task) -> None:
    """In the transaction ending the drain: the node records say how it went."""
    if task.cluster_id is None:
        return
    if task.status == TaskStatus.SUCCESS.value:
        message = f"drained by {task.creator} (task {task.id})"
    else:
        message = f"drain {task.status.lower()} (task {task.id}): {task.message}"[:2000]
    names = [str(n) for n in (task.params or {}).get("nodes") or []]
    exists = await session.scalar(select(Cluster.id).where(Cluster.id == task.cluster_id))
    if exists is None or not names:
        return
    await session.execute(update(ClusterNode).where(ClusterNode.cluster_id == task.cluster_id,
                                                    ClusterNode.name.in_(names))
                          .values(status_message=message).execution_options(synchronize_session=False))


REGISTRY.task_type(DRAIN_TASK, title_en="Drain nodes", title_zh="节点 Pod 驱逐",
                   steps=["cordonNodesTask", "evictPodsTask", "waitPodsGoneTask"], on_finish=on_finish)


def plan_dict(plans: list[NodePlan], lang: str) -> list[dict[str, Any]]:
    """Plain data of a plan for schemas and templates, reasons translated."""
    out = []
    for np in plans:
        pods = []
        for p in np.pods:
            item = asdict(p)
            item["reason_text"] = "; ".join(translate(r, lang) for r in p.reasons)
            pods.append(item)
        out.append({"node": np.node, "pods": pods, "evict": len(np.of("evict")), "skip": len(np.of("skip")),
                    "refuse": len(np.of("refuse"))})
    return out

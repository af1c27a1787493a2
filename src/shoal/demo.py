"""``make demo``: the embedded default with something to look at.

Starts the real server (SQLite in ``./data/demo`` unless SHOAL_DATA_DIR says
otherwise) after seeding a business maintained by admin and a project bound to
it, and prints where to go and how to log in. Seeding is idempotent, so running
``make demo`` again keeps what you did last time.

It also starts kubesim (an in-memory Kubernetes API server, in a thread, on a
loopback port) and imports its cluster into the 'demo' project, so a newcomer
sees a RUNNING cluster with nodes on first start. kubesim forgets everything when
it stops, so on the next start the cluster imported last time (now another
kube-system UID) is deleted from Shoal and the new one imported in its place.
Its kubeconfigs are written to ``<data dir>/kubesim/``; the one printed for kubectl
(``<data dir>/admin-kubeconfig.yaml``) goes through Shoal's gateway as admin, over
the HTTPS the server serves by default, trusting the CA it generated.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from kubesim.runner import Simulator
from shoal.business.builtin import add_business
from shoal.clusters import service as clusters
from shoal.clusters.models import Cluster, ClusterStatus
from shoal.clusters.settings import ClusterSettings
from shoal.context import AppContext
from shoal.core.config import Settings, load_settings, write_private
from shoal.core.logging import configure_logging
from shoal.gateway.kubeconfig import issue_kubeconfig
from shoal.gateway.tls import ca_pem, tls_files
from shoal.iam.accounts import get_user, load_principal
from shoal.kube import access
from shoal.projects.service import create_project, enable_project
from shoal.server import PASSWORD_FILE, prepare, serve
from shoal.store.models import Business, Project

DEMO_BUSINESS = (100, "演示业务 Demo Business")
DEMO_PROJECT = ("demo", "演示项目 Demo")
SANDBOX_PROJECT = ("sandbox", "沙箱 Sandbox (not enabled yet)")
DEMO_CLUSTER = "kubesim-demo"


async def seed(ctx: AppContext) -> None:
    """Create the demo business and projects once; leave them alone on later runs."""
    async with ctx.db.session() as session:
        admin = await load_principal(session, await get_user(session, "admin"), via="demo")
        if await session.get(Business, DEMO_BUSINESS[0]) is None:
            await add_business(session, admin, DEMO_BUSINESS[0], DEMO_BUSINESS[1], ["admin"])
        for code, name in (DEMO_PROJECT, SANDBOX_PROJECT):
            if await session.scalar(select(Project.id).where(Project.code == code)) is None:
                await create_project(session, admin, code, name, "Created by make demo.")
        admin = await load_principal(session, await get_user(session, "admin"), via="demo")
        demo = await session.scalar(select(Project).where(Project.code == DEMO_PROJECT[0]))
        if demo is not None and not demo.enabled:
            await enable_project(session, admin, ctx.directory, DEMO_PROJECT[0], DEMO_BUSINESS[0])
    await ctx.db.dispose()


async def seed_cluster(ctx: AppContext, sim: Simulator) -> str:
    """Import the kubesim cluster into the demo project (replacing the one of an earlier run); return its id."""
    async with ctx.db.session() as session:
        admin = await load_principal(session, await get_user(session, "admin"), via="demo")
        old = await session.scalar(select(Cluster).where(
            Cluster.project_code == DEMO_PROJECT[0], Cluster.name == DEMO_CLUSTER,
            Cluster.status != ClusterStatus.DELETED.value))
        if old is not None and old.kube_system_uid == sim.cluster().kube_system_uid:
            return old.id
        if old is not None:
            if old.status == ClusterStatus.INITIALIZATION.value:
                old.status = ClusterStatus.IMPORT_FAILURE.value
            await clusters.delete_cluster(session, admin, old.id, old.id)
    async with ctx.db.session() as session:
        cluster = await clusters.import_cluster(
            session, admin, ctx.secrets, project_code=DEMO_PROJECT[0], name=DEMO_CLUSTER,
            kubeconfig=sim.kubeconfig("admin"), settings=ClusterSettings(), environment="debug",
            description="kubesim, started by make demo", labels={"demo": "true"})
        cluster_id = cluster.id
    await ctx.db.dispose()
    return cluster_id


DEMO_KUBECONFIG = "admin-kubeconfig.yaml"


async def gateway_kubeconfig(ctx: AppContext, cluster_id: str) -> Path:
    """Issue admin a kubeconfig for the demo cluster through the gateway (7 days) and write it to the data dir."""
    settings = ctx.settings
    async with ctx.db.session() as session:
        admin = await load_principal(session, await get_user(session, "admin"), via="demo")
        issued = await issue_kubeconfig(session, admin, cluster_id, base_url=settings.base_url,
                                        expires_in=timedelta(days=7), ca_pem=ca_pem(settings))
    await ctx.db.dispose()
    path = settings.data_dir / DEMO_KUBECONFIG
    write_private(path, issued.kubeconfig)
    return path.resolve()


def kubectl_command() -> str:
    """The kubectl to print: the one installed next to this Python (make setup puts it there), else PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else "kubectl"


def banner(settings: Settings, cluster_line: str = "") -> str:
    password_file = settings.data_dir / PASSWORD_FILE
    if settings.admin_password:
        how = "password from SHOAL_ADMIN_PASSWORD"
    elif password_file.exists():
        how = f"password: {password_file.read_text().strip()}  (from {password_file})"
    else:
        how = "the password you set earlier"
    return "\n".join([
        "",
        "  Shoal demo is starting",
        f"  URL:      {settings.base_url}/",
        *_trust_lines(settings),
        f"  Log in:   admin / {how}",
        f"  Data dir: {settings.data_dir.resolve()}  (delete it to start over)",
        *([cluster_line] if cluster_line else []),
        "  Stop:     Ctrl-C",
        "",
    ])


def _trust_lines(settings: Settings) -> list[str]:
    """Where the generated CA is, so the user can trust it in the browser (HTTPS is the default)."""
    files = tls_files(settings)
    if files is None or files.ca is None or not settings.tls_generated:
        return []
    return [f"  HTTPS:    certificate signed by Shoal's own CA {files.ca.resolve()}",
            "            import it into the browser's trusted authorities (or accept the warning once)"]


def grant_shoal_groups(sim: Simulator) -> None:
    """Create Shoal's access objects (``shoal.kube.access``) in the kubesim cluster, so the gateway
    (kubeconfig button, console) works in the demo as on a cluster Shoal has set up.

    They are real ClusterRoles/ClusterRoleBindings in kubesim's store, evaluated by its RBAC
    like a real API server's; an object already there is replaced (idempotent)."""
    cluster = sim.cluster()
    for obj in access.desired_objects():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        group = obj["apiVersion"].split("/")[0]
        name = obj["metadata"]["name"]
        if cluster.store.try_get(cluster.rt(plural, group), "", name) is None:
            cluster.create(plural, obj, group=group)
        else:
            cluster.store.update(cluster.rt(plural, group), obj, check_rv=False)


def demo_address_policy() -> str:
    """kubesim listens on 127.0.0.1, which the cluster address policy refuses by default: the demo
    allows that one address explicitly, on top of whatever SHOAL_CLUSTER_ADDRESS_POLICY says."""
    return ";".join(filter(None, [os.environ.get("SHOAL_CLUSTER_ADDRESS_POLICY", ""), "allow=127.0.0.1"]))


def main() -> None:
    os.environ.setdefault("SHOAL_DATA_DIR", "data/demo")
    os.environ.setdefault("SHOAL_DEMO", "true")  # the demo task type may be started (Settings.demo)
    settings = load_settings(cluster_address_policy=demo_address_policy())
    configure_logging(settings.log_level, as_json=False)
    ctx, _ = asyncio.run(prepare(settings))
    asyncio.run(seed(ctx))
    sim = Simulator(nodes=4, out_dir=settings.data_dir / "kubesim").start()
    grant_shoal_groups(sim)
    try:
        cluster_id = asyncio.run(seed_cluster(ctx, sim))
        kubeconfig = asyncio.run(gateway_kubeconfig(ctx, cluster_id))
        line = (f"  Cluster:  {cluster_id} (kubesim at {sim.url}) in project '{DEMO_PROJECT[0]}'\n"
                f"  kubectl through Shoal's gateway, as admin (once the server is up):\n"
                f"            {kubectl_command()} --kubeconfig {kubeconfig} get nodes")
        print(banner(settings, line), flush=True)
        serve(settings, ctx)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()

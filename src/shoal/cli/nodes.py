"""``shoal node …``: node management through the API (R16).

``list``, ``show``, ``cordon``/``uncordon``, ``drain`` (shows which pods it
evicts, skips or is refused by, then follows the drain task live: steps and
log lines), ``label`` and ``taint`` in kubectl's syntax (``k=v``, ``k-``,
``k=v:NoSchedule``), ``remove``. Several nodes may be given at once (a batch,
10 at most by default). Label and taint arguments are checked here by the same
rules as on the server, so a typo fails before any request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import typer

from shoal.cli.client import ApiClient, _language, fail, out
from shoal.cli.lookups import require_cluster
from shoal.cli.output import Column, NoHeadersOpt, detail_output, list_output, print_data, render_list
from shoal.cli.tasks import COLOURS, follow

if TYPE_CHECKING:
    from rich.table import Table

    from shoal.core.errors import Invalid

node_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Nodes of a cluster (节点管理): list, cordon, drain, labels, taints.")

OutputOpt = list_output(("table", "json", "yaml", "name"))


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f}Gi"


def _share(value: float) -> str:
    return f"{value * 100:.0f}%"


KUBE_STATUS_COLOURS = {"Ready": "green", "Ready,SchedulingDisabled": "yellow", "NotReady": "red",
                       "NotReady,SchedulingDisabled": "red", "Unknown": "red"}
NODE_COLUMNS = [
    Column("name", lambda n: n["name"]), Column("status", lambda n: n["kube_status"], colours=KUBE_STATUS_COLOURS),
    Column("roles", lambda n: ",".join(n["roles"]) or "<none>"), Column("internal_ip", lambda n: n["internal_ip"]),
    Column("version", lambda n: n["kubelet_version"]),
    Column("cpu_req", lambda n: f"{_share(n['cpu_share'])} of {n['cpu_allocatable']:g}"),
    Column("mem_req", lambda n: f"{_share(n['memory_share'])} of {_gib(n['memory_allocatable'])}"),
    Column("pods", lambda n: f"{n['pods_used']}/{n['pods_limit']}"), Column("taints", lambda n: len(n["taints"])),
    Column("os_image", lambda n: n["os_image"], wide=True), Column("kernel", lambda n: n["kernel_version"], wide=True),
    Column("runtime", lambda n: n["container_runtime"], wide=True),
]


def _invalid(e: Invalid) -> None:
    from shoal.core.i18n import translate

    lang = _language()
    fail(translate(e.message_key, lang, **e.params), translate(e.hint_key, lang, **e.params) if e.hint_key else None)


def _names(nodes: list[str]) -> list[str]:
    return [n for arg in nodes for n in arg.split(",") if n]


@node_app.command("list")
def node_list(cluster: str = typer.Argument(..., help="Cluster id, e.g. BCS-K8S-40000"),
              search: str = typer.Option("", "--search", "-s"), status: list[str] = typer.Option(None, "--status"),
              role: str = typer.Option("", "--role"), label: str = typer.Option("", "--label", "-l"),
              sort: str = typer.Option("name", "--sort"), limit: int = typer.Option(500, "--limit"),
              offset: int = typer.Option(0, "--offset"),
              refresh: bool = typer.Option(False, "--refresh", help="Re-read the cluster first"),
              output: str = list_output(), no_headers: bool = NoHeadersOpt) -> None:
    """List a cluster's nodes (kubectl-like columns plus requested CPU/memory; -o wide adds OS, kernel, runtime)."""
    client = ApiClient()
    require_cluster(client, cluster)
    page = client.get("/api/v1/nodes", cluster=cluster, search=search or None, status=status or None,
                      role=role or None, label=label or None, sort=sort, limit=limit, offset=offset,
                      refresh=str(refresh).lower())
    render_list(page, page["items"], NODE_COLUMNS, output, kind="node", name=lambda n: n["name"],
                no_headers=no_headers, total=page["total"])


@node_app.command("show")
def node_show(cluster: str = typer.Argument(...), node: str = typer.Argument(...),
              output: str = detail_output()) -> None:
    """A node now: conditions, addresses, capacity, its pods, recent events."""
    d = ApiClient().get(f"/api/v1/clusters/{cluster}/nodes/{node}")
    if output != "table":
        print_data(d, output)
        return
    from rich.console import Group
    from rich.table import Table

    n = d["node"]
    head = Table.grid(padding=(0, 2))
    for key, value in (("Name", n["name"]), ("Status", f"{n['kube_status']} ({n['status']})"),
                       ("Roles", ",".join(n["roles"]) or "<none>"), ("Internal IP", n["internal_ip"]),
                       ("Kubelet", n["kubelet_version"]), ("OS / kernel", f"{n['os_image']} / {n['kernel_version']}"),
                       ("Runtime", n["container_runtime"]),
                       ("CPU", f"{n['cpu_requested']:g} requested of {n['cpu_allocatable']:g} allocatable"),
                       ("Memory", f"{_gib(n['memory_requested'])} requested of {_gib(n['memory_allocatable'])}"),
                       ("Pods", f"{n['pods_used']}/{n['pods_limit']}"),
                       ("Labels", ", ".join(f"{k}={v}" for k, v in n["labels"].items())),
                       ("Taints", ", ".join(f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in n["taints"])),
                       ("Note", n["status_message"])):
        head.add_row(key, str(value))
    conditions = Table("TYPE", "STATUS", "REASON", "MESSAGE", title="Conditions")
    for c in d["conditions"]:
        conditions.add_row(c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", ""))
    pods = Table("NAMESPACE", "NAME", "PHASE", "OWNER", "CPU", "MEMORY", title="Pods")
    for p in d["pods"]:
        pods.add_row(p["namespace"], p["name"], p["phase"], p["owner"], f"{p['cpu_requested']:g}",
                     _gib(p["memory_requested"]))
    events = Table("TIME", "TYPE", "REASON", "MESSAGE", title="Events")
    for e in d["events"]:
        events.add_row(e["time"][:19], e["type"], e["reason"], e["message"])
    out.print(Group(head, conditions, pods, events))


def _changed(rows: list[dict[str, Any]], output: str) -> None:
    if output in ("json", "yaml"):
        print_data(rows, output)
    else:
        for n in rows:
            typer.echo(f"node/{n['name']}" + ("" if output == "name" else f" {n['kube_status']}"))


@node_app.command("cordon")
def node_cordon(cluster: str = typer.Argument(...), nodes: list[str] = typer.Argument(...),
                output: str = OutputOpt) -> None:
    """Mark nodes unschedulable (停止调度)."""
    _changed(ApiClient().post(f"/api/v1/clusters/{cluster}/nodes/cordon", {"nodes": _names(nodes)}), output)


@node_app.command("uncordon")
def node_uncordon(cluster: str = typer.Argument(...), nodes: list[str] = typer.Argument(...),
                  output: str = OutputOpt) -> None:
    """Mark nodes schedulable again (允许调度)."""
    _changed(ApiClient().post(f"/api/v1/clusters/{cluster}/nodes/uncordon", {"nodes": _names(nodes)}), output)


def parse_duration(text: str) -> float:
    """``300``, ``90s``, ``5m``, ``1h`` or ``1h30m`` as seconds."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or match is None:
        fail(f"'{text}' is not a duration.", "Use 300, 90s, 5m or 1h.")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _plan_table(plans: list[dict[str, Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table("NODE", "POD", "ACTION", "WHY")
    styles = {"evict": "", "skip": "dim", "refuse": "red"}
    for np in plans:
        for p in np["pods"]:
            table.add_row(np["node"], f"{p['namespace']}/{p['name']}", Text(p["action"], style=styles[p["action"]]),
                          p["reason_text"])
    return table


@node_app.command("drain")
def node_drain(cluster: str = typer.Argument(...), nodes: list[str] = typer.Argument(...),
               force: bool = typer.Option(False, "--force", help="Also evict pods without a controller (lost)"),
               delete_emptydir: bool = typer.Option(False, "--delete-emptydir-data",
                                                    help="Also evict pods using emptyDir (their data is lost)"),
               timeout: str = typer.Option("5m", "--timeout", help="How long to wait for evictions"),
               grace_period: int = typer.Option(-1, "--grace-period", help="Seconds per pod (-1: the pod's own)"),
               dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would happen"),
               wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the task until it ends")) -> None:
    """Drain nodes (Pod驱逐): cordon, evict through the Eviction API honouring PodDisruptionBudgets, wait."""
    client = ApiClient()
    body: dict[str, Any] = {"nodes": _names(nodes), "force": force, "delete_emptydir_data": delete_emptydir}
    preview = client.post(f"/api/v1/clusters/{cluster}/nodes/drain/preview", body)
    out.print(_plan_table(preview["nodes"]))
    if dry_run:
        raise typer.Exit(0 if preview["ok"] else 1)
    body.update(timeout_seconds=parse_duration(timeout), grace_period=grace_period)
    started = client.post(f"/api/v1/clusters/{cluster}/nodes/drain", body)
    task = started["task"]
    out.print(f"drain task {task['id']} started")
    if not wait:
        return
    task = follow(client, task, tail_lines=15, interval=0.5)
    from rich.text import Text

    out.print(Text(f"drain {task['status']}", style=COLOURS.get(task["status"], "")))
    raise typer.Exit(0 if task["status"] == "SUCCESS" else 1)


@node_app.command("label")
def node_label(cluster: str = typer.Argument(...), node: str = typer.Argument(..., help="A node, or a,b,c"),
               changes: list[str] = typer.Argument(..., help="key=value to set, key- to remove"),
               output: str = OutputOpt) -> None:
    """Set or remove labels (kubectl syntax: tier=web tier-)."""
    from shoal.core.errors import Invalid
    from shoal.nodes.validation import parse_label_args

    try:
        parsed = parse_label_args(changes)
    except Invalid as e:
        _invalid(e)
        return
    _changed(ApiClient().post(f"/api/v1/clusters/{cluster}/nodes/labels",
                              {"nodes": _names([node]), "labels": {c.key: c.value for c in parsed}}), output)


@node_app.command("taint")
def node_taint(cluster: str = typer.Argument(...), node: str = typer.Argument(..., help="A node, or a,b,c"),
               changes: list[str] = typer.Argument(..., help="key=value:Effect to add, key:Effect- or key- to remove"),
               output: str = OutputOpt) -> None:
    """Add or remove taints (kubectl syntax: dedicated=gpu:NoSchedule dedicated-)."""
    from shoal.core.errors import Invalid
    from shoal.nodes.validation import parse_taint_args

    try:
        parsed = parse_taint_args(changes)
    except Invalid as e:
        _invalid(e)
        return
    add = [{"key": c.key, "value": c.value, "effect": c.effect} for c in parsed if not c.remove]
    remove = [{"key": c.key, "effect": c.effect} for c in parsed if c.remove]
    _changed(ApiClient().post(f"/api/v1/clusters/{cluster}/nodes/taints",
                              {"nodes": _names([node]), "add": add, "remove": remove}), output)


@node_app.command("remove")
def node_remove(cluster: str = typer.Argument(...), node: str = typer.Argument(...),
                force: bool = typer.Option(False, "--force", help="Remove even if not cordoned and drained"),
                yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation")) -> None:
    """Delete the Node object (only once cordoned and drained, unless --force)."""
    if force and not yes:
        typed = typer.prompt(f"Forcing skips the drain checks. Type the node name '{node}' to confirm")
        if typed != node:
            fail("Not confirmed.")
    row = ApiClient().request("DELETE", f"/api/v1/clusters/{cluster}/nodes/{node}",
                              params={"force": str(force).lower(), "confirm": node if force else ""})
    out.print(f"node/{row['name']} {row['status']}: {row['status_message']}")


def register(app: typer.Typer) -> None:
    app.add_typer(node_app, name="node")

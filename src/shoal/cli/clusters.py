"""``shoal cluster …``: test a kubeconfig, import a cluster, list, show, overview, replace the credential, delete.

Client commands: they talk to the server's API (``SHOAL_URL`` + ``SHOAL_TOKEN``
or ``shoal login``). ``check`` exits 1 when a check fails, so scripts can gate
an import on it; ``import --wait`` exits 1 unless the cluster ends RUNNING.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shoal.cli.client import ApiClient, fail, language, out
from shoal.cli.lookups import require_project
from shoal.cli.output import Column, NoHeadersOpt, detail_output, list_output, print_data, render_list

if TYPE_CHECKING:
    from rich.text import Text

cluster_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Clusters: import by kubeconfig (导入集群), overview (总览).")

OutputOpt = detail_output()
KubeconfigOpt = typer.Option(..., "--kubeconfig", "-f", help="kubeconfig file ('-' reads standard input)")
COLOURS = {"RUNNING": "green", "INITIALIZATION": "blue", "IMPORT-FAILURE": "red", "CREATE-FAILURE": "red",
           "CONNECT-FAILURE": "red", "DELETING": "yellow", "DELETED": "dim", "DELETE-FAILURE": "red"}


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _read(path: str) -> str:
    """A kubeconfig file (or standard input) as text, refused with a message, never a traceback.

    Read as bytes, at most the server's limit (256 KiB) plus one; then UTF-8 and YAML are
    checked here (the same parser the server uses: no anchors, bounded depth), so a binary
    or mistyped file is named before anything is sent.
    """
    from shoal.core.i18n import translate
    from shoal.kube.kubeconfig import MAX_BYTES, KubeconfigProblem, load_yaml

    lang = language()
    shown = "standard input" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with Path(path).expanduser().open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except OSError as e:
        fail(translate("cli.file.unreadable", lang, path=shown, reason=e.strerror or type(e).__name__),
             translate("hint.cli.file", lang))
    if len(data) > MAX_BYTES:
        fail(translate("cli.file.too_large", lang, path=shown, max=MAX_BYTES // 1024), translate("hint.cli.file", lang))
    if data.startswith(_UTF16_BOMS):
        fail(translate("cli.file.utf16", lang, path=shown), translate("hint.cli.utf16", lang))
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        fail(translate("cli.file.not_utf8", lang, path=shown, offset=e.start), translate("hint.cli.file", lang))
    try:
        load_yaml(text)
    except KubeconfigProblem as e:
        fail(translate("cli.file.not_yaml", lang, path=shown, problem=translate(e.key, lang, **e.params)),
             translate(e.hint, lang))
    return text


CLUSTER_COLUMNS = [
    Column("id", lambda c: c["id"]), Column("name", lambda c: c["name"]),
    Column("project", lambda c: c["project_code"]),
    Column("env", lambda c: c["environment"]), Column("status", lambda c: c["status"], colours=COLOURS),
    Column("version", lambda c: c["version"]), Column("masters", lambda c: c["master_count"]),
    Column("nodes", lambda c: c["node_count"]), Column("provider", lambda c: c["provider"]),
    Column("server", lambda c: c["server_url"], wide=True), Column("creator", lambda c: c["creator"], wide=True),
    Column("created", lambda c: c["created_at"][:19], wide=True),
    Column("last_error", lambda c: c["health_error"] or c["status_message"]),
]


def _status(value: str) -> Text:
    from rich.text import Text

    return Text(value, style=COLOURS.get(value, ""))


def _print_checks(report: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table("", "CHECK", "RESULT", show_lines=False)
    for item in report["checks"]:
        mark = Text("-", style="dim") if item["skipped"] else (
            Text("✓", style="green") if item["passed"] else Text("✗", style="bold red"))
        result = Text(item["message"], style="dim" if item["skipped"] else "")
        if item.get("warning"):
            result.append(f"\n⚠ {item['warning']}", style="yellow")
        if item.get("hint") and not item["passed"] and not item["skipped"]:
            result.append(f"\n→ {item['hint']}", style="yellow")
        table.add_row(mark, item["title"], result)
    out.print(table)
    out.print(Text("All checks passed: the cluster can be imported." if report["ok"]
                   else "The check failed: fix what is named above and test again.",
                   style="green" if report["ok"] else "red"))


@cluster_app.command("check")
def check(kubeconfig: str = KubeconfigOpt,
          project: str = typer.Option(None, "--project", "-p", help="Project you mean to import into"),
          output: str = OutputOpt) -> None:
    """Test a kubeconfig (有效性测试): reachable, TLS, cluster-admin, not yet imported. Exits 1 on failure."""
    report = ApiClient().post("/api/v1/clusters/check", {"project": project, "kubeconfig": _read(kubeconfig)})
    if output != "table":
        print_data(report, output)
    else:
        _print_checks(report)
    raise typer.Exit(0 if report["ok"] else 1)


@cluster_app.command("import")
def import_cluster(
    project: str = typer.Option(..., "--project", "-p"), name: str = typer.Option(..., "--name"),
    kubeconfig: str = KubeconfigOpt,
    environment: str = typer.Option("prod", "--environment", "-e", help="stag, debug or prod"),
    description: str = typer.Option("", "--description"),
    label: list[str] = typer.Option(None, "--label", "-l", help="key=value (repeatable)"),
    wait: bool = typer.Option(False, "--wait", help="Wait for the import task; exit 1 unless RUNNING"),
    timeout: float = typer.Option(600, "--timeout", help="Seconds to wait with --wait"),
) -> None:
    """Import a cluster by kubeconfig (the server checks it again first); prints the cluster id."""
    labels = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--label {item!r} is not key=value")
        labels[key] = value
    client = ApiClient()
    cluster = client.post("/api/v1/clusters", {"project": project, "name": name, "environment": environment,
                                               "description": description, "labels": labels,
                                               "kubeconfig": _read(kubeconfig)})
    typer.echo(cluster["id"])
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while cluster["status"] == "INITIALIZATION" and time.monotonic() < deadline:
        time.sleep(1)
        cluster = client.get(f"/api/v1/clusters/{cluster['id']}")
    if cluster["status"] != "RUNNING":
        fail(f"cluster {cluster['id']} is {cluster['status']}: {cluster['status_message']}",
             f"See the import log: shoal task logs {cluster['import_task_id']}")
    err_free = f"{cluster['id']} RUNNING: {cluster['version']}, {cluster['master_count']} masters, " \
               f"{cluster['node_count']} nodes"
    typer.echo(err_free, err=True)


@cluster_app.command("list")
def list_clusters(project: str = typer.Option(None, "--project", "-p"),
                  status: str = typer.Option(None, "--status"), environment: str = typer.Option(None, "--environment"),
                  search: str = typer.Option("", "--search", "-s"), limit: int = typer.Option(50, "--limit"),
                  offset: int = typer.Option(0, "--offset"), output: str = list_output(),
                  no_headers: bool = NoHeadersOpt) -> None:
    """List clusters you may view (-o wide adds the API server, creator and creation time)."""
    client = ApiClient()
    require_project(client, project)
    page = client.get("/api/v1/clusters", project=project, status=status, environment=environment,
                      search=search or None, limit=limit, offset=offset)
    render_list(page, page["items"], CLUSTER_COLUMNS, output, kind="cluster", name=lambda c: c["id"],
                no_headers=no_headers, total=page["total"])


@cluster_app.command("show")
def show(cluster_id: str = typer.Argument(...), output: str = OutputOpt) -> None:
    """Show a cluster and its nodes as last synced."""
    client = ApiClient()
    cluster = client.get(f"/api/v1/clusters/{cluster_id}")
    nodes = client.get(f"/api/v1/clusters/{cluster_id}/nodes")
    if output != "table":
        print_data({**cluster, "nodes": nodes}, output)
        return
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(padding=(0, 2))
    for label, value in (("Cluster", f"{cluster['id']}  {cluster['name']}"), ("Project", cluster["project_code"]),
                         ("Environment", cluster["environment"]), ("Status", _status(cluster["status"])),
                         ("Server", cluster["server_url"]), ("Version", cluster["version"]),
                         ("Identity", cluster["credential_user"]), ("Import task", cluster["import_task_id"] or "")):
        head.add_row(label, value)
    if cluster["status_message"]:
        head.add_row("Message", Text(cluster["status_message"], style="red"))
    if cluster["health_error"]:
        head.add_row("Health", Text(f"{cluster['health_error']} (since {cluster['health_failing_since']})",
                                    style="red"))
    out.print(head)
    table = Table("NODE", "ROLE", "IP", "STATUS", "KUBELET", title="Nodes")
    for n in nodes:
        state = "Ready" if n["ready"] else "NotReady"
        table.add_row(n["name"], n["role"], n["internal_ip"],
                      state + (",SchedulingDisabled" if n["unschedulable"] else ""), n["kubelet_version"])
    out.print(table)


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


@cluster_app.command("overview")
def overview(cluster_id: str = typer.Argument(...), output: str = OutputOpt) -> None:
    """The cluster overview (总览), read live from the cluster."""
    data = ApiClient().get(f"/api/v1/clusters/{cluster_id}/overview")
    if output != "table":
        print_data(data, output)
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_row("Kubernetes", data["version"])
    for label in ("masters", "nodes"):
        c = data[label]
        grid.add_row(label.capitalize(), f"{c['total']} ({c['ready']} Ready, {c['not_ready']} NotReady, "
                                         f"{c['scheduling_disabled']} SchedulingDisabled)")
    cpu, mem, pods = data["cpu"], data["memory"], data["pods"]
    grid.add_row("CPU", f"{cpu['allocatable']:g} of {cpu['capacity']:g} cores allocatable, "
                        f"{_share(cpu['requested_share'])} requested, usage {_share(cpu['usage_share'])}")
    grid.add_row("Memory", f"{_gib(mem['allocatable'])} of {_gib(mem['capacity'])} allocatable, "
                           f"{_share(mem['requested_share'])} requested, usage {_share(mem['usage_share'])}")
    grid.add_row("Pods", f"{pods['running']} running of {pods['total']} (capacity {pods['allocatable']})")
    grid.add_row("Namespaces", str(data["namespaces"]))
    out.print(grid)
    for note in data["notes"]:
        out.print(Text(note, style="yellow"))
    if data["warnings"]:
        table = Table("TIME", "NAMESPACE", "OBJECT", "REASON", "MESSAGE", title="Recent warnings")
        for w in data["warnings"]:
            table.add_row(w["time"], w["namespace"], w["object"], w["reason"], w["message"])
        out.print(table)


@cluster_app.command("credential")
def credential(cluster_id: str = typer.Argument(...), kubeconfig: str = KubeconfigOpt) -> None:
    """Replace a cluster's kubeconfig with one for the same cluster (same kube-system UID)."""
    result = ApiClient().request("PUT", f"/api/v1/clusters/{cluster_id}/credential",
                                 json={"kubeconfig": _read(kubeconfig)})
    typer.echo(f"{cluster_id}: credential replaced (identity {result['cluster']['credential_user']})")


@cluster_app.command("delete")
def delete(cluster_id: str = typer.Argument(...),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation")) -> None:
    """Delete a cluster from Shoal (its credential and records); nothing inside the cluster is changed."""
    if not yes:
        typed = typer.prompt(f"Type the cluster id ({cluster_id}) to delete it from Shoal")
        if typed.strip() != cluster_id:
            fail("not confirmed; nothing was deleted")
    result = ApiClient().request("DELETE", f"/api/v1/clusters/{cluster_id}", params={"confirm": cluster_id})
    typer.echo(result["note"])


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")

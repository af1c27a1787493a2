"""``shoal task …`` (follow and steer tasks through the API) and ``shoal worker`` (run more task workers).

``task show --watch`` and ``task logs -f`` poll the API once a second: the
status, the step timeline and the newest log lines update in place (rich Live).
``shoal worker`` is server-side: it reads the same ``SHOAL_*`` settings as the
server and talks to the database directly.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from shoal.cli.client import ApiClient, fail, out, output_json
from shoal.cli.lookups import require_cluster, require_project
from shoal.cli.output import Column, NoHeadersOpt, detail_output, list_output, print_data, render_list

if TYPE_CHECKING:
    from rich.console import Group
    from rich.text import Text

task_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Tasks: follow creation and other long operations (查看日志).")

OutputOpt = detail_output()
FINAL = {"SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED"}
COLOURS = {"SUCCESS": "green", "FAILURE": "red", "TIMEOUT": "red", "CANCELLED": "yellow", "RUNNING": "cyan",
           "INITIALIZING": "blue", "NOTSTARTED": "dim", "SKIP": "yellow"}
LEVELS = {"info": "", "warning": "yellow", "error": "red"}


def _status(value: str) -> Text:
    from rich.text import Text

    return Text(value, style=COLOURS.get(value, ""))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


TASK_COLUMNS = [
    Column("id", lambda t: t["id"]), Column("type", lambda t: t["task_type"]),
    Column("status", lambda t: t["status"], colours=COLOURS), Column("project", lambda t: t["project_code"]),
    Column("cluster", lambda t: t["cluster_id"] or ""), Column("step", lambda t: t["current_step"]),
    Column("done", lambda t: f"{t['steps_done']}/{t['steps_total']}"),
    Column("created", lambda t: t["created_at"][:19].replace("T", " ")),
    Column("duration", lambda t: _duration(t["duration_seconds"])),
    Column("creator", lambda t: t["creator"], wide=True), Column("message", lambda t: t.get("message", ""), wide=True),
]


def _log_line(line: dict[str, Any]) -> Text:
    from rich.text import Text

    text = Text(f"{line['time'][11:19]} ", style="dim")
    if line["step_name"]:
        text.append(f"[{line['step_name']}] ", style="bold")
    text.append(line["message"], style=LEVELS.get(line["level"], ""))
    return text


def _detail_view(task: dict[str, Any], tail: list[dict[str, Any]]) -> Group:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(padding=(0, 2))
    head.add_row("Task", f"{task['id']}  {task['title']} ({task['task_type']})")
    head.add_row("Status", _status(task["status"] + (" (cancel requested)" if task["cancel_requested"]
                                                     and task["status"] not in FINAL else "")))
    head.add_row("Project / cluster", f"{task['project_code']} / {task['cluster_id'] or '-'}")
    head.add_row("Creator", task["creator"])
    head.add_row("Created", task["created_at"][:19].replace("T", " "))
    head.add_row("Duration", _duration(task["duration_seconds"]))
    if task["message"]:
        head.add_row("Message", Text(task["message"], style="red" if task["status"] != "SUCCESS" else ""))
    steps = Table("#", "STEP", "TITLE", "STATUS", "ATTEMPTS", "DURATION", "MESSAGE", title="Steps")
    for index, s in enumerate(task["steps"], 1):
        steps.add_row(str(index), s["name"], s["title"], _status(s["status"]), str(s["attempts"]),
                      _duration(s["duration_seconds"]), s["message"])
    parts: list[Any] = [head, steps]
    if tail:
        parts.append(Panel(Group(*[_log_line(x) for x in tail]), title="Log (newest)", title_align="left"))
    return Group(*parts)


@task_app.command("list")
def task_list(
    project: str = typer.Option(None, "--project", "-p"), cluster: str = typer.Option(None, "--cluster"),
    task_type: str = typer.Option(None, "--type"), status: str = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit"), offset: int = typer.Option(0, "--offset"),
    output: str = list_output(), no_headers: bool = NoHeadersOpt,
) -> None:
    """List tasks you may view, newest first (-o wide adds the creator and the message)."""
    client = ApiClient()
    require_project(client, project)
    require_cluster(client, cluster)
    page = client.get("/api/v1/tasks", project=project, cluster=cluster, type=task_type, status=status,
                      limit=limit, offset=offset)
    render_list(page, page["items"], TASK_COLUMNS, output, kind="task", name=lambda t: t["id"],
                no_headers=no_headers, total=page["total"])


@task_app.command("show")
def task_show(task_id: str = typer.Argument(...), watch: bool = typer.Option(False, "--watch", "-w",
                                                                                help="Update live until it ends"),
              output: str = OutputOpt) -> None:
    """Show a task: status, step timeline, messages (and with --watch, live with the log tail)."""
    client = ApiClient()
    task = client.get(f"/api/v1/tasks/{task_id}")
    if output != "table":
        print_data(task, output)
        return
    if not watch:
        out.print(_detail_view(task, []))
        return
    task = follow(client, task)
    raise typer.Exit(0 if task["status"] == "SUCCESS" else 1)


def follow(client: ApiClient, task: dict[str, Any], *, tail_lines: int = 12, interval: float = 1.0) -> dict[str, Any]:
    """Show ``task`` live (steps and the newest log lines) until it has ended and its last lines are in.

    Used by ``task show --watch`` and by commands that start a task and wait for it (``node drain``).
    Returns the task as it ended.
    """
    from rich.live import Live

    tail: list[dict[str, Any]] = []
    cursor = 0
    with Live(_detail_view(task, tail), console=out.real, refresh_per_second=4) as live:
        while True:
            logs = client.get(f"/api/v1/tasks/{task['id']}/logs", after=cursor)
            cursor = logs["next_cursor"]
            tail = (tail + logs["items"])[-tail_lines:]
            task = client.get(f"/api/v1/tasks/{task['id']}")
            live.update(_detail_view(task, tail))
            if task["status"] in FINAL and not logs["items"]:
                return task
            time.sleep(interval)


@task_app.command("logs")
def task_logs(task_id: str = typer.Argument(...),
              follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until it ends"),
              step: str = typer.Option(None, "--step", help="Only this step's lines"),
              output: str = list_output(("table", "json"))) -> None:
    """Print a task's log lines (查看日志)."""
    client = ApiClient()
    cursor = 0
    while True:
        page = client.get(f"/api/v1/tasks/{task_id}/logs", after=cursor, step=step)
        for line in page["items"]:
            if output == "json":
                output_json(line)
            else:
                out.print(_log_line(line), highlight=False)
        cursor = page["next_cursor"]
        if not follow or (page["final"] and not page["items"]):
            break
        if not page["items"]:
            time.sleep(1)
    if follow:
        from rich.text import Text

        out.print(Text(f"task ended {page['task_status']}", style=COLOURS.get(page["task_status"], "")))
        raise typer.Exit(0 if page["task_status"] == "SUCCESS" else 1)


def _operate(task_id: str, operation: str) -> None:
    task = ApiClient().post(f"/api/v1/tasks/{task_id}/{operation}")
    typer.echo(f"task {task['id']}: {task['status']}" + (" (cancel requested)" if task["cancel_requested"]
                                                           and task["status"] not in FINAL else ""))


@task_app.command("retry")
def task_retry(task_id: str = typer.Argument(...)) -> None:
    """Retry a FAILURE/TIMEOUT task at its failed step (finished steps are not re-run)."""
    _operate(task_id, "retry")


@task_app.command("skip")
def task_skip(task_id: str = typer.Argument(...)) -> None:
    """Skip the failed step (if it allows skipping) and continue with the next."""
    _operate(task_id, "skip")


@task_app.command("cancel")
def task_cancel(task_id: str = typer.Argument(...)) -> None:
    """Cancel a task; a running step is told and the task ends CANCELLED."""
    _operate(task_id, "cancel")


@task_app.command("demo")
def task_demo(project: str = typer.Option(..., "--project", "-p"),
              lines: int = typer.Option(10, "--lines"), interval: float = typer.Option(1.0, "--interval"),
              fail_step: bool = typer.Option(False, "--fail", help="Make the check step fail (to try retry/skip)"),
              watch: bool = typer.Option(False, "--watch", "-w")) -> None:
    """Start the demo task (a few steps that write log lines) and print its id."""
    task = ApiClient().post("/api/v1/tasks", {"type": "shoal-DemoTask", "project": project,
                                              "params": {"lines": lines, "interval": interval, "fail": fail_step}})
    typer.echo(task["id"])
    if watch:
        task_show(task["id"], watch=True, output="table")


def worker(
    concurrency: int = typer.Option(None, "--concurrency", "-c", help="Tasks run at the same time"),
    lease: float = typer.Option(None, "--lease", help="Lease seconds (SHOAL_WORKER_LEASE_SECONDS)"),
    poll: float = typer.Option(None, "--poll", help="Idle poll interval in seconds"),
    imports: list[str] = typer.Option(None, "--import", help="Extra module registering step/task types"),
) -> None:
    """Run a task worker against the server's database (add as many as you like)."""
    import asyncio
    import signal

    from shoal.cli.server_cmds import settings_or_exit
    from shoal.context import build_context
    from shoal.core.logging import configure_logging
    from shoal.tasks.worker import WorkerSettings, load_task_modules, run_worker

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_json)
    overrides = {k: v for k, v in {"concurrency": concurrency, "lease_seconds": lease, "poll_interval": poll}.items()
                 if v is not None}
    worker_settings = WorkerSettings(**overrides)  # type: ignore[arg-type]
    worker_settings.imports = [*worker_settings.imports, *(imports or [])]
    try:
        load_task_modules(worker_settings.imports)
    except ImportError as e:
        fail(f"cannot import task module: {e}")
    ctx = build_context(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        assert current is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, current.cancel)
        try:
            await run_worker(ctx, worker_settings)
        except asyncio.CancelledError:
            pass
        finally:
            await ctx.db.dispose()

    print(f"task worker started (concurrency {worker_settings.concurrency}, "
          f"lease {worker_settings.lease_seconds:g}s)", flush=True)
    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")
    app.command("worker")(worker)

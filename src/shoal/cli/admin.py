"""Client commands for projects, businesses, permission requests and the audit log."""

from __future__ import annotations

from typing import Any

import typer

from shoal.cli.client import ApiClient, fail
from shoal.cli.lookups import require_project
from shoal.cli.output import Column, NoHeadersOpt, detail_output, list_output, render_list, yes_no

project_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Projects and enabling the container service.")
member_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Project members.")
business_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="The business directory.")
request_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Permission requests (申请权限).")

OutputOpt = list_output()


def _business(p: dict[str, Any]) -> str:
    return f"{p['business_id']} {p['business_name']}" if p["business_id"] else ""


def _target(r: dict[str, Any]) -> str:
    return f"business {r['business_id']}" if r["kind"] == "business" else f"{r['project_code']}:{r['role']}"


PROJECT_COLUMNS = [
    Column("code", lambda p: p["code"]), Column("name", lambda p: p["name"]),
    Column("enabled", lambda p: yes_no(p["enabled"])), Column("business", _business),
    Column("managers", lambda p: ", ".join(p["managers"] or [])), Column("my_role", lambda p: p["my_role"] or ""),
    Column("description", lambda p: p.get("description", ""), wide=True),
]
MEMBER_COLUMNS = [Column("user", lambda m: m["username"]), Column("role", lambda m: m["role"])]
BUSINESS_COLUMNS = [Column("id", lambda b: b["id"]), Column("name", lambda b: b["name"]),
                    Column("maintainers", lambda b: ", ".join(b["maintainers"]))]
REQUEST_COLUMNS = [
    Column("id", lambda r: r["id"]), Column("requester", lambda r: r["requester"]), Column("kind", lambda r: r["kind"]),
    Column("target", _target), Column("reason", lambda r: r["reason"]), Column("status", lambda r: r["status"]),
    Column("decided_by", lambda r: r["decided_by"]),
]
AUDIT_COLUMNS = [
    Column("time", lambda e: e["time"][:19]), Column("user", lambda e: e["username"]),
    Column("action", lambda e: e["action"]), Column("target", lambda e: f"{e['target_type']} {e['target_id']}".strip()),
    Column("project", lambda e: e["project_code"] or ""),
    Column("outcome", lambda e: e["outcome"], colours={"denied": "red", "failed": "red", "success": "green"}),
    Column("source", lambda e: e["source"]),
]


@project_app.command("create")
def project_create(
    code: str = typer.Argument(..., help="Project code: lowercase letters, digits and '-'"),
    name: str = typer.Option(..., "--name", help="Display name"),
    description: str = typer.Option("", "--description"),
) -> None:
    """Create a project; you become its manager."""
    body = ApiClient().post("/api/v1/projects", {"code": code, "name": name, "description": description})
    typer.echo(f"created project {body['code']} ({body['name']})")


@project_app.command("list")
def project_list(search: str = typer.Option("", "--search"), limit: int = typer.Option(50, "--limit"),
                 offset: int = typer.Option(0, "--offset"), output: str = OutputOpt,
                 no_headers: bool = NoHeadersOpt) -> None:
    """List the projects you may view."""
    page = ApiClient().get("/api/v1/projects", search=search or None, limit=limit, offset=offset)
    render_list(page, page["items"], PROJECT_COLUMNS, output, kind="project", name=lambda p: p["code"],
                no_headers=no_headers, total=page["total"])


@project_app.command("show")
def project_show(code: str = typer.Argument(...), output: str = detail_output()) -> None:
    """Show a project and its binding."""
    body = ApiClient().get(f"/api/v1/projects/{code}")
    render_list(body, [body], PROJECT_COLUMNS, "wide" if output == "table" else output, kind="project",
                name=lambda p: p["code"])


@project_app.command("enable")
def project_enable(code: str = typer.Argument(...),
                   business: int = typer.Option(..., "--business", help="Business id to bind")) -> None:
    """Bind a business and enable the container service (启用容器服务)."""
    body = ApiClient().post(f"/api/v1/projects/{code}/enable", {"business_id": business})
    typer.echo(f"project {body['code']} enabled, bound to business {body['business_id']} ({body['business_name']})")


@member_app.command("add")
def member_add(code: str = typer.Argument(...), user: str = typer.Argument(...),
               role: str = typer.Option(..., "--role", help="viewer, developer or manager")) -> None:
    """Add a member to a project (or change their role)."""
    ApiClient().post(f"/api/v1/projects/{code}/members", {"username": user, "role": role})
    typer.echo(f"{user} is now {role} in {code}")


@member_app.command("remove")
def member_remove(code: str = typer.Argument(...), user: str = typer.Argument(...)) -> None:
    """Remove a member from a project."""
    ApiClient().delete(f"/api/v1/projects/{code}/members/{user}")
    typer.echo(f"removed {user} from {code}")


@member_app.command("list")
def member_list(code: str = typer.Argument(...), output: str = OutputOpt, no_headers: bool = NoHeadersOpt) -> None:
    """List project members."""
    client = ApiClient()
    require_project(client, code)
    rows = client.get(f"/api/v1/projects/{code}/members")
    render_list(rows, rows, MEMBER_COLUMNS, output, kind="user", name=lambda m: m["username"], no_headers=no_headers)


@business_app.command("add")
def business_add(business_id: int = typer.Argument(..., help="Business id (bk_biz_id)"),
                 name: str = typer.Argument(...),
                 maintainer: list[str] = typer.Option([], "--maintainer", help="A maintainer (repeatable)")) -> None:
    """Add a business to the built-in directory (admins)."""
    body = ApiClient().post("/api/v1/businesses", {"id": business_id, "name": name, "maintainers": maintainer})
    typer.echo(f"added business {body['id']} ({body['name']}) maintained by {', '.join(body['maintainers']) or '-'}")


@business_app.command("list")
def business_list(output: str = OutputOpt, no_headers: bool = NoHeadersOpt) -> None:
    """Businesses you maintain (all of them for admins)."""
    body = ApiClient().get("/api/v1/businesses")
    render_list(body, body["items"], BUSINESS_COLUMNS, output, kind="business", name=lambda b: b["id"],
                no_headers=no_headers)


@business_app.command("set-maintainers")
def business_set_maintainers(
    business_id: int = typer.Argument(..., help="Business id (bk_biz_id)"),
    maintainer: list[str] = typer.Option([], "--maintainer", help="A maintainer (repeatable); replaces the list"),
    clear: bool = typer.Option(False, "--clear", help="Remove every maintainer (only admins can then bind it)"),
) -> None:
    """Replace the maintainers of a built-in business (admins; BK-CMDB businesses are edited in CMDB)."""
    if not maintainer and not clear:
        fail("Name at least one --maintainer.", "To remove every maintainer, pass --clear.")
    body = ApiClient().request("PUT", f"/api/v1/businesses/{business_id}/maintainers",
                               json={"maintainers": maintainer})
    typer.echo(f"business {body['id']} ({body['name']}) maintained by {', '.join(body['maintainers']) or '-'}")


@business_app.command("remove")
def business_remove(business_id: int = typer.Argument(...)) -> None:
    """Remove a business from the built-in directory (admins)."""
    ApiClient().delete(f"/api/v1/businesses/{business_id}")
    typer.echo(f"removed business {business_id}")


@request_app.command("apply")
def request_apply(
    reason: str = typer.Option(..., "--reason", help="Why you need it"),
    business: int = typer.Option(None, "--business", help="Ask for the right on this business"),
    project: str = typer.Option(None, "--project", help="Project the request is about"),
    role: str = typer.Option(None, "--role", help="Ask for this role in --project"),
) -> None:
    """Apply for a business right (--business) or a project role (--project --role)."""
    kind = "business" if business is not None else "project_role"
    body = ApiClient().post("/api/v1/permission-requests", {"kind": kind, "reason": reason, "business_id": business,
                                                            "project_code": project, "role": role})
    typer.echo(f"request #{body['id']} submitted; a manager or admin will decide")


@request_app.command("list")
def request_list(status: str = typer.Option(None, "--status", help="pending, approved or rejected"),
                 mine: bool = typer.Option(False, "--mine"), output: str = OutputOpt,
                 no_headers: bool = NoHeadersOpt) -> None:
    """Your requests and those you may decide."""
    rows = ApiClient().get("/api/v1/permission-requests", status=status, mine=str(mine).lower())
    render_list(rows, rows, REQUEST_COLUMNS, output, kind="request", name=lambda r: r["id"], no_headers=no_headers)


def _decide(request_id: int, verb: str, note: str) -> None:
    body = ApiClient().post(f"/api/v1/permission-requests/{request_id}/{verb}", {"note": note})
    typer.echo(f"request #{body['id']} {body['status']}")


@request_app.command("approve")
def request_approve(request_id: int = typer.Argument(...), note: str = typer.Option("", "--note")) -> None:
    """Approve a request: the right is granted at once."""
    _decide(request_id, "approve", note)


@request_app.command("reject")
def request_reject(request_id: int = typer.Argument(...), note: str = typer.Option("", "--note")) -> None:
    """Reject a request."""
    _decide(request_id, "reject", note)


def audit(
    user: str = typer.Option(None, "--user"), action: str = typer.Option(None, "--action"),
    project: str = typer.Option(None, "--project"), outcome: str = typer.Option(None, "--outcome"),
    since: str = typer.Option(None, "--since", help="From this time (ISO 8601, UTC if no zone)"),
    until: str = typer.Option(None, "--until", help="Before this time (ISO 8601, UTC if no zone)"),
    limit: int = typer.Option(50, "--limit"), offset: int = typer.Option(0, "--offset"), output: str = OutputOpt,
    no_headers: bool = NoHeadersOpt,
) -> None:
    """Show the audit log, newest first."""
    client = ApiClient()
    require_project(client, project)
    page = client.get("/api/v1/audit", username=user, action=action, project=project, outcome=outcome,
                      since=since, until=until, limit=limit, offset=offset)
    render_list(page, page["items"], AUDIT_COLUMNS, output, kind="audit",
                name=lambda e: e.get("id", e["time"]), no_headers=no_headers, total=page["total"])


project_app.add_typer(member_app, name="member")


def register(app: typer.Typer) -> None:
    app.add_typer(project_app, name="project")
    app.add_typer(business_app, name="business")
    app.add_typer(request_app, name="request")
    app.command("audit")(audit)

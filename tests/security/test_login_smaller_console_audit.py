"""Finding 7: the lines typed in a project's consoles are readable by its managers and admins, not its viewers.

The entries are written the way ``console.sessions`` writes them (action
``console.command``, the project's code, the line first in the detail); the
API, the web page and the CLI read them through the one scoped query.
"""

from __future__ import annotations

import httpx

from shoal.audit import service as audit
from shoal.context import AppContext
from shoal.iam.authz import Principal
from tests.support.api import enabled_project
from tests.web.helpers import browser, login

SECRET_LINE = "kubectl create secret generic db --from-literal=password=hunter2-very-secret"
VIEWER_LINE = "kubectl get pods -n viewer-own-line"


async def _typed(ctx: AppContext, username: str, line: str) -> None:
    async with ctx.db.session() as session:
        actor = Principal(user_id=0, username=username, source="127.0.0.1")
        await audit.record(session, actor, "console.command", target_type="cluster", target_id="BCS-K8S-1",
                           project_code="alpha", outcome="success",
                           detail={"line": line, "exit": 0, "session": "s1"})


def _lines(page: dict[str, object]) -> list[str]:
    items = page["items"]
    assert isinstance(items, list)
    return [str(e["detail"].get("line")) for e in items if e["action"] == "console.command"]


async def test_console_lines_are_for_managers_and_admins(client: httpx.AsyncClient, ctx: AppContext,
                                                         admin_headers: dict[str, str]) -> None:
    people = await enabled_project(client, admin_headers, {"mona": "manager", "dave": "developer",
                                                           "vera": "viewer"})
    await _typed(ctx, "mona", SECRET_LINE)
    await _typed(ctx, "vera", VIEWER_LINE)

    def listing(who: str) -> dict[str, str]:
        return people[who]

    for who in ("vera", "dave"):
        page = (await client.get("/api/v1/audit", params={"project": "alpha"}, headers=listing(who))).json()
        assert page["total"] > 0, "the project's other entries stay visible"
        assert SECRET_LINE not in str(page)
        # Their own lines are theirs to read (they typed them).
        assert _lines(page) == ([VIEWER_LINE] if who == "vera" else [])
        filtered = (await client.get("/api/v1/audit", params={"action": "console.command"},
                                     headers=listing(who))).json()
        assert SECRET_LINE not in str(filtered)
    for who in ("mona", "admin"):
        page = (await client.get("/api/v1/audit", params={"project": "alpha"}, headers=listing(who))).json()
        assert sorted(_lines(page)) == sorted([SECRET_LINE, VIEWER_LINE])


async def test_audit_page_hides_console_lines_from_viewers(client: httpx.AsyncClient, ctx: AppContext,
                                                           admin_headers: dict[str, str]) -> None:
    await enabled_project(client, admin_headers, {"mona": "manager", "vera": "viewer"})
    await _typed(ctx, "mona", SECRET_LINE)
    async with browser(ctx) as viewer, browser(ctx) as manager:
        await login(viewer, "vera", "password-123")
        page = await viewer.get("/audit?project=alpha")
        assert page.status_code == 200 and 'data-action="project.enable"' in page.text
        assert 'data-action="console.command"' not in page.text and "hunter2" not in page.text
        await login(manager, "mona", "password-123")
        page = await manager.get("/audit?project=alpha")
        assert page.status_code == 200 and 'data-action="console.command"' in page.text and "hunter2" in page.text

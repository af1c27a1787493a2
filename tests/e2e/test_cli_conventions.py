"""The CLI as a new user tries it: fast start-up and kubectl's output conventions (issue 15).

Every command runs the real ``shoal`` in a subprocess (``python -m shoal``, so
standard output is a pipe, not a terminal) against the API served on loopback
(``api_server``), in English and in Chinese where words are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
import yaml

from tests.conftest import ADMIN_TOKEN

LONG_NAME = "A project whose name alone takes most of an 80-column line"
SERVER_SIDE = ("sqlalchemy", "shoal.core.config", "fastapi", "starlette", "shoal.store", "shoal.server",
               "shoal.tasks", "pydantic", "aiohttp")


def shoal(url: str, *args: str, lang: str = "en", token: str = ADMIN_TOKEN,
          python_args: tuple[str, ...] = ("-m", "shoal")) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (standard output a pipe); ``python_args`` to run a script instead."""
    env = {**os.environ, "SHOAL_URL": url, "SHOAL_TOKEN": token, "SHOAL_LANG": lang,
           "SHOAL_CONFIG": "/nonexistent/shoal.json", "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    return subprocess.run([sys.executable, *python_args, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
async def projects(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    for code, name in (("alpha", LONG_NAME), ("beta", "Beta")):
        r = await client.post("/api/v1/projects", json={"code": code, "name": name, "description": f"{code} work"},
                              headers=admin_headers)
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_help_and_client_commands_load_nothing_of_the_server(api_server: str, projects: None) -> None:
    """``shoal --help``, ``--version`` and client commands, run through ``main()`` in one interpreter,
    leave SQLAlchemy, the server's settings, FastAPI/Starlette, the store and pydantic unloaded."""
    script = """
import json, sys
from shoal.cli import main
for argv in (["--help"], ["--version"], ["project", "list"], ["cluster", "list", "-o", "yaml"],
             ["task", "list", "-o", "wide"], ["user", "list", "-o", "json"], ["audit", "--no-headers"]):
    sys.argv = ["shoal", *argv]
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None), (argv, e.code)
print(json.dumps(sorted(sys.modules)))
"""
    done = shoal(api_server, python_args=("-c", script))
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "shoal.cli.clusters" in loaded and "httpx" in loaded  # the commands really ran
    assert [m for m in loaded if m.split(".")[0] in SERVER_SIDE or m in SERVER_SIDE
            or any(m.startswith(p + ".") for p in SERVER_SIDE)] == []
    assert "rich" not in loaded  # lists print plain columns; only live views and detail pages draw with rich


def test_every_command_is_found_by_its_module() -> None:
    """main() builds only the group named on the command line: every top-level command must be in MODULE_OF."""
    from typer.main import get_command

    from shoal.cli import MODULE_OF, app

    assert set(get_command(app).commands) == set(MODULE_OF)  # type: ignore[attr-defined]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_output_formats(api_server: str, projects: None) -> None:
    page = yaml.safe_load(ok(shoal(api_server, "project", "list", "-o", "yaml")))
    assert [p["code"] for p in page["items"]] == ["alpha", "beta"] and page["total"] == 2
    assert json.loads(ok(shoal(api_server, "project", "list", "-o", "json")))["items"][0]["name"] == LONG_NAME
    assert ok(shoal(api_server, "project", "list", "-o", "name")) == "project/alpha\nproject/beta\n"
    shown = yaml.safe_load(ok(shoal(api_server, "project", "show", "beta", "-o", "yaml")))
    assert shown["code"] == "beta" and shown["description"] == "beta work"

    # Piped: whole cells, no ellipsis, columns aligned (kubectl's layout), the count on standard error.
    listed = shoal(api_server, "project", "list")
    lines = ok(listed).splitlines()
    assert len(lines) == 3 and "…" not in listed.stdout and LONG_NAME in lines[1]
    assert lines[0].split() == ["CODE", "NAME", "ENABLED", "BUSINESS", "MANAGERS", "MY", "ROLE"]
    assert lines[1].index(LONG_NAME) == lines[0].index("NAME") == lines[2].index("Beta")
    assert lines[1].index("no") == lines[0].index("ENABLED") and max(len(line) for line in lines) > 80
    assert listed.stderr.strip() == "2 of 2"
    assert "\033[" not in listed.stdout

    bare = shoal(api_server, "project", "list", "--no-headers")
    assert [line.split()[0] for line in ok(bare).splitlines()] == ["alpha", "beta"] and bare.stderr == ""
    wide = ok(shoal(api_server, "project", "list", "-o", "wide")).splitlines()
    assert wide[0].split()[-1] == "DESCRIPTION" and wide[1].endswith("alpha work")

    users = ok(shoal(api_server, "user", "list", "-o", "name"))
    assert users == "user/admin\n"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ("Unknown output format 'yml': choose one of table|wide|json|yaml|name.", "Hint: -o json")),
    ("zh-CN", ("错误：未知的输出格式“yml”：可选 table|wide|json|yaml|name。", "提示：-o json")),
])
async def test_unknown_output_format_is_a_usage_error(api_server: str, lang: str, expected: tuple[str, str]) -> None:
    commands = [("project", "list"), ("node", "list", "BCS-K8S-15001"), ("audit",)]
    for command in commands if lang == "en" else commands[:1]:
        refused = shoal(api_server, *command, "-o", "yml", lang=lang)
        assert refused.returncode == 2, (command, refused.stderr)
        assert expected[0] in refused.stderr and expected[1] in refused.stderr and refused.stdout == ""
    detail = shoal(api_server, "project", "show", "alpha", "-o", "wide", lang=lang)
    assert detail.returncode == 2 and "table|json|yaml" in detail.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_headers_and_words_in_chinese(api_server: str, projects: None) -> None:
    listed = shoal(api_server, "project", "list", lang="zh-CN")
    lines = ok(listed).splitlines()
    assert lines[0].split() == ["项目代码", "名称", "已启用", "业务", "管理员", "我的角色"]
    assert lines[2].split()[:3] == ["beta", "Beta", "否"]
    # CJK headers take two columns each on a terminal: the cells line up under them by display width.
    assert lines[2].index("Beta") == len("项目代码".encode("gbk")) + 3
    assert listed.stderr.strip() == "共 2 条，显示 2 条"
    enabled = ok(shoal(api_server, "user", "list", lang="zh-CN")).splitlines()
    assert enabled[0].split()[:3] == ["用户名", "显示名", "管理员"] and "是" in enabled[1].split()
    empty = shoal(api_server, "cluster", "list", lang="zh-CN")
    assert empty.returncode == 0 and empty.stdout == "" and empty.stderr.strip() == "未找到资源。"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_unknown_project_or_cluster_gets_the_apis_error(api_server: str, projects: None, lang: str,
                                                               client: httpx.AsyncClient,
                                                               admin_headers: dict[str, str]) -> None:
    headers = {**admin_headers, "Accept-Language": lang}
    project = (await client.get("/api/v1/projects/nope", headers=headers)).json()
    cluster = (await client.get("/api/v1/clusters/BCS-K8S-99999", headers=headers)).json()
    cases = [(project, ("cluster", "list", "--project", "nope")), (cluster, ("node", "list", "BCS-K8S-99999")),
             (project, ("task", "list", "-p", "nope")), (cluster, ("task", "list", "--cluster", "BCS-K8S-99999")),
             (project, ("audit", "--project", "nope")), (project, ("project", "member", "list", "nope"))]
    for problem, command in cases if lang == "en" else cases[:2]:
        refused = shoal(api_server, *command, lang=lang)
        assert refused.returncode == 1 and refused.stdout == "", command
        assert f"{problem['message']} ({problem['code']})" in refused.stderr, (command, refused.stderr)
        assert problem.get("hint", "") in refused.stderr
        assert ("提示：" if lang == "zh-CN" else "Hint:") in refused.stderr or "hint" not in problem
    if lang == "en":  # a known project with no cluster is fine
        assert ok(shoal(api_server, "cluster", "list", "--project", "alpha")) == ""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_version(api_server: str) -> None:
    both = shoal(api_server, "--version")
    assert ok(both).splitlines() == ["Client version: 0.1.0", f"Server version: 0.1.0 ({api_server})"]
    alone = shoal("", "--version", lang="zh-CN")
    assert ok(alone) == "客户端版本：0.1.0\n" and "未配置" in alone.stderr
    gone = shoal("http://127.0.0.1:9", "--version")
    assert ok(gone) == "Client version: 0.1.0\n" and "Cannot reach http://127.0.0.1:9" in gone.stderr


def test_help_shows_the_formats() -> None:
    text = ok(shoal("", "cluster", "list", "--help"))
    assert "table|wide|json|yaml|name" in text and "--no-headers" in text

"""Issue 13, finding 3: kubeconfig parsing refuses YAML alias bombs, wrong value types, huge and deep input.

The billion-laughs kubeconfig (~500 bytes, ~3 GB once expanded) is posted to
``POST /api/v1/clusters/check`` by a project manager in a subprocess whose address
space is capped (RLIMIT_AS), so the old parser fails the test (MemoryError or a
killed process) instead of eating the machine; the subprocess reports the time
and the peak RSS growth of the request, which must stay small.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoal.kube import kubeconfig
from shoal.kube.kubeconfig import KubeconfigProblem, parse_kubeconfig

ROOT = Path(__file__).resolve().parents[2]

#: 9 levels of 9 aliases: 9**9 = 387 million "lol"s (~3 GB) when expanded
BOMB = textwrap.dedent("""\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    current-context: x
    contexts: [{name: x, context: {cluster: c, user: u}}]
    clusters: [{name: c, cluster: {server: *i}}]
    users: [{name: u, user: {token: *i}}]
    """)

GOOD = textwrap.dedent("""\
    apiVersion: v1
    kind: Config
    current-context: x
    contexts: [{name: x, context: {cluster: c, user: u}}]
    clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}}]
    users: [{name: u, user: {token: abc}}]
    """)


def _with(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def test_the_bomb_is_small() -> None:
    assert len(BOMB.encode()) < 700


# (kubeconfig, expected message key)
REFUSED = [
    # the full bomb runs only in the capped subprocess below: on the old parser it takes gigabytes
    pytest.param(_with("token: abc", "token: &t abc"), "check.parse.alias", id="anchor-without-alias"),
    pytest.param("base: &b {token: abc}\n" + _with("{token: abc}", "*b"), "check.parse.alias", id="alias"),
    pytest.param(_with('server: "https://10.0.0.1:6443"', "server: [https://10.0.0.1:6443]"),
                 "check.parse.not_string", id="server-list"),
    pytest.param(_with("token: abc", "token: 12345"), "check.parse.not_string", id="token-number"),
    pytest.param(_with("token: abc", "token: !!binary YWJj"), "check.parse.not_string", id="token-binary"),
    pytest.param(_with("token: abc", "token: {a: b}"), "check.parse.not_string", id="token-mapping"),
    pytest.param(_with("current-context: x", "current-context: [x]"), "check.parse.not_string", id="context-list"),
    pytest.param(_with("{name: c,", "{name: [c],"), "check.parse.not_string", id="name-list"),
    pytest.param(_with("insecure-skip-tls-verify: true", "insecure-skip-tls-verify: 'yes'"),
                 "check.parse.not_bool", id="insecure-text"),
    pytest.param(_with("clusters: [{name: c,", "clusters: {x: [{name: c,").replace("}}]\nusers", "}}]}\nusers"),
                 "check.parse.not_list", id="clusters-mapping"),
    pytest.param(_with("user: {token: abc}", "user: [token]"), "check.parse.not_mapping_entry", id="user-list"),
    pytest.param(GOOD + "x: " + "[" * 100 + "]" * 100 + "\n", "check.parse.too_deep", id="deep"),
    pytest.param(GOOD + "# " + "x" * 256 * 1024 + "\n", "check.parse.too_large", id="too-large"),
    # found in review: int("9" * 5000) raises ValueError (Python's digit limit), a 500 before
    pytest.param(GOOD + "x: " + "9" * 5000 + "\n", "check.parse.yaml", id="int-too-long"),
]


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both readers: libyaml's event scan (the usual wheels) and the pure-Python loader (no libyaml)."""
    monkeypatch.setattr(kubeconfig, "_FAST", request.param == "libyaml")
    return str(request.param)


@pytest.mark.parametrize(("text", "key"), REFUSED)
def test_refused_with_its_own_message(text: str, key: str, parser: str) -> None:
    with pytest.raises(KubeconfigProblem) as caught:
        parse_kubeconfig(text)
    assert caught.value.key == key, caught.value.params
    assert caught.value.hint in ("hint.check.parse_flat", "hint.check.parse_paste")


def test_the_size_cap_is_256_kib() -> None:
    with pytest.raises(KubeconfigProblem) as caught:
        parse_kubeconfig(GOOD + "# " + "x" * 256 * 1024 + "\n")
    assert caught.value.params == {"max": 256}
    assert parse_kubeconfig(GOOD + "# " + "x" * 200 * 1024 + "\n").credential.token == "abc"


def test_a_plain_kubeconfig_still_parses(parser: str) -> None:
    parsed = parse_kubeconfig(GOOD)
    assert parsed.credential.server == "https://10.0.0.1:6443" and parsed.credential.token == "abc"
    assert parsed.credential.insecure is True


def test_wrong_types_never_echo_the_value() -> None:
    with pytest.raises(KubeconfigProblem) as caught:
        parse_kubeconfig(_with("token: abc", "token: [secret-token-value]"))
    assert "secret-token-value" not in json.dumps(caught.value.params)
    assert caught.value.params == {"entry": "token", "found": "a list"}


_CHILD = textwrap.dedent("""\
    import asyncio, json, resource, sys, time
    from pathlib import Path
    import httpx
    from shoal.api.app import create_app
    from shoal.context import build_context
    from shoal.core.config import load_settings
    from shoal.iam.accounts import bootstrap_admin
    from shoal.store.migrate import upgrade
    from tests.support.api import enabled_project

    root = Path(sys.argv[1])
    url = f"sqlite+aiosqlite:///{root / 'shoal.db'}"
    upgrade(url)

    async def main() -> None:
        ctx = build_context(load_settings(data_dir=root / "data", database_url=url, secret_key="k"))
        async with ctx.db.session() as session:
            await bootstrap_admin(session, password="admin-password-123", token="shoal_bomb-admin-token-0123456789")
        app = create_app(ctx, with_web=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shoal.test",
                                     timeout=60) as client:
            admin = {"Authorization": "Bearer shoal_bomb-admin-token-0123456789"}
            people = await enabled_project(client, admin, {"mona": "manager"})
            bomb = Path(sys.argv[2]).read_text()
            mona = {**people["mona"], "Accept-Language": "en"}
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            check = await client.post("/api/v1/clusters/check", json={"project": "alpha", "kubeconfig": bomb},
                                      headers=mona)
            seconds = time.perf_counter() - started
            imported = await client.post("/api/v1/clusters", json={"project": "alpha", "name": "bomb",
                                                                   "kubeconfig": bomb}, headers=mona)
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await ctx.db.dispose()
        print(json.dumps({"status": check.status_code, "body": check.json(), "seconds": seconds,
                          "rss_growth_kib": after - before, "import_status": imported.status_code,
                          "import_body": imported.json()}))

    asyncio.run(main())
    """)

#: the child's address space: enough for Python, SQLite and the app, not for the expanded bomb
_ADDRESS_SPACE = 1536 * 1024 * 1024


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_ADDRESS_SPACE, _ADDRESS_SPACE))


def test_billion_laughs_through_the_check_api_is_refused_fast_and_small(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    # the parent's PYTHONPATH first: the child runs the same code as the test
    path = [p for p in (os.environ.get("PYTHONPATH", ""), str(ROOT / "src"), str(ROOT)) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    run = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), str(bomb)], capture_output=True, text=True,
                         timeout=120, env=env, preexec_fn=_limit, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"\nbillion laughs via /api/v1/clusters/check: {result['seconds'] * 1000:.1f} ms, "
          f"peak RSS growth {result['rss_growth_kib']} KiB")
    assert result["status"] == 200
    parse = result["body"]["checks"][0]
    assert parse["name"] == "parse" and not parse["passed"]
    assert "anchor or alias" in parse["message"] and "line 1, column 4" in parse["message"], parse
    assert "kubectl config view --minify --flatten" in parse["hint"]
    assert result["body"]["ok"] is False
    assert result["seconds"] < 2.0
    assert result["rss_growth_kib"] < 32 * 1024
    assert result["import_status"] == 422
    assert "anchor or alias" in result["import_body"]["message"]

"""A console session driven over its websocket with the original platform's framing, no browser (R20).

Real ``shoal server`` (plain HTTP, so kubectl goes through the loopback TLS
relay), real kubectl 1.37 through the gateway, kubesim behind it.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import httpx
import pytest

from tests.console.conftest import ConsoleClient, World, audit_lines, plain

PERMISSION_ROUTES = {
    ("POST", "/api/v1/clusters/{cluster_id}/console/sessions"),
    ("GET", "/api/v1/console/sessions"),
    ("DELETE", "/api/v1/console/sessions/{session_id}"),
    ("GET", "/api/v1/console/recordings"),
    ("GET", "/api/v1/console/recordings/{session_id}"),
}


def test_manager_runs_kubectl_and_pipes(console: Any, console_world: World) -> None:
    term: ConsoleClient = console("mona")
    nodes = console_world.sim.cluster().node_names()
    out = term.run("kubectl get nodes")
    assert all(name in out for name in nodes), out
    out = term.run(f"k get nodes | grep {nodes[1]}")
    lines = [line for line in out.splitlines() if nodes[1] in line and "grep" not in line]
    assert lines and all(nodes[0] not in line for line in lines), out
    out = term.run("kubectl get nodes -o name | wc -l")
    assert "\n3\n" in out.replace(" ", ""), out
    assert "shoal:mona" in term.run("kubectl auth whoami")
    term.resize(40, 132)
    term.run("exit", done="Session ended")
    assert term.wait_closed()[0] == 1000
    entries = audit_lines(console_world, term.session["id"])
    lines_seen = [e["detail"]["line"] for e in entries]
    assert "kubectl get nodes" in lines_seen and f"k get nodes | grep {nodes[1]}" in lines_seen
    assert all(e["username"] == "mona" and e["target_id"] == console_world.cluster_id for e in entries)
    assert {e["detail"]["exit"] for e in entries if e["detail"]["line"] == "kubectl get nodes"} == {0}


def test_exec_with_a_terminal_and_ctrl_c(console: Any, console_world: World) -> None:
    term: ConsoleClient = console("mona")
    term.run("kubectl run talker --image=busybox:1.36 -n default")
    # -t needs a real terminal: kubectl refuses it on a pipe ("Unable to use a TTY")
    out = term.run("kubectl exec -it talker -n default -- sh -c 'echo in-the-pod; hostname'")
    assert "in-the-pod" in out and "talker" in out and "Unable to use a TTY" not in out, out
    # Ctrl-C stops a watch and gives the prompt back; the shell survives it
    mark = len(plain(term.screen))
    term.type("kubectl get pods -n default -w\r")
    term.read_until("talker", start=mark)
    term.type("\x03")
    term.read_until(re.compile(r"\^C[\s\S]*kubectl> $|kubectl> $"), start=mark)
    assert "1" in term.run("kubectl get pods -n default -o name | grep -c talker")


def test_viewer_reads_but_cordon_is_forbidden(console: Any, console_world: World) -> None:
    term: ConsoleClient = console("vera")
    node = console_world.sim.cluster().node_names()[0]
    assert node in term.run("kubectl get nodes")
    # The gateway refuses the PATCH with a 403 Forbidden Status; kubectl's cordon prints only its message …
    out = term.run(f"kubectl cordon {node}")
    assert f'unable to cordon node "{node}"' in out and "may not patch nodes" in out, out
    assert f'nodes "{node}" is forbidden' in out, out
    # … while other writes print the reason too.
    out = term.run(f"kubectl label node {node} team=web")
    assert "Error from server (Forbidden)" in out and "may not patch nodes" in out, out
    entry = next(e for e in reversed(audit_lines(console_world, term.session["id"]))
                 if e["detail"]["line"] == f"kubectl label node {node} team=web")
    assert entry["detail"]["exit"] == 1 and entry["outcome"] == "failure"


@pytest.mark.parametrize("line", ["bash", "ls /", "kubectl get nodes; cat /etc/passwd", "kubectl get nodes > /tmp/x",
                                  "$(id)", "kubectl get pods `id`", "kubectl edit node x", "kubectl cp a:/x /tmp/x",
                                  "kubectl apply -f /etc/passwd", "kubectl get nodes | sh",
                                  "kubectl get nodes | grep x /etc/passwd", "kubectl --kubeconfig=/etc/x get nodes",
                                  "kubectl foo"])
def test_refusals_are_explained(console: Any, console_world: World, line: str) -> None:
    term: ConsoleClient = console("mona")
    out = term.run(line)
    assert "help" in out and "not" in out, out
    entry = next(e for e in reversed(audit_lines(console_world, term.session["id"])) if e["detail"]["line"] == line)
    assert entry["outcome"] == "denied" and entry["detail"]["refused"].startswith("console.refused.")


def test_removed_right_ends_the_session(console: Any, console_world: World) -> None:
    term: ConsoleClient = console("walt")
    with console_world.api() as admin:
        r = admin.delete("/api/v1/projects/alpha/members/walt")
        assert r.status_code in (200, 204), r.text
    code, reason = term.wait_closed(timeout=30)
    assert (code, reason) == (4003, "revoked")
    assert "right to this cluster was removed" in plain(term.screen)
    with console_world.api() as admin:
        r = admin.get("/api/v1/gateway/tokens", params={"user": "walt"})
        assert all(t["revoked_at"] for t in r.json() if t["name"].startswith("console"))


def test_refusals_outside_the_session(console_world: World) -> None:
    with httpx.Client(base_url=console_world.shoal.url) as anonymous:
        url = f"/api/v1/clusters/{console_world.cluster_id}/console/sessions"
        assert anonymous.post(url).status_code == 401
        assert anonymous.get("/api/v1/console/sessions").status_code == 401
        assert anonymous.delete("/api/v1/console/sessions/abcdefgh12").status_code == 401
        assert anonymous.get("/api/v1/console/recordings").status_code == 401
        assert anonymous.get("/api/v1/console/recordings/abcdefgh12").status_code == 401
    with console_world.api("eve") as eve:  # not a member of alpha
        r = eve.post(url)
        assert r.status_code == 403 and "cluster_view" in r.json()["message"], r.text
        assert eve.get("/api/v1/console/recordings").status_code == 403
        assert eve.get("/api/v1/console/recordings/abcdefgh12").status_code == 403
        assert eve.delete("/api/v1/console/sessions/abcdefgh12").status_code == 404
        assert eve.get("/api/v1/console/sessions").json() == []
    # someone else's session cannot be attached
    term = ConsoleClient(console_world, "mona")
    try:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        with pytest.raises(InvalidStatus):
            connect(term.session["websocket_url"], additional_headers={
                "Authorization": f"Bearer {console_world.tokens['vera']}"}, open_timeout=30)
    finally:
        term.close()


def test_recording_is_replayable_by_admins(console: Any, console_world: World) -> None:
    term: ConsoleClient = console("mona")
    term.run("kubectl version --client")
    term.run("exit", done="Session ended")
    term.wait_closed()
    sid = term.session["id"]
    deadline = time.monotonic() + 10
    with console_world.api() as admin:
        while True:
            listed = admin.get("/api/v1/console/recordings").json()
            if any(r["session_id"] == sid for r in listed) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        cast = admin.get(f"/api/v1/console/recordings/{sid}")
        assert cast.status_code == 200, cast.text
        header, *events = cast.text.splitlines()
        assert '"version": 2' in header and any("Client Version" in e for e in events)


def test_cookie_needs_this_servers_origin(console_world: World) -> None:
    """With the web session cookie, only pages of this server may open a terminal (no cross-site websocket)."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with httpx.Client(base_url=console_world.shoal.url, timeout=30) as browser:
        me = browser.post("/api/v1/auth/login", json={"username": "vera", "password": "password-123"})
        assert me.status_code == 200, me.text
        csrf = me.json()["csrf_token"]
        created = browser.post(f"/api/v1/clusters/{console_world.cluster_id}/console/sessions",
                               headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    url = created.json()["websocket_url"]
    with pytest.raises(InvalidStatus):
        connect(url, additional_headers={"Cookie": cookie, "Origin": "http://evil.example"}, open_timeout=30)
    with connect(url, additional_headers={"Cookie": cookie, "Origin": console_world.shoal.url},
                 open_timeout=30) as socket:
        text = ""
        while "kubectl>" not in plain(text):
            text += base64.b64decode(socket.recv(timeout=30)).decode(errors="replace")

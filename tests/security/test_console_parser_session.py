"""The console parser in a real session: real ``shoal server``, websocket, real kubectl, kubesim, the audit.

Reuses the console tests' world (``tests.console.conftest``): a few accepted lines that the new
parser reads in kubectl's way (bundled short flags, flags before the sub-command, inline jsonpath,
``-o`` glued to its value) really run and print what kubectl prints; and the audit stores typed
lines with their secret values masked — for lines that ran and for refused ones alike.
"""

from __future__ import annotations

import json
from typing import Any

from tests.console.conftest import ConsoleClient, World, audit_lines, console, console_world

__all__ = ["console", "console_world"]  # the fixtures, shared with tests/console


def test_accepted_lines_run_as_kubectl_reads_them(console: Any, console_world: World) -> None:
    term: ConsoleClient = console("mona")
    nodes = console_world.sim.cluster().node_names()
    out = term.run("kubectl get no -Aowide")  # -A, then -o taking the rest of the bundle
    assert all(name in out for name in nodes) and "INTERNAL-IP" in out, out
    out = term.run("kubectl get nodes -o jsonpath='{.items[*].metadata.name}'")
    assert " ".join(nodes) in out, out
    out = term.run("kubectl -n default get nodes -oname | wc -l")
    assert "\n3\n" in out.replace(" ", ""), out
    out = term.run("kubectl create -o yaml configmap c1 --from-literal=colour=blue --dry-run=client")
    assert "colour: blue" in out and "kind: ConfigMap" in out, out
    out = term.run("kubectl auth can-i list pods -n default")
    assert "yes" in out.splitlines()[-2:][0] or "\nyes" in out, out
    out = term.run("kubectl config view")
    assert "REDACTED" in out and "token:" in out, out  # the session's own token is never shown
    out = term.run("kubectl get pods -As http://127.0.0.1:9")
    assert "not available in the console" in out, out


def test_secret_values_are_masked_in_the_audit(console: Any, console_world: World) -> None:
    term: ConsoleClient = console("mona")
    typed = [
        "kubectl create secret generic s1 --from-literal=password=hunter2-ran --dry-run=client -o name",
        "kubectl create secret generic s2 --from-literal 'api key=hunter2 spaced' --dry-run=client -o name",
        "kubectl get pods --token=hunter2-token",  # refused, audited all the same
        "kubectl set env deploy/none DB_PASSWORD=hunter2-env MODE=fast",
        "kubectl create secret docker-registry r --docker-password=hunter2-docker --docker-username=u "
        "--dry-run=client -o name; id",  # refused for the ';'
    ]
    for line in typed:
        term.run(line)
    term.run("exit", done="Session ended")
    term.wait_closed()
    lines = [e["detail"]["line"] for e in audit_lines(console_world, term.session["id"])]
    assert [line for line in reversed(lines) if line != "exit"] == [  # the audit lists the newest first
        "kubectl create secret generic s1 --from-literal=password=*** --dry-run=client -o name",
        "kubectl create secret generic s2 --from-literal 'api key=***' --dry-run=client -o name",
        "kubectl get pods --token=***",
        "kubectl set env deploy/none DB_PASSWORD=*** MODE=fast",
        "kubectl create secret docker-registry r --docker-password=*** --docker-username=u "
        "--dry-run=client -o name; id",
    ], lines
    assert "hunter2" not in json.dumps(console_world.audit())

"""The console's line parser against a corpus: what must be refused (and nothing run), what must still run.

Each line goes through the real ``console.shell.Shell.handle`` — the code the console's PTY runs —
with kubectl and every text filter replaced by a small marker script that records its argv. A
refused line must print its reason (in the user's language), report the refusal key for the audit,
and leave the marker log empty: nothing was read, nothing was run. An accepted line must run
exactly the words typed (split as a POSIX shell splits them, checked with :mod:`shlex`).
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from shoal.console.commands import FILTERS
from shoal.console.shell import REFUSED_STATUS, Shell
from shoal.core.i18n import translate
from shoal.core.messages import MESSAGES

MARKER = """#!/bin/sh
{{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf '\\037%s' "$a"; done; printf '\\n'; }} > {log}/$$
"""

RunLine = Callable[[str, str], tuple[str, list[dict[str, object]], list[list[str]]]]


@pytest.fixture
def run_line(tmp_path: Path) -> RunLine:
    """``run_line(line, lang)`` -> (terminal output, audit events, invocations recorded by the markers)."""
    log = tmp_path / "invocations"  # one file per process: a pipeline's processes write at the same time
    log.mkdir()
    programs: dict[str, str] = {}
    for name in ("kubectl", *FILTERS):
        script = tmp_path / "bin" / name
        script.parent.mkdir(exist_ok=True)
        script.write_text(MARKER.format(log=shlex.quote(str(log))))
        script.chmod(0o755)
        programs[name] = str(script)

    def run(line: str, lang: str = "en") -> tuple[str, list[dict[str, object]], list[list[str]]]:
        out, events = io.StringIO(), io.StringIO()
        env = {"SHOAL_CONSOLE_KUBECTL": programs["kubectl"], "SHOAL_CONSOLE_LANG": lang, "PATH": "/usr/bin:/bin",
               "SHOAL_CONSOLE_FILTERS": json.dumps({f: programs[f] for f in FILTERS})}
        shell = Shell(env, events, out)
        assert shell.handle(line) is True
        reported = [json.loads(x) for x in events.getvalue().splitlines()]
        calls: list[list[str]] = []
        for record in log.iterdir():
            calls += [entry.split("\x1f") for entry in record.read_text().splitlines()]
            record.unlink()
        return out.getvalue(), reported, calls

    return run


#: (line, refusal key). Every one of these escapes the console if it runs (or is meaningless to kubectl).
REFUSED: list[tuple[str, str]] = [
    # -- found by the review: "--" as a flag's value, unknown flags before the sub-command, bundles, config
    ("kubectl create configmap x --dry-run=client -o yaml -n -- --from-file=/etc/passwd", "console.refused.dash_value"),
    ("kubectl create configmap x --dry-run=client -o yaml --namespace -- --from-file=/etc/passwd",
     "console.refused.dash_value"),
    ("kubectl get pods -l -- --kubeconfig=/tmp/k", "console.refused.dash_value"),
    ("kubectl --field-manager logs apply -f http://127.0.0.1:9/x.yaml", "console.refused.flag_too_early"),
    ("kubectl --selector logs get -s http://127.0.0.1:9", "console.refused.flag_too_early"),
    ("kubectl get pods -As http://127.0.0.1:9/", "console.refused.flag"),
    ("kubectl -As http://127.0.0.1:9/ get pods", "console.refused.flag_too_early"),
    ("kubectl get pods -sA", "console.refused.flag"),
    ("kubectl get pods -Awshttp://127.0.0.1:9", "console.refused.flag"),
    ("kubectl -hn kube-system get pods", "console.refused.flag_position"),
    ("kubectl -A get pods", "console.refused.flag_too_early"),
    ("kubectl config --namespace view set-credentials shoal --exec-command=/bin/sh", "console.refused.config"),
    ("kubectl config -n view set-credentials shoal --exec-command=/bin/sh", "console.refused.config"),
    ("kubectl config --request-timeout view set-cluster c --server=http://127.0.0.1:9", "console.refused.config"),
    ("kubectl config set-credentials shoal --exec-command=/bin/sh", "console.refused.config"),
    ("kubectl config set users.shoal.exec.command /bin/sh", "console.refused.config"),
    ("kubectl config use-context other", "console.refused.config"),
    ("kubectl config set-context --current --user=other", "console.refused.config"),
    ("kubectl config set-context other --current --namespace=x", "console.refused.config"),
    ("kubectl config view --raw", "console.refused.flag"),
    ("kubectl config view --raw=true", "console.refused.flag"),
    ("kubectl config view --flatten", "console.refused.flag"),
    ("kubectl config --kubeconfig=/tmp/k view", "console.refused.flag"),
    # -- server, credentials, identity, files: every spelling
    ("kubectl get pods --server http://127.0.0.1:9", "console.refused.flag"),
    ("kubectl get pods --server=http://127.0.0.1:9", "console.refused.flag"),
    ("kubectl -s=http://127.0.0.1:9 get pods", "console.refused.flag"),
    ("kubectl -shttp://127.0.0.1:9 get pods", "console.refused.flag"),
    ("kubectl get pods --ser=http://127.0.0.1:9", "console.refused.unknown_flag"),  # pflag has no abbreviations
    ("kubectl get pods --SERVER=http://127.0.0.1:9", "console.refused.unknown_flag"),
    ("kubectl get pods '--server' http://127.0.0.1:9", "console.refused.flag"),
    (r"kubectl get pods --ser\ver=http://127.0.0.1:9", "console.refused.flag"),
    ("kubectl get pods --proxy-url=http://127.0.0.1:9", "console.refused.flag"),
    ("kubectl get pods --proxy_url=http://127.0.0.1:9", "console.refused.flag"),  # kubectl reads _ as -
    ("kubectl --kubeconfig=/etc/shoal/admin.conf get pods", "console.refused.flag"),
    ("kubectl --kubeconfig /etc/shoal/admin.conf get pods", "console.refused.flag"),
    ("kubectl get pods --kubeconfig=/etc/shoal/admin.conf", "console.refused.flag"),
    ('kubectl get pods "--kubeconfig=/etc/shoal/admin.conf"', "console.refused.flag"),
    ("kubectl get pods --kube_config=/x", "console.refused.unknown_flag"),
    ("kubectl get pods --kuberc=/etc/passwd", "console.refused.flag"),
    ("kubectl get pods --cache-dir=/tmp/cache", "console.refused.flag"),
    ("kubectl get pods --cache_dir=/tmp/cache", "console.refused.flag"),
    ("kubectl get pods --token=abc", "console.refused.flag"),
    ("kubectl get pods --username=admin --password=x", "console.refused.flag"),
    ("kubectl get pods --client-key=/data/key.pem", "console.refused.flag"),
    ("kubectl get pods --certificate-authority=/etc/ssl/ca.pem", "console.refused.flag"),
    ("kubectl get pods --insecure-skip-tls-verify", "console.refused.flag"),
    ("kubectl get pods --tls-server-name=other", "console.refused.flag"),
    ("kubectl get pods --context=other", "console.refused.flag"),
    ("kubectl get pods --as=system:admin", "console.refused.flag"),
    ("kubectl get pods --as-group=system:masters --as=x", "console.refused.flag"),
    ("kubectl get pods --as-uid=0", "console.refused.flag"),
    ("kubectl get pods --profile=cpu --profile-output=/tmp/x", "console.refused.flag"),
    ("kubectl create configmap c --from-file=/etc/passwd", "console.refused.flag"),
    ("kubectl create configmap c --from_file=/etc/passwd", "console.refused.flag"),
    ("kubectl create cm c --from-env-file=/etc/environment", "console.refused.flag"),
    ("kubectl create secret generic s --from-file=key=/data/secret.key", "console.refused.flag"),
    ("kubectl create secret tls t --cert=/etc/ssl/a.pem --key=/etc/ssl/a.key", "console.refused.flag"),
    ("kubectl create --edit -f -", "console.refused.flag"),
    ("kubectl debug web-0 -it --image=busybox --custom=/etc/passwd", "console.refused.flag"),
    ("kubectl patch node n1 --patch-file=/etc/passwd", "console.refused.flag"),
    ("kubectl cluster-info dump --output-directory=/tmp/dump", "console.refused.flag"),
    # -- file and URL operands
    ("kubectl apply -f /etc/passwd", "console.refused.filename"),
    ("kubectl apply -f=/etc/passwd", "console.refused.filename"),
    ("kubectl apply -f/etc/passwd", "console.refused.filename"),
    ("kubectl apply -Rf /etc", "console.refused.filename"),
    ("kubectl apply --filename https://127.0.0.1:9/x.yaml", "console.refused.filename"),
    ("kubectl apply --filename=http://169.254.169.254/latest/meta-data/", "console.refused.filename"),
    ("kubectl get -f http://127.0.0.1:9/x.yaml", "console.refused.filename"),
    ("kubectl delete -f", "console.refused.filename"),
    ("kubectl exec -f /etc/passwd -- id", "console.refused.filename"),
    ("kubectl apply -k ./overlay", "console.refused.filename"),
    ("kubectl apply --kustomize=https://github.com/x/y", "console.refused.filename"),
    ("kubectl get pods -o jsonpath-file=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods -o go-template-file --template=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods -ocustom-columns-file=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods --output=templatefile=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods -o JSONPATH-FILE=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods -o nonsense", "console.refused.output_format"),
    # -- "--" only before a remote command
    ("kubectl get pods -- --kubeconfig=/tmp/k", "console.refused.double_dash"),
    ("kubectl -- get pods", "console.refused.double_dash"),
    ("kubectl logs web-0 -- -s http://127.0.0.1:9", "console.refused.double_dash"),
    ("kubectl create configmap x -- --from-file=/etc/passwd", "console.refused.double_dash"),
    # -- sub-commands, plugins, stray words and options
    ("kubectl edit node n1", "console.refused.edit"),
    ("kubectl apply edit-last-applied deploy/web", "console.refused.edit"),
    ("kubectl cp web-0:/etc/passwd /tmp/x", "console.refused.local_files"),
    ("kubectl kustomize https://github.com/x/y", "console.refused.local_files"),
    ("kubectl kuberc set --section=defaults", "console.refused.local_files"),
    ("kubectl diff -f -", "console.refused.diff"),
    ("kubectl proxy --port=8001", "console.refused.local_network"),
    ("kubectl port-forward web-0 8080:80", "console.refused.local_network"),
    ("kubectl plugin list", "console.refused.plugin"),
    ("kubectl -n x whoami", "console.refused.kubectl_command"),
    ("kubectl create networkpolicy np", "console.refused.kubectl_command"),  # kubectl-create-networkpolicy
    ("kubectl rollout frobnicate deploy/web", "console.refused.kubectl_command"),
    ("kubectl alpha kuberc view", "console.refused.kubectl_command"),
    ("kubectl get pods -Z", "console.refused.unknown_flag"),
    ("kubectl get pods --dry-run", "console.refused.unknown_flag"),
    ("kubectl get pods --all-namespaces=maybe", "console.refused.bool_value"),
    ("kubectl get pods -A=yes", "console.refused.bool_value"),
    ("kubectl get pods ---kubeconfig=/tmp/k", "console.refused.flag_syntax"),
    ("kubectl get pods -n", "console.refused.flag_value"),
    ("kubectl '' get pods", "console.refused.argument"),
    ("kubectl - get pods", "console.refused.argument"),
    ("kubectl get pods \x00", "console.refused.argument"),
    # -- other programs
    ("kubectl.exe get pods", "console.refused.command"),
    ("/work/main/.venv/bin/kubectl get pods", "console.refused.command"),
    ("./kubectl get pods", "console.refused.command"),
    ("KUBECTL get pods", "console.refused.command"),
    ("kubectl-whoami", "console.refused.command"),
    (r"kubectl\ get pods", "console.refused.command"),
    ("KUBECONFIG=/tmp/k kubectl get pods", "console.refused.command"),
    # -- shell syntax
    ("kubectl get pods; cat /etc/passwd", "console.refused.chaining"),
    ("kubectl get pods > /tmp/x", "console.refused.redirection"),
    ("kubectl apply -f - < /etc/passwd", "console.refused.redirection"),
    ("kubectl get pods $(cat /etc/passwd)", "console.refused.substitution"),
    ('kubectl get pods --kubeconfig="$HOME/k"', "console.refused.variable"),
    # -- pipes into filters with file operands or file options
    ("kubectl get pods | grep x /etc/passwd", "console.refused.filter_file"),
    ("kubectl get pods | grep -e x -- /etc/passwd", "console.refused.filter_file"),
    ("kubectl get pods | grep -f /etc/passwd", "console.refused.filter_option"),
    ("kubectl get pods | grep --file=/etc/passwd", "console.refused.filter_option"),
    ("kubectl get pods | grep -r root /", "console.refused.filter_option"),
    ("kubectl get pods | sort -o /tmp/x", "console.refused.filter_option"),
    ("kubectl get pods | sort --random-source=/data/shoal.db", "console.refused.filter_option"),
    ("kubectl get pods | sort --compress-program=sh", "console.refused.filter_option"),
    ("kubectl get pods | head -c1 /data/x", "console.refused.filter_file"),
    ("kubectl get pods | tail -f /var/log/syslog", "console.refused.filter_option"),
    ("kubectl get pods | uniq - /tmp/out", "console.refused.filter_file"),
    ("kubectl get pods | cut -f1 /etc/passwd", "console.refused.filter_file"),
    ("kubectl get pods | wc --files0-from=/etc/passwd", "console.refused.filter_option"),
    ("kubectl get pods | tee /tmp/x", "console.refused.filter"),
    ("kubectl get pods | xargs cat", "console.refused.filter"),
    ("kubectl get pods | /usr/bin/grep x", "console.refused.filter"),
]


def test_the_corpus_is_big_enough() -> None:
    assert len(REFUSED) >= 60 and len(ACCEPTED) >= 25
    assert len({line for line, _ in REFUSED}) == len(REFUSED)


@pytest.mark.parametrize(("line", "key"), REFUSED)
def test_refused_and_nothing_ran(run_line: RunLine, line: str, key: str) -> None:
    out, events, calls = run_line(line, "en")
    assert calls == [], f"{line!r} ran {calls}"
    assert events == [{"line": line, "exit": REFUSED_STATUS, "refused": key}], events
    assert key in MESSAGES
    shown = re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines()[0]
    assert "{" not in shown.replace("{.", "") and shown in {translate(key, "en", **p) for p in _params(line)}, shown
    zh_out, _, zh_calls = run_line(line, "zh-CN")
    assert zh_calls == [] and re.search(r"[\u4e00-\u9fff]", zh_out), zh_out


def _params(line: str) -> list[dict[str, str]]:
    """The parameters the parser gave (read back from the refusal itself, to render the message)."""
    from shoal.console.commands import Refused, parse_line

    with pytest.raises(Refused) as caught:
        parse_line(line)
    return [{k: str(v) for k, v in caught.value.params.items()}]


#: Lines that must still run, exactly as typed (with the filters they are piped into).
ACCEPTED: list[str] = [
    "kubectl get pods",
    "k get po -A",
    "kubectl get po -Aowide",
    "kubectl get pods -A -o wide",
    "kubectl -n kube-system get po -o wide | grep x | wc -l",
    "kubectl get pods -o jsonpath='{.items[*].metadata.name}'",
    "kubectl get pods --field-selector status.phase=Running -l app=x",
    "kubectl get pods -l 'app in (web,api)' --show-labels",
    "kubectl get pods -nkube-system",
    "kubectl get pods -n=kube-system -w",
    "kubectl --namespace=shop get deploy web -o yaml",
    "kubectl get --raw /healthz",
    "kubectl describe node n1",
    "kubectl logs -f web-0 -c app --tail=10 --timestamps",
    "kubectl logs web-0 --tail=-1 --previous",
    "kubectl exec -it web-0 -- sh -c 'ls /; cat /etc/os-release'",
    "kubectl exec web-0 -c app -- cat /etc/passwd --kubeconfig=/x",
    "kubectl run tmp --rm -it --image=busybox --restart=Never -- sh",
    "kubectl debug node/n1 -it --image=busybox -- chroot /host",
    "kubectl create job j --image=busybox -- date",
    "kubectl apply -f -",
    "kubectl apply --dry-run=server --server-side -f -",
    "kubectl create -f - --dry-run",
    "kubectl delete pod web-0 --cascade=foreground --grace-period=0 --force",
    "kubectl rollout status deploy/web --timeout=60s",
    "kubectl rollout undo deploy/web --to-revision=2",
    "kubectl auth can-i list pods -n shop",
    "kubectl auth whoami -o json",
    "kubectl top pod -A --containers",
    "kubectl top nodes",
    "kubectl cordon n1",
    "kubectl drain n1 --ignore-daemonsets --delete-emptydir-data --force --grace-period=30 --timeout=5m",
    "kubectl create secret generic s --from-literal=password=hunter2",
    "kubectl create cm c --from-literal=a=b -o yaml --dry-run=client",
    "kubectl create -o yaml configmap c --dry-run=client",
    "kubectl set image deploy/web app=nginx:1.27",
    "kubectl set env deploy/web MODE=fast",
    "kubectl scale deploy/web --replicas=3",
    "kubectl label node n1 team=web --overwrite",
    "kubectl annotate pod p note='costs $5'",
    "kubectl wait --for=condition=Ready pod/web-0 --timeout=30s",
    "kubectl events -A --types=Warning",
    "kubectl explain pods.spec --recursive",
    "kubectl api-resources -o wide --namespaced=true",
    "kubectl config view",
    "kubectl config view --minify -o jsonpath='{.contexts[0].context.namespace}'",
    "kubectl config get-contexts",
    "kubectl config current-context",
    "kubectl version --client -o json",
    "kubectl -v=6 get pods",
    "kubectl get pods --help",
    "kubectl help get",
    "kubectl",
    "kubectl get pods | grep -v Running | sort -k 3 | head -n 5",
    "kubectl get nodes -o name | cut -d/ -f2 | uniq -c | tail -3",
]


@pytest.mark.parametrize("line", ACCEPTED)
def test_accepted_runs_the_words_typed(run_line: RunLine, line: str) -> None:
    out, events, calls = run_line(line, "en")
    segments = [shlex.split(segment) for segment in line.split(" | ")]
    # the pipeline's processes start together: the order they record themselves in is not fixed
    assert sorted(calls) == sorted([["kubectl", *segments[0][1:]], *segments[1:]]), (out, calls)
    assert len(events) == 1 and "refused" not in events[0], events


def test_the_help_built_in_stays_true(run_line: RunLine) -> None:
    """What ``help`` says is unavailable is refused, and what it says works is accepted."""
    for lang in ("en", "zh-CN"):
        out, _, calls = run_line("help", lang)
        assert calls == []
        for named in ("-f", "-k", "--from-file", "cp", "edit", "diff", "proxy", "port-forward", "--server",
                      "--kubeconfig", "--as", "-n", "'--'", "exec", "run", "debug"):
            assert named in out, (lang, named)
    refused = ["kubectl apply -f manifest.yaml", "kubectl apply -k dir", "kubectl create cm c --from-file=x",
               "kubectl cp a:/x /tmp/x", "kubectl edit pod p", "kubectl diff -f -", "kubectl proxy",
               "kubectl port-forward p 80", "kubectl plugin list", "kubectl config set-credentials u --token=x",
               "kubectl config set-context --current --namespace=x",
               "kubectl get pods --server=https://x", "kubectl get pods --kubeconfig=/x", "kubectl get pods --token=x",
               "kubectl get pods --as=admin", "kubectl get pods --no-such-flag", "kubectl get pods -- x", "ls"]
    for line in refused:
        _, events, calls = run_line(line, "en")
        assert calls == [] and "refused" in events[0], line
    for line in ("kubectl exec -it p -- sh", "kubectl run t --image=busybox -it --rm -- sh",
                 "kubectl debug p -it --image=busybox -- sh",
                 "k get pods | grep x | head -n 3"):
        _, events, calls = run_line(line, "en")
        assert calls and "refused" not in events[0], line

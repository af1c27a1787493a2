"""The restricted shell's grammar: what runs, what is refused and why (no processes, no server)."""

from __future__ import annotations

import re

import pytest

from shoal.console.commands import Builtin, Pipeline, Refused, parse_line, split_words
from shoal.console.framing import Resize, Stdin, decode, encode_output, resize_frame, stdin_frame
from shoal.core.i18n import translate
from shoal.core.messages import MESSAGES


@pytest.mark.parametrize(("line", "expected"), [
    ("kubectl get nodes", Pipeline(["get", "nodes"])),
    ("k get pods -A", Pipeline(["get", "pods", "-A"])),
    ("  kubectl   get  nodes  ", Pipeline(["get", "nodes"])),
    ("kubectl get nodes | grep node-1", Pipeline(["get", "nodes"], [["grep", "node-1"]])),
    ("kubectl get pods -A | grep -v Running | sort -k 3 | head -n 5",
     Pipeline(["get", "pods", "-A"], [["grep", "-v", "Running"], ["sort", "-k", "3"], ["head", "-n", "5"]])),
    ("kubectl get pods|wc -l", Pipeline(["get", "pods"], [["wc", "-l"]])),
    ("kubectl get nodes -o name | cut -d/ -f2 | uniq -c | tail -3",
     Pipeline(["get", "nodes", "-o", "name"], [["cut", "-d/", "-f2"], ["uniq", "-c"], ["tail", "-3"]])),
    ("kubectl get pods -l 'app in (web,api)'", Pipeline(["get", "pods", "-l", "app in (web,api)"])),
    ('kubectl get pods -o jsonpath="{.items[*].metadata.name}"',
     Pipeline(["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"])),
    ("kubectl get pods | grep 'a|b;c>d'", Pipeline(["get", "pods"], [["grep", "a|b;c>d"]])),
    ("kubectl get pods | grep -e 'x' -i", Pipeline(["get", "pods"], [["grep", "-e", "x", "-i"]])),
    ("kubectl annotate pod p note='costs $5'", Pipeline(["annotate", "pod", "p", "note=costs $5"])),
    (r"kubectl get pods -l a\ b", Pipeline(["get", "pods", "-l", "a b"])),
    ("kubectl exec -it web-0 -- sh -c 'ls /; cat /etc/os-release'",
     Pipeline(["exec", "-it", "web-0", "--", "sh", "-c", "ls /; cat /etc/os-release"])),
    ("kubectl apply -f -", Pipeline(["apply", "-f", "-"])),
    ("kubectl logs -f web-0 --tail 10", Pipeline(["logs", "-f", "web-0", "--tail", "10"])),
    ("kubectl -n kube-system get pods", Pipeline(["-n", "kube-system", "get", "pods"])),
    ("kubectl", Pipeline([])),
    ("kubectl get --raw /healthz", Pipeline(["get", "--raw", "/healthz"])),
    ("kubectl create rolebinding rb --clusterrole=view --user=alice",
     Pipeline(["create", "rolebinding", "rb", "--clusterrole=view", "--user=alice"])),
    ("help", Builtin("help")), ("clear", Builtin("clear")), ("exit", Builtin("exit")),
    ("history", Builtin("history")),
    ("", None), ("   ", None), ("# a comment", None),
    ("kubectl get nodes # trailing comment", Pipeline(["get", "nodes"])),
])
def test_accepted(line: str, expected: Builtin | Pipeline | None) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(("line", "key"), [
    ("bash", "console.refused.command"),
    ("sh -c id", "console.refused.command"),
    ("ls /", "console.refused.command"),
    ("cat /etc/passwd", "console.refused.command"),
    ("/usr/bin/kubectl get nodes", "console.refused.command"),
    ("KUBECONFIG=/x kubectl get nodes", "console.refused.command"),
    ("kubectl get nodes; cat /etc/passwd", "console.refused.chaining"),
    ("kubectl get nodes && id", "console.refused.chaining"),
    ("kubectl get nodes || id", "console.refused.chaining"),
    ("kubectl get nodes & id", "console.refused.chaining"),
    ("kubectl get nodes |& grep x", "console.refused.chaining"),
    ("kubectl get nodes > /tmp/x", "console.refused.redirection"),
    ("kubectl get nodes >> /tmp/x", "console.refused.redirection"),
    ("kubectl apply -f - < /etc/passwd", "console.refused.redirection"),
    ("kubectl get nodes 2>/dev/null", "console.refused.redirection"),
    ("$(id)", "console.refused.substitution"),
    ("kubectl get pods $(id)", "console.refused.substitution"),
    ('kubectl get pods "$(id)"', "console.refused.substitution"),
    ("kubectl get pods `id`", "console.refused.substitution"),
    ('kubectl get pods "`id`"', "console.refused.substitution"),
    ("kubectl get pods $HOME", "console.refused.variable"),
    ("kubectl get pods ${HOME}", "console.refused.variable"),
    ('kubectl get pods "$KUBECONFIG"', "console.refused.variable"),
    ("(kubectl get pods)", "console.refused.subshell"),
    ("kubectl get pods 'unterminated", "console.refused.quote"),
    ('kubectl get pods "unterminated', "console.refused.quote"),
    ("kubectl get nodes |", "console.refused.empty_pipe"),
    ("| grep x", "console.refused.empty_pipe"),
    ("kubectl get nodes | | grep x", "console.refused.empty_pipe"),
    ("history | grep kubectl", "console.refused.builtin_pipe"),
    ("kubectl get nodes | sh", "console.refused.filter"),
    ("kubectl get nodes | xargs rm", "console.refused.filter"),
    ("kubectl get nodes | tee /tmp/x", "console.refused.filter"),
    ("kubectl get nodes | grep x /etc/passwd", "console.refused.filter_file"),
    ("kubectl get nodes | grep -e x /etc/passwd", "console.refused.filter_file"),
    ("kubectl get nodes | grep -f /etc/passwd", "console.refused.filter_option"),
    ("kubectl get nodes | grep -r root", "console.refused.filter_option"),
    ("kubectl get nodes | grep --file=/etc/passwd", "console.refused.filter_option"),
    ("kubectl get nodes | sort -o /tmp/x", "console.refused.filter_option"),
    ("kubectl get nodes | sort --compress-program=sh", "console.refused.filter_option"),
    ("kubectl get nodes | uniq - /tmp/out", "console.refused.filter_file"),
    ("kubectl get nodes | head /etc/passwd", "console.refused.filter_file"),
    ("kubectl get nodes | tail -f /var/log/syslog", "console.refused.filter_option"),
    ("kubectl get nodes | cut -d", "console.refused.filter_option"),
    ("kubectl edit node n1", "console.refused.edit"),
    ("kubectl cp web-0:/etc/passwd /tmp/x", "console.refused.local_files"),
    ("kubectl kustomize .", "console.refused.local_files"),
    ("kubectl diff -f -", "console.refused.diff"),
    ("kubectl proxy", "console.refused.local_network"),
    ("kubectl port-forward web-0 8080:80", "console.refused.local_network"),
    ("kubectl plugin list", "console.refused.plugin"),
    ("kubectl foo", "console.refused.kubectl_command"),
    ("kubectl -n x whoami-plugin", "console.refused.kubectl_command"),
    ("kubectl config set-credentials x --exec-command=/bin/sh", "console.refused.config"),
    ("kubectl config use-context other", "console.refused.config"),
    ("kubectl config set-context other --namespace=x", "console.refused.config"),
    ("kubectl config set-context --current --namespace=shop", "console.refused.config"),
    ("kubectl config view --raw", "console.refused.flag"),
    ("kubectl --kubeconfig=/etc/kubernetes/admin.conf get nodes", "console.refused.flag"),
    ("kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes", "console.refused.flag"),
    ("kubectl get nodes --server https://10.0.0.1", "console.refused.flag"),
    ("kubectl get nodes -s https://10.0.0.1", "console.refused.flag"),
    ("kubectl get nodes --token=abc", "console.refused.flag"),
    ("kubectl get nodes --log-file=/tmp/x", "console.refused.unknown_flag"),  # kubectl 1.37 has no --log-file
    ("kubectl create configmap c --from-file=/etc/passwd", "console.refused.flag"),
    ("kubectl create secret generic s --from-env-file=/etc/environment", "console.refused.flag"),
    ("kubectl create secret tls t --cert=/etc/ssl/a.pem --key=/etc/ssl/a.key", "console.refused.flag"),
    ("kubectl create --edit -f -", "console.refused.flag"),
    ("kubectl apply -f /etc/passwd", "console.refused.filename"),
    ("kubectl apply -f=/etc/passwd", "console.refused.filename"),
    ("kubectl apply -f/etc/passwd", "console.refused.filename"),
    ("kubectl apply --filename=/etc/passwd", "console.refused.filename"),
    ("kubectl apply --filename /etc/passwd", "console.refused.filename"),
    ("kubectl apply -f https://example.com/x.yaml", "console.refused.filename"),
    ("kubectl apply -k ./overlay", "console.refused.filename"),
    ("kubectl delete -f", "console.refused.filename"),
    ("kubectl debug web-0 -it --image=busybox --custom=/etc/passwd", "console.refused.flag"),
    ("kubectl get pods --kuberc=/etc/passwd", "console.refused.flag"),
    ("kubectl cluster-info dump --output-directory=/tmp/dump", "console.refused.flag"),
    ("kubectl patch node n1 --patch-file=/etc/passwd", "console.refused.flag"),
    ("kubectl alpha kuberc set --section=defaults", "console.refused.kubectl_command"),
    ("kubectl get pods -o jsonpath-file=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods -o=go-template-file=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods -ocustom-columns-file=/etc/passwd", "console.refused.output_file"),
    ("kubectl get pods --output templatefile=/etc/passwd", "console.refused.output_file"),
])
def test_refused(line: str, key: str) -> None:
    with pytest.raises(Refused) as caught:
        parse_line(line)
    assert caught.value.key == key
    assert key in MESSAGES  # every refusal explains itself, in both languages
    for lang in ("en", "zh-CN"):
        text = translate(key, lang, **caught.value.params)
        assert not re.search(r"\{[a-z_]+\}", text), text


def test_quoted_operators_are_words() -> None:
    words = split_words("""kubectl get pods -l "a|b" 'c;d' e\\>f""")
    assert words == ["kubectl", "get", "pods", "-l", "a|b", "c;d", "e>f"]


def test_lone_dollar_is_a_character() -> None:
    assert parse_line("kubectl get pods | grep 'x$'") == Pipeline(["get", "pods"], [["grep", "x$"]])
    assert parse_line("kubectl get pods | grep x$") == Pipeline(["get", "pods"], [["grep", "x$"]])


def test_framing_round_trip() -> None:
    assert decode(stdin_frame("kubectl get nodes\r")) == Stdin(b"kubectl get nodes\r")
    assert decode(stdin_frame("节点".encode())) == Stdin("节点".encode())
    assert decode(resize_frame(40, 132)) == Resize(40, 132)
    assert decode('4{"rows": 30, "cols": 100}') == Resize(30, 100)
    for bad in ("", "0", "0!!!", "4", "4bm90IGpzb24=", '4{"rows": 0, "cols": 5}', "9aGk=", "1aGk="):
        assert decode(bad) is None, bad
    assert encode_output(b"\x1b[31mred\x1b[0m") == "G1szMW1yZWQbWzBt"

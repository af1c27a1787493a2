"""Pure rules: label and taint validation (Kubernetes' own), kubectl's syntax, what a drain does to a pod."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.core.errors import Invalid
from shoal.nodes.drain import classify
from shoal.nodes.service import apply_taints
from shoal.nodes.validation import LabelChange, TaintChange, check_label_key, parse_label_args, parse_taint_args


@pytest.mark.parametrize("key", ["app", "a", "team_a", "A.b-c_D", "example.com/tier", "kubernetes.io/hostname",
                                 "node-role.kubernetes.io/control-plane", "a" * 63, f"{'b' * 63}.com/x"])
def test_valid_label_keys(key: str) -> None:
    check_label_key(key)


@pytest.mark.parametrize(("key", "message"), [
    ("", "error.node_label_key_empty"), ("-a", "error.node_label_key_characters"),
    ("a-", "error.node_label_key_characters"), ("a b", "error.node_label_key_characters"),
    ("a" * 64, "error.node_label_key_too_long"), ("Example.com/x", "error.node_label_prefix"),
    ("/x", "error.node_label_prefix"), ("a..b/x", "error.node_label_prefix"), ("x/", "error.node_label_key_empty"),
    (f"{'b' * 250}.com/x", "error.node_label_prefix"), ("a/b/c", "error.node_label_prefix"),
])
def test_invalid_label_keys(key: str, message: str) -> None:
    with pytest.raises(Invalid) as info:
        check_label_key(key)
    assert info.value.message_key == message


def test_label_values_and_syntax() -> None:
    assert parse_label_args(["tier=web", "empty=", "gone-"]) == [
        LabelChange("tier", "web"), LabelChange("empty", ""), LabelChange("gone", None)]
    for bad in (["tier"], ["tier=has space"], ["tier=" + "v" * 64], ["t=-x"], ["a=1", "a-"]):
        with pytest.raises(Invalid):
            parse_label_args(bad)


def test_taint_syntax_like_kubectl() -> None:
    assert parse_taint_args(["dedicated=gpu:NoSchedule", "k:NoExecute", "x-", "y:PreferNoSchedule-"]) == [
        TaintChange("dedicated", "gpu", "NoSchedule"), TaintChange("k", "", "NoExecute"),
        TaintChange("x", "", None, remove=True), TaintChange("y", "", "PreferNoSchedule", remove=True)]
    for bad, message in ((["k=v"], "error.node_taint_syntax"), (["k=v:Never"], "error.node_taint_effect"),
                         (["=v:NoSchedule"], "error.node_taint_syntax"),
                         (["k=a b:NoSchedule"], "error.node_taint_value"),
                         (["k:NoSchedule", "k:NoSchedule"], "error.node_change_twice"),
                         (["-bad:NoSchedule"], "error.node_label_key_characters")):
        with pytest.raises(Invalid) as info:
            parse_taint_args(bad)
        assert info.value.message_key == message, bad


def test_apply_taints_replaces_by_key_and_effect() -> None:
    current = [{"key": "a", "value": "1", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"},
               {"key": "b", "effect": "NoSchedule"}]
    out = apply_taints(current, [TaintChange("a", "2", "NoSchedule"), TaintChange("b", remove=True),
                                 TaintChange("c", "", "NoExecute")], "2026-01-01T00:00:00Z")
    assert out == [{"key": "a", "value": "2", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"},
                   {"key": "c", "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}]
    assert apply_taints(out, [TaintChange("a", "", "NoExecute", remove=True)], "")[0]["value"] == "2"


def pod(owner: str | None = None, *, mirror: bool = False, empty_dir: bool = False, phase: str = "Running",
        grace: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "u1"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "x"}
    spec: dict[str, Any] = {"nodeName": "n1", "containers": [{"name": "c"}]}
    if empty_dir:
        spec["volumes"] = [{"name": "v", "emptyDir": {}}]
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def test_classify_like_kubectl_drain() -> None:
    def decide(p: dict[str, Any], force: bool = False, allow: bool = False) -> tuple[str, list[str]]:
        plan = classify(p, force=force, delete_emptydir=allow)
        return plan.action, plan.reasons

    assert decide(pod("ReplicaSet")) == ("evict", ["node.pod.controller"])
    assert decide(pod("DaemonSet")) == ("skip", ["node.pod.daemonset"])
    assert decide(pod(None, mirror=True)) == ("skip", ["node.pod.mirror"])
    assert decide(pod(None)) == ("refuse", ["node.pod.unmanaged"])
    assert decide(pod(None), force=True) == ("evict", ["node.pod.unmanaged_forced"])
    assert decide(pod(None, phase="Succeeded")) == ("evict", ["node.pod.finished"])
    assert decide(pod("StatefulSet", empty_dir=True)) == ("refuse", ["node.pod.emptydir"])
    assert decide(pod("StatefulSet", empty_dir=True), allow=True) == ("evict", ["node.pod.emptydir_deleted"])
    assert decide(pod(None, empty_dir=True)) == ("refuse", ["node.pod.unmanaged", "node.pod.emptydir"])
    assert classify(pod("Job", grace=5), force=False, delete_emptydir=False).grace == 5

"""Unit tests of the pure parts: patches, selectors, the shell, protobuf decoding, printing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubesim.errors import ApiError
from kubesim.patch import json_patch, merge_patch, strategic_merge
from kubesim.protobuf import MAGIC, decode
from kubesim.selectors import parse_field_selector, parse_label_selector, selector_from_spec
from kubesim.shell import run_captured
from kubesim.tables import human_age


def test_strategic_merge_lists_by_key_and_directives() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                                   {"name": "b", "image": "b:1"}],
                    "finalizers": ["x"], "tolerations": [{"key": "t"}]}}
    patch = {"spec": {"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                                     {"name": "b", "$patch": "delete"}],
                      "$setElementOrder/containers": [{"name": "a"}],
                      "finalizers": ["y"], "tolerations": [{"key": "u"}]}}
    out = strategic_merge(pod, patch)
    assert out["spec"]["containers"] == [{"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"},
                                                                               {"name": "Y", "value": "2"}]}]
    assert out["spec"]["finalizers"] == ["x", "y"]
    assert out["spec"]["tolerations"] == [{"key": "u"}]  # no merge key: replaced
    assert strategic_merge({"spec": {"unschedulable": True}}, {"spec": {"unschedulable": None}}) == {"spec": {}}
    assert strategic_merge({"a": {"b": 1, "c": 2}}, {"a": {"$patch": "replace", "d": 3}}) == {"a": {"d": 3}}


def test_merge_and_json_patch() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}) == {"a": 1, "b": {"d": 3}}
    doc = {"items": [1, 2], "m": {"k": "v"}}
    out = json_patch(doc, [{"op": "add", "path": "/items/-", "value": 3}, {"op": "move", "from": "/m/k",
                                                                          "path": "/m/j"},
                           {"op": "copy", "from": "/items/0", "path": "/first"}])
    assert out == {"items": [1, 2, 3], "m": {"j": "v"}, "first": 1}
    with pytest.raises(ApiError) as exc:
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])
    assert exc.value.code == 422


def test_selectors() -> None:
    obj = {"metadata": {"name": "n", "labels": {"app": "web", "tier": "front"}}, "spec": {"nodeName": "w1"},
           "status": {"phase": "Running"}}
    for text, expected in [("app=web", True), ("app==web,tier!=back", True), ("tier in (front, back)", True),
                           ("tier notin (front)", False), ("app", True), ("!app", False), ("!missing", True),
                           ("app=web,env", False)]:
        pred = parse_label_selector(text)
        assert pred is not None and pred(obj) is expected, text
    fields = parse_field_selector("spec.nodeName=w1,status.phase!=Failed,metadata.name=n")
    assert fields is not None and fields(obj)
    assert selector_from_spec({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]})(obj)
    assert not selector_from_spec(None)(obj)
    with pytest.raises(ApiError):
        parse_label_selector("app in (a")


def test_shell_scripts() -> None:
    assert run_captured(["sh", "-c", "false || echo fallback; true && echo ok"], {}) == (0, "fallback\nok\n")
    assert run_captured(["sh", "-c", "false; echo $?; exit 7"], {}) == (7, "1\n")
    assert run_captured(["sh", "-c", "echo piped | cat"], {}) == (0, "piped\n")
    assert run_captured(["sh", "-c", 'printf "%s-%s\\n" a b; echo "$NAME"'], {"NAME": "x"}) == (0, "a-b\nx\n")
    assert run_captured(["nosuch"], {}) == (127, "sh: 1: nosuch: not found\n")


def _field(num: int, payload: bytes) -> bytes:
    return bytes([num << 3 | 2, len(payload)]) + payload


def test_protobuf_decoding() -> None:
    meta = _field(1, b"cfg") + _field(11, _field(1, b"app") + _field(2, b"web"))
    raw = _field(1, meta) + _field(2, _field(1, b"k") + _field(2, b"v"))
    body = MAGIC + _field(1, _field(1, b"v1") + _field(2, b"ConfigMap")) + _field(2, raw)
    assert decode(body) == {"kind": "ConfigMap", "apiVersion": "v1",
                            "metadata": {"name": "cfg", "labels": {"app": "web"}}, "data": {"k": "v"}}


def test_human_age() -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)

    def age(delta: timedelta) -> str:
        return human_age((now - delta).strftime("%Y-%m-%dT%H:%M:%SZ"), now)
    assert [age(timedelta(seconds=5)), age(timedelta(minutes=5, seconds=3)), age(timedelta(minutes=45)),
            age(timedelta(hours=3, minutes=10)), age(timedelta(hours=20)), age(timedelta(days=3, hours=2)),
            age(timedelta(days=40))] == ["5s", "5m3s", "45m", "3h10m", "20h", "3d2h", "40d"]

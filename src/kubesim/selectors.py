"""Label and field selectors, parsed once per request and matched against raw objects.

The real API server filters lists and watches itself (kubectl never filters
locally, and ``kubectl drain`` relies on ``fieldSelector=spec.nodeName=<node>``), so
these follow the apimachinery grammar: equality (``=``, ``==``, ``!=``), set-based
(``in``, ``notin``), existence (``key``, ``!key``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubesim.errors import bad_request

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]

__all__ = ["Predicate", "field_value", "parse_field_selector", "parse_label_selector", "selector_from_spec"]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split_requirements(text: str) -> list[str]:
    """Split on commas that are not inside ``( … )`` value sets."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()]


def _label_requirement(req: str) -> Callable[[dict[str, str]], bool]:
    m = _EQ_RE.match(req)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _SET_RE.match(req)
    if not m:
        raise bad_request(f"unable to parse requirement: {req!r}")
    negated, key, op, values_text = m.groups()
    if op:
        values = {v.strip() for v in values_text.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def parse_label_selector(text: str | None) -> Predicate | None:
    """A predicate on objects for a ``labelSelector`` query value, or None if empty."""
    if not text or not text.strip():
        return None
    reqs = [_label_requirement(r) for r in _split_requirements(text)]

    def match(obj: JSON) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


def field_value(obj: JSON, path: str) -> str:
    """The string value of a dotted field path, ``""`` when absent (as the API server does)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> Predicate | None:
    """A predicate for a ``fieldSelector`` value; any dotted path is accepted."""
    if not text or not text.strip():
        return None
    reqs: list[tuple[str, bool, str]] = []
    for req in _split_requirements(text):
        m = re.match(r"^\s*([A-Za-z0-9._\[\]-]+)\s*(==|=|!=)\s*(.*?)\s*$", req)
        if not m:
            raise bad_request(f"invalid field selector: {req!r}")
        path, op, value = m.groups()
        reqs.append((path, op == "!=", value))

    def match(obj: JSON) -> bool:
        return all((field_value(obj, path) == value) != negate for path, negate, value in reqs)

    return match


def selector_from_spec(selector: JSON | None) -> Predicate:
    """A predicate for a structured ``LabelSelector`` (matchLabels + matchExpressions).

    An empty selector matches everything, a missing one nothing — the PDB and
    workload semantics of the real controllers.
    """
    if selector is None:
        return lambda obj: False
    match_labels: dict[str, str] = selector.get("matchLabels") or {}
    exprs: list[JSON] = selector.get("matchExpressions") or []

    def match(obj: JSON) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in match_labels.items()):
            return False
        for e in exprs:
            key, op, values = e.get("key", ""), e.get("operator", ""), e.get("values") or []
            if op == "In" and labels.get(key) not in values:
                return False
            if op == "NotIn" and labels.get(key) in values:
                return False
            if op == "Exists" and key not in labels:
                return False
            if op == "DoesNotExist" and key in labels:
                return False
        return True

    return match

"""Labels and taints checked by Kubernetes' own rules before any call reaches a cluster.

Who uses it: ``nodes.service`` (API, pages) and the CLI's ``k=v``/``k-``
parsing. The rules are those of ``k8s.io/apimachinery`` validation:

* a label key (and a taint key) is a *qualified name*: an optional prefix that
  is a DNS subdomain (at most 253 characters, lowercase alphanumerics, ``-``
  and ``.``) followed by ``/``, then a name of 1–63 characters of
  alphanumerics, ``-``, ``_`` and ``.`` that starts and ends alphanumeric;
* a label value (and a taint value) is empty or such a name (at most 63);
* a taint effect is ``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``, and
  a node has at most one taint per key and effect.

Every failure is an :class:`~shoal.core.errors.Invalid` whose message says
which key or value, and why, in the user's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shoal.core.errors import Invalid

__all__ = [
    "EFFECTS",
    "LabelChange",
    "TaintChange",
    "check_label_key",
    "check_label_value",
    "check_taint",
    "parse_label_args",
    "parse_taint_args",
]

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_MAX = 63
_PREFIX_MAX = 253


_KEY_MESSAGES = {"empty": "error.node_label_key_empty", "too_long": "error.node_label_key_too_long",
                 "characters": "error.node_label_key_characters"}
_VALUE_MESSAGES = {"too_long": "error.node_label_value_too_long", "characters": "error.node_label_value_characters"}


def _name_problem(text: str) -> str | None:
    if not text:
        return "empty"
    if len(text) > _NAME_MAX:
        return "too_long"
    if not _NAME.match(text):
        return "characters"
    return None


def check_label_key(key: str, *, field: str = "labels") -> None:
    """Raise ``Invalid`` unless ``key`` is a qualified name."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > _PREFIX_MAX
                  or not all(_DNS_LABEL.match(part) for part in prefix.split("."))):
        raise Invalid("error.node_label_prefix", hint="hint.node_label_key", field=field, key=key)
    problem = _name_problem(name)
    if problem is not None:
        raise Invalid(_KEY_MESSAGES[problem], hint="hint.node_label_key", field=field, key=key,
                      max=_NAME_MAX)


def check_label_value(key: str, value: str, *, field: str = "labels") -> None:
    """Raise ``Invalid`` unless ``value`` is empty or a valid name (at most 63 characters)."""
    if value == "":
        return
    problem = _name_problem(value)
    if problem is not None:
        raise Invalid(_VALUE_MESSAGES[problem], hint="hint.node_label_value", field=field, key=key,
                      value=value[:80], max=_NAME_MAX)


@dataclass(frozen=True)
class LabelChange:
    """Set ``key`` to ``value``, or remove ``key`` when ``value`` is None."""

    key: str
    value: str | None

    def check(self) -> None:
        check_label_key(self.key)
        if self.value is not None:
            check_label_value(self.key, self.value)


@dataclass(frozen=True)
class TaintChange:
    """Add or change the taint ``key``/``effect`` (``remove`` False), or remove it.

    Removing with ``effect`` None removes every taint with that key (``kubectl taint node n key-``).
    """

    key: str
    value: str = ""
    effect: str | None = None
    remove: bool = False

    def check(self) -> None:
        check_taint(self.key, self.value, self.effect, removing=self.remove)

    def text(self) -> str:
        out = self.key + (f"={self.value}" if self.value else "") + (f":{self.effect}" if self.effect else "")
        return out + ("-" if self.remove else "")


def check_taint(key: str, value: str, effect: str | None, *, removing: bool = False) -> None:
    check_label_key(key, field="taints")
    if value:
        try:
            check_label_value(key, value, field="taints")
        except Invalid as e:
            raise Invalid("error.node_taint_value", hint="hint.node_label_value", field="taints", key=key,
                          value=value[:80]) from e
    if effect is None and not removing:
        raise Invalid("error.node_taint_effect_missing", hint="hint.node_taint_effect", field="taints", key=key)
    if effect is not None and effect not in EFFECTS:
        raise Invalid("error.node_taint_effect", hint="hint.node_taint_effect", field="taints", key=key,
                      effect=effect[:40], effects=", ".join(EFFECTS))


def parse_label_args(args: list[str]) -> list[LabelChange]:
    """``["k=v", "k2-"]`` (kubectl's syntax) as checked changes."""
    changes: list[LabelChange] = []
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            change = LabelChange(key, value)
        elif arg.endswith("-"):
            change = LabelChange(arg[:-1], None)
        else:
            raise Invalid("error.node_label_syntax", hint="hint.node_label_syntax", field="labels", arg=arg[:80])
        change.check()
        changes.append(change)
    _no_twice([c.key for c in changes], "labels")
    return changes


def parse_taint_args(args: list[str]) -> list[TaintChange]:
    """``["k=v:NoSchedule", "k:NoExecute", "k-", "k:NoSchedule-"]`` (kubectl's syntax) as checked changes."""
    changes: list[TaintChange] = []
    for arg in args:
        remove = arg.endswith("-")
        body = arg[:-1] if remove else arg
        key_value, colon, effect = body.rpartition(":") if ":" in body else (body, "", "")
        key, _, value = key_value.partition("=")
        if not key or (not remove and not colon):
            raise Invalid("error.node_taint_syntax", hint="hint.node_taint_syntax", field="taints", arg=arg[:80])
        change = TaintChange(key, value, effect or None, remove)
        change.check()
        changes.append(change)
    _no_twice([f"{c.key}:{c.effect}" for c in changes if not c.remove], "taints")
    return changes


def _no_twice(keys: list[str], field: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise Invalid("error.node_change_twice", field=field, key=key)
        seen.add(key)

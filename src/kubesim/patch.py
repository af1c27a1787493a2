"""The three PATCH flavours of the API server, plus the small apply used for SSA.

* JSON merge patch (RFC 7386): ``application/merge-patch+json`` — ``kubectl label``.
* Strategic merge patch: ``application/strategic-merge-patch+json`` — ``kubectl
  cordon``/``taint``/client-side ``apply``. Lists whose items carry a merge key
  (containers by ``name``, container ports by ``containerPort`` …) are merged item by
  item; ``$patch``, ``$setElementOrder/…``, ``$retainKeys`` and
  ``$deleteFromPrimitiveList/…`` directives are understood for the common cases.
* JSON patch (RFC 6902): ``application/json-patch+json``.

Merge keys are chosen by field name, not by schema, which is right for every
built-in kind the simulator serves.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.errors import ApiError, bad_request

JSON = dict[str, Any]

__all__ = ["apply_patch", "json_patch", "merge_patch", "strategic_merge"]

# field name -> merge key, for lists the API merges item by item (patchStrategy=merge)
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "addresses": "type",
}
# lists of scalars merged as sets
_PRIMITIVE_MERGE = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: JSON = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key_for(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), None)
        if sample is not None and "containerPort" in sample:
            return "containerPort"
        return "port"
    return _MERGE_KEYS.get(field)


def _merge_list(field: str, original: list[Any], patch: list[Any], directives: JSON) -> list[Any]:
    delete_prims = directives.get(f"$deleteFromPrimitiveList/{field}")
    order = directives.get(f"$setElementOrder/{field}")
    if field in _PRIMITIVE_MERGE:
        out = list(original)
        for item in patch:
            if item not in out:
                out.append(item)
        if isinstance(delete_prims, list):
            out = [i for i in out if i not in delete_prims]
        return out
    key = _merge_key_for(field, [*patch, *original])
    if key is None:
        if len(patch) == 1 and isinstance(patch[0], dict) and patch[0].get("$patch") == "replace":
            return []
        return copy.deepcopy(patch)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    out = [copy.deepcopy(i) for i in original]
    for item in patch:
        if not isinstance(item, dict):
            continue
        match_idx = next(
            (n for n, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if match_idx is not None:
                out.pop(match_idx)
            continue
        if match_idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[match_idx] = strategic_merge(out[match_idx], item)
    if isinstance(order, list):
        rank = {
            (o.get(key) if isinstance(o, dict) else o): n for n, o in enumerate(order)
        }
        out.sort(key=lambda i: rank.get(i.get(key) if isinstance(i, dict) else i, len(rank)))
    return out


def strategic_merge(original: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to ``original`` and return the new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result: JSON = copy.deepcopy(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            existing = result.get(key)
            result[key] = _merge_list(key, existing if isinstance(existing, list) else [], value, patch)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if field not in patch and isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [i for i in result[field] if i not in value]
    if isinstance(retain, list):
        for key in list(result):
            if key not in retain:
                del result[key]
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur[part]
        else:
            raise KeyError(part)
    return cur


def _jp_get(doc: Any, path: str) -> Any:
    return _container(doc, _pointer(path))


def _jp_remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _container(doc, parts[:-1])
    if isinstance(parent, list):
        return parent.pop(int(parts[-1]))
    return parent.pop(parts[-1])


def _jp_add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent = _container(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if replace:
            parent[int(last)] = copy.deepcopy(value)
        elif last == "-":
            parent.append(copy.deepcopy(value))
        else:
            parent.insert(int(last), copy.deepcopy(value))
    else:
        if replace and last not in parent:
            raise KeyError(last)
        parent[last] = copy.deepcopy(value)
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch; failures become 422 like the real API server's."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    try:
        for op in operations:
            kind, path = op.get("op"), op.get("path", "")
            if kind == "add":
                doc = _jp_add(doc, path, op.get("value"))
            elif kind == "remove":
                _jp_remove(doc, path)
            elif kind == "replace":
                doc = _jp_add(doc, path, op.get("value"), replace=True)
            elif kind == "move":
                value = _jp_remove(doc, op["from"])
                doc = _jp_add(doc, path, value)
            elif kind == "copy":
                doc = _jp_add(doc, path, _jp_get(doc, op["from"]))
            elif kind == "test":
                if _jp_get(doc, path) != op.get("value"):
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in "
                                   f"our request: testing value {path} failed")
            else:
                raise bad_request(f"unknown json patch operation {kind!r}")
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                       f"request: json patch failed at {e}") from e
    return doc


def apply_patch(original: JSON, applied: JSON) -> JSON:
    """Server-side apply, simplified: the applied configuration wins field by field.

    Without managed-fields bookkeeping, fields the manager stopped setting are kept;
    that is enough for ``kubectl apply --server-side`` create/update round trips.
    """
    result = strategic_merge(original, applied)
    assert isinstance(result, dict)
    return result

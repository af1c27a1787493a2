"""Conversions between API shapes that share one storage bucket.

``events.k8s.io/v1`` Events are the core ``v1`` Events seen through another
schema (``regarding``/``note``/``reportingController`` instead of
``involvedObject``/``message``/``source``), exactly as the API server stores
both in one place. Objects are stored in core form and converted on the way out;
writes through ``events.k8s.io`` are converted to core form on the way in.
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import ResourceType, by_plural

JSON = dict[str, Any]

__all__ = ["from_storage", "needs_conversion", "storage_type", "to_storage"]


def needs_conversion(rt: ResourceType) -> bool:
    return rt.group == "events.k8s.io"


def storage_type(rt: ResourceType) -> ResourceType:
    """The resource whose shape ``rt``'s objects are stored in."""
    return by_plural("events") if needs_conversion(rt) else rt


def _micro(timestamp: str | None) -> str | None:
    return timestamp.replace("Z", ".000000Z") if timestamp and "." not in timestamp else timestamp


def _event_out(e: JSON) -> JSON:
    source = e.get("source") or {}
    out: JSON = {
        "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": e.get("metadata", {}),
        # strict clients require eventTime; events made through the core API may lack it
        "eventTime": e.get("eventTime") or _micro(e.get("firstTimestamp") or e["metadata"].get("creationTimestamp")),
        "reportingController": e.get("reportingComponent") or source.get("component", ""),
        "reportingInstance": e.get("reportingInstance") or source.get("host", ""),
        "action": e.get("action", ""), "reason": e.get("reason", ""), "regarding": e.get("involvedObject", {}),
        "note": e.get("message", ""), "type": e.get("type", ""),
    }
    if source:
        out["deprecatedSource"] = source
    for new, old in (("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
                     ("deprecatedCount", "count"), ("related", "related"), ("series", "series")):
        if e.get(old) is not None:
            out[new] = e[old]
    return out


def _event_in(e: JSON) -> JSON:
    core: JSON = {
        "metadata": e.get("metadata", {}), "involvedObject": e.get("regarding") or {},
        "reason": e.get("reason", ""), "message": e.get("note", ""), "type": e.get("type", ""),
        "eventTime": e.get("eventTime"), "action": e.get("action", ""),
        "reportingComponent": e.get("reportingController", ""), "reportingInstance": e.get("reportingInstance", ""),
        "source": e.get("deprecatedSource") or {"component": e.get("reportingController", "")},
        "count": e.get("deprecatedCount", 1),
    }
    for new, old in (("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
                     ("related", "related"), ("series", "series")):
        if e.get(new) is not None:
            core[old] = e[new]
    return core


def from_storage(rt: ResourceType, obj: JSON) -> JSON:
    """The stored object as ``rt`` presents it."""
    return _event_out(obj) if needs_conversion(rt) else obj


def to_storage(rt: ResourceType, obj: JSON) -> JSON:
    """An object written through ``rt`` in the form it is stored in."""
    return _event_in(obj) if needs_conversion(rt) else obj

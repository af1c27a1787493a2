"""The object store of one virtual cluster: objects, one resourceVersion counter, watches.

Everything the API server persists goes through :class:`Store`. It fills the
server-owned metadata (``uid``, ``resourceVersion``, ``creationTimestamp``,
``generation``), keeps a bounded history of changes so a watch can resume from a
``resourceVersion`` (older ones get 410 Gone, as with etcd compaction), and hands
each change to the registered watchers and controller hooks.

It is thread-safe: tests mutate it from their own thread through the Python API
while the server's event loop serves requests; watchers are woken with
``call_soon_threadsafe`` on the loop that owns them.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubesim.errors import ApiError, already_exists, conflict, gone, invalid, not_found
from kubesim.resources import ResourceType
from kubesim.selectors import Predicate

JSON = dict[str, Any]
Hook = Callable[["WatchEvent"], None]

__all__ = ["Store", "WatchEvent", "Watcher", "now_iso"]

# How many changes a watch may lag behind and still resume; older resourceVersions
# answer 410 Gone like a compacted etcd. Kept small: 1,000 virtual clusters share RAM.
DEFAULT_HISTORY = 1000


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WatchEvent:
    """One change: ``type`` is ADDED, MODIFIED or DELETED; ``obj`` must not be mutated."""

    rv: int
    key: str
    type: str
    obj: JSON
    old: JSON | None = None  # the previous state, for MODIFIED


class Watcher:
    """A subscription to changes of one resource bucket, filtered by namespace and predicates."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: str, namespace: str | None,
                 predicate: Predicate | None) -> None:
        self.loop = loop
        self.key = key
        self.namespace = namespace
        self.predicate = predicate
        self.queue: asyncio.Queue[WatchEvent] = asyncio.Queue()

    def translate(self, ev: WatchEvent) -> WatchEvent | None:
        """The event as this watcher sees it, or None.

        With a selector, an object modified into the selection is ADDED and one
        modified out of it is DELETED, as the API server's filtered watches do.
        """
        if ev.key != self.key:
            return None
        if self.namespace and ev.obj.get("metadata", {}).get("namespace") != self.namespace:
            return None
        if self.predicate is None:
            return ev
        now = self.predicate(ev.obj)
        if ev.type != "MODIFIED" or ev.old is None:
            return ev if now else None
        before = self.predicate(ev.old)
        if now and before:
            return ev
        if now:
            return WatchEvent(ev.rv, ev.key, "ADDED", ev.obj)
        if before:
            return WatchEvent(ev.rv, ev.key, "DELETED", ev.obj)
        return None

    def matches(self, ev: WatchEvent) -> bool:
        return self.translate(ev) is not None

    def offer(self, ev: WatchEvent) -> None:
        seen = self.translate(ev)
        if seen is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.queue.put_nowait, seen)


def _spec_part(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


class Store:
    """In-memory objects of one virtual cluster, keyed by resource bucket, namespace, name."""

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self._lock = threading.RLock()
        self._rv = 1
        self._data: dict[str, dict[tuple[str, str], JSON]] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._watchers: set[Watcher] = set()
        self.hooks: list[Hook] = []

    def locked(self) -> threading.RLock:
        """The store's (re-entrant) lock, for read-modify-write sequences such as PATCH."""
        return self._lock

    # --- reads -----------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def try_get(self, rt: ResourceType, namespace: str, name: str) -> JSON | None:
        """The stored object (shared: copy before changing it) or None."""
        with self._lock:
            return self._data.get(rt.key, {}).get((namespace if rt.namespaced else "", name))

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        obj = self.try_get(rt, namespace, name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None = None,
             predicate: Predicate | None = None) -> tuple[list[JSON], int]:
        """Matching objects sorted by namespace and name, and the store's resourceVersion."""
        with self._lock:
            bucket = self._data.get(rt.key, {})
            keys = sorted(bucket)
            items = [bucket[k] for k in keys if not namespace or k[0] == namespace]
            rv = self._rv
        if predicate is not None:
            items = [i for i in items if predicate(i)]
        return items, rv

    # --- writes ----------------------------------------------------------------
    def _bump(self) -> int:
        self._rv += 1
        return self._rv

    def _emit(self, rt: ResourceType, kind: str, obj: JSON, rv: int, old: JSON | None = None) -> None:
        ev = WatchEvent(rv, rt.key, kind, obj, old)
        self._history.append(ev)
        for w in list(self._watchers):
            w.offer(ev)
        for hook in list(self.hooks):
            hook(ev)

    def create(self, rt: ResourceType, obj: JSON, namespace: str = "", *, uid: str | None = None) -> JSON:
        """Store a new object, filling server-owned metadata; 409 if the name is taken.

        ``uid`` lets the simulator give seeded objects a chosen UID (clients' UIDs are ignored).
        """
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise invalid(rt, "", "metadata.name", "Required value: name or generateName is required")
            meta["name"] = prefix + uuid.uuid4().hex[:5]
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version
        with self._lock:
            bucket = self._data.setdefault(rt.key, {})
            k = (meta.get("namespace", ""), meta["name"])
            if k in bucket:
                raise already_exists(rt, meta["name"])
            rv = self._bump()
            meta["uid"] = uid or str(uuid.uuid4())
            meta["resourceVersion"] = str(rv)
            meta["creationTimestamp"] = now_iso()
            meta["generation"] = 1
            for transient in ("deletionTimestamp", "managedFields"):
                meta.pop(transient, None)
            bucket[k] = obj
            self._emit(rt, "ADDED", obj, rv)
        return obj

    def update(self, rt: ResourceType, obj: JSON, *, check_rv: bool = True, subresource: str = "") -> JSON:
        """Replace an object (PUT semantics); 409 on a stale ``resourceVersion``.

        ``subresource="status"`` changes only the status; a main-resource update of a
        kind with a status subresource keeps the old status, as the API server does.
        A no-op update keeps the resourceVersion and emits nothing.
        """
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name", "")
        with self._lock:
            bucket = self._data.setdefault(rt.key, {})
            k = (meta.get("namespace", "") if rt.namespaced else "", name)
            old = bucket.get(k)
            if old is None:
                raise not_found(rt, name)
            given = meta.get("resourceVersion")
            if check_rv and given and given != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if subresource == "status":
                new = copy.deepcopy(old)
                if "status" in obj:
                    new["status"] = obj["status"]
                obj = new
            elif rt.has_status and subresource == "":
                if "status" in old:
                    obj["status"] = copy.deepcopy(old["status"])
                else:
                    obj.pop("status", None)
            meta = obj["metadata"]
            ometa = old["metadata"]
            for fixed in ("uid", "creationTimestamp", "namespace", "deletionTimestamp"):
                if fixed in ometa:
                    meta[fixed] = ometa[fixed]
            meta.pop("managedFields", None)
            meta["generation"] = ometa.get("generation", 1)
            if _spec_part(obj) != _spec_part(old):
                meta["generation"] = ometa.get("generation", 1) + 1
            obj["kind"] = rt.kind
            obj["apiVersion"] = rt.api_version
            meta["resourceVersion"] = ometa["resourceVersion"]
            if obj == old:
                return old
            rv = self._bump()
            meta["resourceVersion"] = str(rv)
            bucket[k] = obj
            self._emit(rt, "MODIFIED", obj, rv, old)
        return obj

    def mutate(self, rt: ResourceType, namespace: str, name: str,
               change: Callable[[JSON], None], *, subresource: str = "") -> JSON:
        """Read-modify-write under the lock: ``change`` edits a private copy in place."""
        with self._lock:
            obj = copy.deepcopy(self.get(rt, namespace, name))
            change(obj)
            return self.update(rt, obj, check_rv=False, subresource=subresource or "any")

    def delete(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """Remove an object at once (graceful deletion is collapsed to zero seconds)."""
        with self._lock:
            bucket = self._data.get(rt.key, {})
            k = (namespace if rt.namespaced else "", name)
            old = bucket.pop(k, None)
            if old is None:
                raise not_found(rt, name)
            rv = self._bump()
            gone_obj = copy.deepcopy(old)
            gone_obj["metadata"]["resourceVersion"] = str(rv)
            gone_obj["metadata"].setdefault("deletionTimestamp", now_iso())
            self._emit(rt, "DELETED", gone_obj, rv)
        return gone_obj

    # --- watches ---------------------------------------------------------------
    def watch(self, rt: ResourceType, namespace: str | None, predicate: Predicate | None,
              since: int | None, loop: asyncio.AbstractEventLoop) -> Watcher:
        """Subscribe; with ``since`` replay the changes after it, with None the current state.

        A ``since`` older than the retained history raises 410 Gone.
        """
        w = Watcher(loop, rt.key, namespace, predicate)
        with self._lock:
            if since is None:
                items, rv = self.list(rt, namespace, predicate)
                for obj in items:
                    w.queue.put_nowait(WatchEvent(rv, rt.key, "ADDED", obj))
            elif since < self._rv:
                oldest = self._history[0].rv if self._history else self._rv + 1
                if since < oldest - 1:
                    raise gone(f"too old resource version: {since} ({oldest - 1})")
                for ev in self._history:
                    seen = w.translate(ev) if ev.rv > since else None
                    if seen is not None:
                        w.queue.put_nowait(seen)
            self._watchers.add(w)
        return w

    def watch_count(self, rt: ResourceType | None = None) -> int:
        """Open watches (of one resource bucket, or all): lets tests wait for a client's watch."""
        with self._lock:
            return sum(1 for w in self._watchers if rt is None or w.key == rt.key)

    def unwatch(self, w: Watcher) -> None:
        with self._lock:
            self._watchers.discard(w)


def check_namespace(store: Store, ns_rt: ResourceType, namespace: str) -> None:
    """404 for objects created in a namespace that does not exist (as the API server does)."""
    if store.try_get(ns_rt, "", namespace) is None:
        raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                       details={"name": namespace, "kind": "namespaces"})

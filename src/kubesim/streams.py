"""Long-lived HTTP responses: watches and ``pods/log?follow=true``.

A watch is a chunked stream of JSON lines ``{"type": …, "object": …}``. It starts
after the given ``resourceVersion`` (or with synthetic ADDED events for the current
state when none is given), sends BOOKMARKs only when ``allowWatchBookmarks=true``,
ends after ``timeoutSeconds`` or when the client goes away, and reports a too-old
``resourceVersion`` as an ERROR event carrying a 410 Status, as the API server does.
Watch events are Tables when the client asked for ``as=Table`` (``kubectl get -w``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kubesim.api import Call, wants_table
from kubesim.conversion import from_storage
from kubesim.errors import ApiError, bad_request
from kubesim.selectors import parse_field_selector, parse_label_selector
from kubesim.store import WatchEvent
from kubesim.tables import table_for

JSON = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["BOOKMARK_INTERVAL", "stream_logs", "stream_watch"]

# Real API servers bookmark about once a minute; a shorter interval keeps tests fast.
BOOKMARK_INTERVAL = 5.0


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return


async def _start(send: Send, content_type: str) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", content_type.encode()), (b"cache-control", b"no-cache, private")]})


async def _chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def stream_watch(call: Call, receive: Receive, send: Send) -> None:
    """Serve ``?watch=true`` for ``call`` until timeout or disconnect."""
    label = parse_label_selector(call.q("labelSelector"))
    fields = parse_field_selector(call.q("fieldSelector"))

    def pred(o: JSON) -> bool:
        return (label is None or label(o)) and (fields is None or fields(o))

    rv_text = call.q("resourceVersion")
    since: int | None = None
    if rv_text not in ("", "0"):
        try:
            since = int(rv_text)
        except ValueError as e:
            raise bad_request(f"invalid resourceVersion {rv_text!r}") from e
    timeout = float(call.q("timeoutSeconds", "0") or 0)
    bookmarks = call.flag("allowWatchBookmarks")
    table = wants_table(call.headers)
    include = call.q("includeObject", "Metadata")
    store = call.cluster.store
    loop = asyncio.get_running_loop()
    await _start(send, "application/json")
    try:
        watcher = store.watch(call.rt, call.namespace or None, pred if (label or fields) else None, since, loop)
    except ApiError as e:
        await _chunk(send, json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n")
        await send({"type": "http.response.body", "body": b""})
        return
    first = [True]

    def encode(ev: WatchEvent) -> bytes:
        obj = from_storage(call.rt, ev.obj)
        if table:
            obj = table_for(call.rt, [obj], include=include, with_columns=first[0],
                            list_meta={"resourceVersion": str(ev.rv)})
            first[0] = False
        return json.dumps({"type": ev.type, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def bookmark(annotations: dict[str, str] | None = None) -> bytes:
        meta: JSON = {"resourceVersion": str(store.resource_version)}
        if annotations:
            meta["annotations"] = annotations
        return json.dumps({"type": "BOOKMARK", "object": {
            "kind": call.rt.kind, "apiVersion": call.rt.api_version, "metadata": meta}}).encode() + b"\n"

    gone = asyncio.ensure_future(_wait_disconnect(receive))
    deadline = loop.time() + timeout if timeout > 0 else None
    try:
        if since is None and bookmarks and call.flag("sendInitialEvents"):
            while not watcher.queue.empty():
                await _chunk(send, encode(watcher.queue.get_nowait()))
            await _chunk(send, bookmark({"k8s.io/initial-events-end": "true"}))
        while not gone.done():
            wait = BOOKMARK_INTERVAL if bookmarks else 3600.0
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    break
            getter = asyncio.ensure_future(watcher.queue.get())
            done, _ = await asyncio.wait({getter, gone}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await _chunk(send, encode(getter.result()))
                continue
            getter.cancel()
            if gone in done:
                break
            if bookmarks and (deadline is None or loop.time() < deadline):
                await _chunk(send, bookmark())
        if not gone.done():
            await send({"type": "http.response.body", "body": b""})
    finally:
        store.unwatch(watcher)
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone


async def stream_logs(call: Call, receive: Receive, send: Send, container: str) -> None:
    """Serve ``pods/log``: the lines so far, then (``follow=true``) new ones until the pod goes."""
    logs = call.cluster.logs
    timestamps = call.flag("timestamps")
    tail = int(call.q("tailLines", "-1") or -1)
    loop = asyncio.get_running_loop()
    follow = call.flag("follow")
    if follow:
        lines, follower = logs.follow(call.namespace, call.name, container, loop)
    else:
        lines, follower = logs.read(call.namespace, call.name, container), None
    if tail >= 0:
        lines = lines[len(lines) - tail:] if tail else []
    await _start(send, "text/plain")
    body = "".join(line.render(timestamps) for line in lines).encode()
    if follower is None:
        await send({"type": "http.response.body", "body": body})
        return
    gone = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        if body:
            await _chunk(send, body)
        while True:
            getter = asyncio.ensure_future(follower.queue.get())
            done, _ = await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                getter.cancel()
                return
            line = getter.result()
            if line is None:
                break
            await _chunk(send, line.render(timestamps).encode())
        await send({"type": "http.response.body", "body": b""})
    finally:
        logs.unfollow(follower)
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone

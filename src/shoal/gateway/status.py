"""Refusals as Kubernetes ``Status`` objects, so kubectl prints ``Error from server (Forbidden): …``.

Who calls it: the gateway, for every answer it gives itself (401, 403, 404, 503…)
instead of forwarding one from the cluster.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["REASONS", "status_body"]

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "Conflict", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           502: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def status_body(code: int, message: str, *, details: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": REASONS.get(code, "Unknown"), "code": code}
    if details:
        body["details"] = details
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

"""API errors of the simulated API server, rendered as Kubernetes ``Status`` objects.

Every failure a client can see is an :class:`ApiError`; it is built by the small
factory functions below (the only place that words messages, mimicking the real
kube-apiserver so that kubectl prints what operators are used to) and turned into a
``Status`` body by :meth:`ApiError.status`.

Exception tree::

    ApiError            any error with an HTTP code and a Status reason
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import ResourceType

JSON = dict[str, Any]

__all__ = [
    "ApiError",
    "already_exists",
    "bad_request",
    "conflict",
    "forbidden",
    "gone",
    "invalid",
    "method_not_allowed",
    "not_found",
    "service_unavailable",
    "status_success",
    "too_many_requests",
    "unauthorized",
    "unsupported_media_type",
]


class ApiError(Exception):
    """An error answered with a ``Status`` body and the same HTTP code."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        """The ``Status`` object the real API server would send for this error.

        Keys come in the order of the Go struct (metav1.Status: kind, apiVersion,
        metadata, status, message, reason, details, code; StatusDetails: name, group,
        kind, uid, causes, retryAfterSeconds), empty ``omitempty`` fields left out —
        clients that compare bodies byte for byte see what a real server sends.
        """
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = _ordered_details(self.details)
        body["code"] = self.code
        return body


_DETAIL_KEYS = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")


def _ordered_details(details: JSON) -> JSON:
    """metav1.StatusDetails in field order, ``omitempty`` fields (empty group, no uid) left out."""
    return {k: details[k] for k in _DETAIL_KEYS if details.get(k)}


def status_success(details: JSON | None = None, code: int = 200) -> JSON:
    """A success ``Status`` (eviction, binding, delete answers); ``code=0`` leaves the code out, as the
    registry's delete does (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go
    finalizeDelete sets no Code, and ``code`` is omitempty)."""
    body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = _ordered_details(details)
    if code:
        body["code"] = code
    return body


def _details(rt: ResourceType | None, name: str | None) -> JSON:
    out: JSON = {}
    if name:
        out["name"] = name
    if rt is not None:
        if rt.group:  # omitempty: the core group is left out
            out["group"] = rt.group
        out["kind"] = rt.plural
    return out


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', details=_details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', details=_details(rt, name)
    )


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details=_details(rt, name),
    )


def invalid(rt: ResourceType, name: str, field: str, message: str) -> ApiError:
    details = _details(rt, name)
    details["kind"] = rt.kind
    details["causes"] = [{"reason": "FieldValueInvalid", "message": message, "field": field}]
    return ApiError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {field}: {message}', details=details)


def forbidden(user: str, verb: str, rt_group: str, resource: str, namespace: str, name: str) -> ApiError:
    # the object is named by its group-qualified resource without the subresource ('pods "web" is forbidden:
    # … cannot create resource "pods/exec"'): apiserver's responsewriters/errors.go forbiddenMessage + NewForbidden
    base = resource.split("/")[0] + (f".{rt_group}" if rt_group else "")
    what = f'{base} "{name}"' if name else base
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    group = rt_group
    message = (
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{group}" {scope}'
    )
    details: JSON = {"kind": resource.split("/")[0], "group": group}
    if name:
        details["name"] = name
    return ApiError(403, "Forbidden", message, details=details)


def unauthorized(message: str = "Unauthorized") -> ApiError:
    return ApiError(401, "Unauthorized", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                    f"accepted media types include: application/json, application/yaml (got {content_type})")


def too_many_requests(message: str, causes: list[JSON]) -> ApiError:
    return ApiError(429, "TooManyRequests", message, details={"causes": causes})


def service_unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)

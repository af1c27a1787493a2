"""Discovery and OpenAPI documents, derived from the resource declarations.

kubectl 1.37 first asks ``/api`` and ``/apis`` for aggregated discovery (served
here with the exact content type it insists on), still reads the legacy
``/api/v1`` list (``pods/eviction`` must appear there with group ``policy`` or drain
falls back to DELETE), and ``kubectl apply`` reads OpenAPI v3: a per-group-version
document whose PATCH operations carry ``x-kubernetes-group-version-kind`` and a
``fieldValidation`` parameter, so validation happens on the server.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubesim.resources import Registry, ResourceType

JSON = dict[str, Any]

__all__ = [
    "AGGREGATED_CONTENT_TYPE",
    "VERSION_INFO",
    "aggregated",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "openapi_gv",
    "openapi_index",
]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

VERSION_INFO: JSON = {
    "major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37",
    "minCompatibilityMajor": "1", "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.1", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.1",
    "compiler": "gc", "platform": "linux/amd64",
}




def _storage_hash(r: ResourceType) -> str:
    return hashlib.sha256(r.key.encode()).hexdigest()[:11] + "="


def api_versions(server_address: str) -> JSON:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group(reg: Registry, name: str) -> JSON:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in reg.groups()[name]]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": versions,
            "preferredVersion": versions[0]}


def api_group_list(reg: Registry) -> JSON:
    out = []
    for name in reg.groups():
        g = api_group(reg, name)
        out.append({k: g[k] for k in ("name", "versions", "preferredVersion")})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_resource_list(reg: Registry, group: str, version: str) -> JSON:
    """The legacy APIResourceList of ``/api/v1`` or ``/apis/<group>/<version>``."""
    out: list[JSON] = []
    for r in reg.in_group_version(group, version):
        entry: JSON = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                       "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        if r.stored:
            entry["storageVersionHash"] = _storage_hash(r)
        out.append(entry)
        for sub in r.subresources:
            s: JSON = {"name": f"{r.plural}/{sub.name}", "singularName": "", "namespaced": r.namespaced,
                       "kind": sub.kind, "verbs": list(sub.verbs)}
            if sub.group:
                s["group"], s["version"] = sub.group, sub.version
            out.append(s)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def _discovery_resource(r: ResourceType) -> JSON:
    entry: JSON = {
        "resource": r.plural, "singularResource": r.singular,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster", "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [{
            "subresource": s.name,
            "responseKind": {"group": s.group or r.group, "version": s.version or r.version, "kind": s.kind},
            "verbs": list(s.verbs),
        } for s in r.subresources]
    return entry


def aggregated(reg: Registry, core: bool) -> JSON:
    """The APIGroupDiscoveryList for ``/api`` (core) or ``/apis`` (named groups)."""
    all_groups = reg.groups()
    names = [""] if core else list(all_groups)
    items = []
    for g in names:
        versions = ["v1"] if core else all_groups[g]
        items.append({
            "metadata": {"name": g, "creationTimestamp": None} if g else {"creationTimestamp": None},
            "versions": [{"version": v, "freshness": "Current",
                          "resources": [_discovery_resource(r) for r in reg.in_group_version(g, v)]}
                         for v in versions],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}


# --- OpenAPI v3 ---------------------------------------------------------------------

def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _doc_hash(reg: Registry, group: str, version: str) -> str:
    doc = json.dumps(openapi_gv(reg, group, version), sort_keys=True).encode()
    return hashlib.sha256(doc).hexdigest()[:16].upper()


def openapi_index(reg: Registry) -> JSON:
    paths: JSON = {}
    gvs = [("", "v1")] + [(g, v) for g, vs in reg.groups().items() for v in vs]
    for g, v in gvs:
        p = _gv_path(g, v)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_doc_hash(reg, g, v)}"}
    return {"paths": paths}


def _schema_name(r: ResourceType) -> str:
    if r.custom:  # CRD schemas are named by reversed group, like the real server does
        return ".".join(reversed(r.group.split("."))) + f".{r.version}.{r.kind}"
    group = r.group.split(".")[0] if r.group else "core"
    return f"io.k8s.api.{group}.{r.version}.{r.kind}"


_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _operation(r: ResourceType, action: str, op_id: str) -> JSON:
    params = [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for p in _QUERY_PARAMS if action in ("patch", "post", "put") or p == "pretty"]
    ref = {"$ref": f"#/components/schemas/{_schema_name(r)}"}
    op: JSON = {
        "operationId": op_id, "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    }
    if action in ("patch", "post", "put"):
        # strategic-merge-patch is accepted but deliberately not advertised: kubectl would then
        # compute patches from these loose schemas; without it, it uses its compiled-in types.
        types = (["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]
                 if action == "patch" else ["application/json"])
        op["requestBody"] = {"content": {t: {"schema": {"type": "object"} if action == "patch" else ref}
                                         for t in types}}
    return op


def _object_schema(r: ResourceType) -> JSON:
    return {
        "type": "object",
        "description": f"{r.kind} as served by kubesim.",
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-group-version-kind": [{"group": r.group, "kind": r.kind, "version": r.version}],
    }


def openapi_gv(reg: Registry, group: str, version: str) -> JSON:
    """The OpenAPI v3 document of one group-version: paths with verbs, loose schemas."""
    paths: JSON = {}
    schemas: JSON = {}
    prefix = "/" + _gv_path(group, version)
    for r in reg.in_group_version(group, version):
        schemas[_schema_name(r)] = _object_schema(r)
        camel = "".join(p.capitalize() for p in (r.group.split(".")[0] or "core").split("-"))
        ns_part = "/namespaces/{namespace}" if r.namespaced else ""
        item = f"{prefix}{ns_part}/{r.plural}/{{name}}"
        coll = f"{prefix}{ns_part}/{r.plural}"
        scope = "Namespaced" if r.namespaced else ""
        if "create" in r.verbs:
            paths[coll] = {"post": _operation(r, "post", f"create{camel}{version.capitalize()}{scope}{r.kind}")}
        if "list" in r.verbs:
            paths.setdefault(coll, {})["get"] = _operation(
                r, "list", f"list{camel}{version.capitalize()}{scope}{r.kind}")
        if "get" in r.verbs:
            paths[item] = {
                "get": _operation(r, "get", f"read{camel}{version.capitalize()}{scope}{r.kind}"),
                "put": _operation(r, "put", f"replace{camel}{version.capitalize()}{scope}{r.kind}"),
                "patch": _operation(r, "patch", f"patch{camel}{version.capitalize()}{scope}{r.kind}"),
                "delete": _operation(r, "delete", f"delete{camel}{version.capitalize()}{scope}{r.kind}"),
            }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}

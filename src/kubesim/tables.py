"""Server-side printing: ``meta.k8s.io/v1`` Table responses for ``kubectl get``.

kubectl asks for ``as=Table`` and prints the cells verbatim, so the server owns the
columns (``priority: 1`` ones only show with ``-o wide``) and their contents — AGE,
``Ready,SchedulingDisabled``, ``1/1`` … — computed here per kind like the real
printers. Kinds without a printer get NAME and AGE.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubesim.resources import ResourceType

JSON = dict[str, Any]
Column = tuple[str, str, int, str]  # name, type, priority, format
Printer = tuple[list[Column], Callable[[JSON], list[Any]]]

__all__ = ["human_age", "table_for", "table_row_object"]


def human_age(timestamp: str | None, now: datetime | None = None) -> str:
    """Kubernetes' HumanDuration of the time since ``timestamp`` (``5m``, ``3h12m``, ``2d``)."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    secs = int(((now or datetime.now(UTC)) - then).total_seconds())
    if secs < 0:
        secs = 0
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        return f"{minutes}m{secs % 60}s" if secs % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // (24 * 365)}y"


def _age(obj: JSON) -> str:
    return human_age(obj.get("metadata", {}).get("creationTimestamp"))


def _name(obj: JSON) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _node_cells(n: JSON) -> list[Any]:
    status = n.get("status", {})
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Ready" if ready == "True" else ("NotReady" if ready else "Unknown")
    if n.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in (n.get("metadata", {}).get("labels") or {}) if k.startswith(prefix))
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo", {})
    return [_name(n), state, ",".join(roles) or "<none>", _age(n), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _pod_cells(p: JSON) -> list[Any]:
    status = p.get("status", {})
    containers = p.get("spec", {}).get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    phase = status.get("phase", "Pending")
    reason = status.get("reason") or phase
    for cs in statuses:  # like kubectl's printer: a container's waiting/terminated reason wins
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            term = state["terminated"]
            reason = term.get("reason") or f"ExitCode:{term.get('exitCode', 0)}"
    if p.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return [_name(p), f"{ready}/{len(containers)}", reason, restarts, _age(p), status.get("podIP") or "<none>",
            p.get("spec", {}).get("nodeName") or "<none>", "<none>", "<none>"]


def _ports(svc: JSON) -> str:
    out = []
    for port in svc.get("spec", {}).get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        out.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _selector_text(sel: JSON | None) -> str:
    labels = (sel or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"


def _containers(obj: JSON) -> tuple[str, str]:
    cs = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deploy_cells(d: JSON) -> list[Any]:
    st, spec = d.get("status", {}), d.get("spec", {})
    names, images = _containers(d)
    return [_name(d), f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", st.get("updatedReplicas", 0),
            st.get("availableReplicas", 0), _age(d), names, images, _selector_text(spec.get("selector"))]


def _rs_cells(r: JSON) -> list[Any]:
    st, spec = r.get("status", {}), r.get("spec", {})
    names, images = _containers(r)
    return [_name(r), spec.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0), _age(r),
            names, images, _selector_text(spec.get("selector"))]


def _rc_cells(r: JSON) -> list[Any]:
    """printReplicationController (pkg/printers/internalversion/printers.go): the selector is a plain map."""
    st, spec = r.get("status", {}), r.get("spec", {})
    names, images = _containers(r)
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [_name(r), spec.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0), _age(r),
            names, images, selector]


def _apiservice_cells(a: JSON) -> list[Any]:
    """kube-aggregator's printer (pkg/registry/apiservice/etcd/etcd.go ConvertToTable): SERVICE is
    ``Local`` or ``namespace/name``; AVAILABLE the condition, ``False (Reason)`` when not True."""
    svc = a.get("spec", {}).get("service")
    service = f"{svc.get('namespace', '')}/{svc.get('name', '')}" if svc else "Local"
    cond = next((c for c in a.get("status", {}).get("conditions") or [] if c.get("type") == "Available"), None)
    if cond is None:
        available = "Unknown"
    elif cond.get("status") == "True":
        available = "True"
    else:
        available = f"{cond.get('status', 'Unknown')} ({cond.get('reason', '')})"
    return [_name(a), service, available, _age(a)]


def _ds_cells(d: JSON) -> list[Any]:
    st = d.get("status", {})
    sel = d.get("spec", {}).get("template", {}).get("spec", {}).get("nodeSelector") or {}
    names, images = _containers(d)
    return [_name(d), st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>", _age(d), names, images,
            _selector_text(d.get("spec", {}).get("selector"))]


def _event_cells(e: JSON) -> list[Any]:
    inv = e.get("involvedObject", {})
    last = e.get("lastTimestamp") or e.get("eventTime") or e.get("metadata", {}).get("creationTimestamp")
    return [human_age(last), e.get("type", ""), e.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", e.get("message", "")]


def _pdb_cells(p: JSON) -> list[Any]:
    spec, st = p.get("spec", {}), p.get("status", {})
    return [_name(p), spec.get("minAvailable", "N/A"), spec.get("maxUnavailable", "N/A"),
            st.get("disruptionsAllowed", 0), _age(p)]


def _sts_cells(s: JSON) -> list[Any]:
    names, images = _containers(s)
    return [_name(s), f"{s.get('status', {}).get('readyReplicas', 0)}/{s.get('spec', {}).get('replicas', 1)}",
            _age(s), names, images]


def _job_cells(j: JSON) -> list[Any]:
    st, spec = j.get("status", {}), j.get("spec", {})
    conditions = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    state = "Complete" if conditions.get("Complete") == "True" else (
        "Failed" if conditions.get("Failed") == "True" else ("Suspended" if spec.get("suspend") else "Running"))
    duration = "0s" if st.get("completionTime") else human_age(st.get("startTime"))
    names, images = _containers(j)
    return [_name(j), state, f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}", duration, _age(j),
            names, images, _selector_text(spec.get("selector"))]


def _endpoints_cells(e: JSON) -> list[Any]:
    pairs = [f"{a.get('ip')}:{p.get('port')}" for sub in e.get("subsets") or []
             for a in sub.get("addresses") or [] for p in sub.get("ports") or []]
    text = ",".join(pairs[:3]) + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")
    return [_name(e), text or "<none>", _age(e)]


def _binding_cells(b: JSON) -> list[Any]:
    ref = b.get("roleRef", {})
    subjects = b.get("subjects") or []

    def who(kind: str) -> str:
        return ",".join(s.get("name", "") if kind != "ServiceAccount" else f"{s.get('namespace', '')}/{s.get('name')}"
                        for s in subjects if s.get("kind") == kind)
    return [_name(b), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(b), who("User"), who("Group"),
            who("ServiceAccount")]


def _pvc_cells(c: JSON) -> list[Any]:
    spec, st = c.get("spec", {}), c.get("status", {})
    return [_name(c), st.get("phase", "Pending"), spec.get("volumeName", ""),
            (st.get("capacity") or {}).get("storage", ""), _modes(st.get("accessModes") or []),
            spec.get("storageClassName", "<unset>"), "<unset>", _age(c), spec.get("volumeMode", "Filesystem")]


def _modes(modes: list[str]) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return ",".join(short.get(m, m) for m in modes)


def _pv_cells(v: JSON) -> list[Any]:
    spec, st = v.get("spec", {}), v.get("status", {})
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref else ""
    return [_name(v), (spec.get("capacity") or {}).get("storage", ""), _modes(spec.get("accessModes") or []),
            spec.get("persistentVolumeReclaimPolicy", "Retain"), st.get("phase", "Available"), claim,
            spec.get("storageClassName", ""), "<unset>", "", _age(v), spec.get("volumeMode", "Filesystem")]


def _sc_cells(c: JSON) -> list[Any]:
    default = (c.get("metadata", {}).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
    return [_name(c) + (" (default)" if default == "true" else ""), c.get("provisioner", ""),
            c.get("reclaimPolicy", "Delete"), c.get("volumeBindingMode", "Immediate"),
            bool(c.get("allowVolumeExpansion", False)), _age(c)]


def _ingress_cells(i: JSON) -> list[Any]:
    spec = i.get("spec", {})
    hosts = ",".join(r.get("host", "*") for r in spec.get("rules") or []) or "*"
    lb = ((i.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(x.get("ip") or x.get("hostname", "") for x in lb)
    return [_name(i), spec.get("ingressClassName", "<none>"), hosts, address, "443" if spec.get("tls") else "80",
            _age(i)]


def _cronjob_cells(c: JSON) -> list[Any]:
    spec, st = c.get("spec", {}), c.get("status", {})
    names, images = _containers({"spec": spec.get("jobTemplate", {}).get("spec", {})})
    return [_name(c), spec.get("schedule", ""), spec.get("timeZone", "<none>"), bool(spec.get("suspend", False)),
            len(st.get("active") or []), human_age(st["lastScheduleTime"]) if st.get("lastScheduleTime") else "<none>",
            _age(c), names, images]


def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "") -> Column:
    return (name, typ, priority, fmt)


NAME = _col("Name", fmt="name")
AGE = _col("Age", "string")

PRINTERS: dict[str, Printer] = {
    "Node": ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"), _col("Internal-IP", priority=1),
              _col("External-IP", priority=1), _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
              _col("Container-Runtime", priority=1)], _node_cells),
    "Pod": ([NAME, _col("Ready"), _col("Status"), _col("Restarts", "string"), AGE, _col("IP", priority=1),
             _col("Node", priority=1), _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
            _pod_cells),
    "Namespace": ([NAME, _col("Status"), AGE],
                  lambda n: [_name(n), n.get("status", {}).get("phase", "Active"), _age(n)]),
    "Service": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                 _col("Selector", priority=1)],
                lambda s: [_name(s), s.get("spec", {}).get("type", "ClusterIP"),
                           s.get("spec", {}).get("clusterIP", "<none>"), "<none>", _ports(s), _age(s),
                           ",".join(f"{k}={v}" for k, v in (s.get("spec", {}).get("selector") or {}).items())
                           or "<none>"]),
    "ConfigMap": ([NAME, _col("Data", "integer"), AGE],
                  lambda c: [_name(c), len(c.get("data") or {}) + len(c.get("binaryData") or {}), _age(c)]),
    "Secret": ([NAME, _col("Type"), _col("Data", "integer"), AGE],
               lambda s: [_name(s), s.get("type", "Opaque"), len(s.get("data") or {}), _age(s)]),
    "ServiceAccount": ([NAME, _col("Secrets", "integer"), AGE],
                       lambda s: [_name(s), len(s.get("secrets") or []), _age(s)]),
    "Deployment": ([NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE,
                    _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
                   _deploy_cells),
    "ReplicaSet": ([NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), AGE,
                    _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
                   _rs_cells),
    "ReplicationController": ([NAME, _col("Desired", "integer"), _col("Current", "integer"),
                               _col("Ready", "integer"), AGE, _col("Containers", priority=1),
                               _col("Images", priority=1), _col("Selector", priority=1)], _rc_cells),
    "DaemonSet": ([NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                   _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Node Selector"), AGE,
                   _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
                  _ds_cells),
    "StatefulSet": ([NAME, _col("Ready"), AGE, _col("Containers", priority=1), _col("Images", priority=1)],
                    _sts_cells),
    "Job": ([NAME, _col("Status"), _col("Completions"), _col("Duration"), AGE, _col("Containers", priority=1),
             _col("Images", priority=1), _col("Selector", priority=1)], _job_cells),
    "Endpoints": ([NAME, _col("Endpoints"), AGE], _endpoints_cells),
    "EndpointSlice": ([NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE],
                      lambda e: [_name(e), e.get("addressType", ""),
                                 ",".join(str(p.get("port")) for p in e.get("ports") or []) or "<unset>",
                                 ",".join(a for ep in e.get("endpoints") or [] for a in ep.get("addresses") or [])
                                 or "<unset>", _age(e)]),
    "Lease": ([NAME, _col("Holder"), AGE],
              lambda le: [_name(le), le.get("spec", {}).get("holderIdentity", ""), _age(le)]),
    "ClusterRole": ([NAME, _col("Created At", "date")],
                    lambda r: [_name(r), r.get("metadata", {}).get("creationTimestamp", "")]),
    "Role": ([NAME, _col("Created At", "date")],
             lambda r: [_name(r), r.get("metadata", {}).get("creationTimestamp", "")]),
    "RoleBinding": ([NAME, _col("Role"), AGE, _col("Users", priority=1), _col("Groups", priority=1),
                     _col("ServiceAccounts", priority=1)], _binding_cells),
    "ClusterRoleBinding": ([NAME, _col("Role"), AGE, _col("Users", priority=1), _col("Groups", priority=1),
                            _col("ServiceAccounts", priority=1)], _binding_cells),
    "PersistentVolumeClaim": ([NAME, _col("Status"), _col("Volume"), _col("Capacity"), _col("Access Modes"),
                               _col("StorageClass"), _col("VolumeAttributesClass"), AGE,
                               _col("VolumeMode", priority=1)], _pvc_cells),
    "PersistentVolume": ([NAME, _col("Capacity"), _col("Access Modes"), _col("Reclaim Policy"), _col("Status"),
                          _col("Claim"), _col("StorageClass"), _col("VolumeAttributesClass"), _col("Reason"), AGE,
                          _col("VolumeMode", priority=1)], _pv_cells),
    "StorageClass": ([NAME, _col("Provisioner"), _col("ReclaimPolicy"), _col("VolumeBindingMode"),
                      _col("AllowVolumeExpansion", "boolean"), AGE], _sc_cells),
    "Ingress": ([NAME, _col("Class"), _col("Hosts"), _col("Address"), _col("Ports"), AGE], _ingress_cells),
    "CronJob": ([NAME, _col("Schedule"), _col("Timezone"), _col("Suspend", "boolean"), _col("Active", "integer"),
                 _col("Last Schedule"), AGE, _col("Containers", priority=1), _col("Images", priority=1)],
                _cronjob_cells),
    "PriorityClass": ([NAME, _col("Value", "integer"), _col("Global-Default", "boolean"), AGE,
                       _col("PreemptionPolicy", priority=1)],
                      lambda p: [_name(p), p.get("value", 0), bool(p.get("globalDefault", False)), _age(p),
                                 p.get("preemptionPolicy", "PreemptLowerPriority")]),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], _event_cells),
    "APIService": ([NAME, _col("Service"), _col("Available"), AGE], _apiservice_cells),
    "PodDisruptionBudget": ([NAME, _col("Min Available"), _col("Max Unavailable"),
                             _col("Allowed Disruptions", "integer"), AGE], _pdb_cells),
}


def _columns(cols: list[Column]) -> list[JSON]:
    return [{"name": n, "type": t, "format": f, "description": n, "priority": p} for n, t, p, f in cols]


def table_row_object(obj: JSON, include: str) -> JSON | None:
    """What ``rows[].object`` holds for ``includeObject`` (``Metadata`` by default)."""
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def _json_path(obj: Any, path: str) -> Any:
    """The value at a simple JSONPath (``.spec.x``, ``.items[0].y``) or None."""
    cur = obj
    for part in [p for p in path.strip().lstrip("$").split(".") if p]:
        key, _, index = part.partition("[")
        cur = cur.get(key) if isinstance(cur, dict) else None
        if index and isinstance(cur, list):
            i = int(index.rstrip("]")) if index.rstrip("]").isdigit() else 0
            cur = cur[i] if i < len(cur) else None
    return cur


def _custom_printer(rt: ResourceType) -> Printer:
    cols: list[Column] = [NAME]
    for name, typ, _, priority in rt.printer_columns:
        cols.append(_col(name, "string" if typ == "date" else typ, priority))
    if not any(c[2] == ".metadata.creationTimestamp" for c in rt.printer_columns):
        cols.append(AGE)

    def cells(o: JSON) -> list[Any]:
        out: list[Any] = [_name(o)]
        for _, typ, path, _ in rt.printer_columns:
            value = _json_path(o, path)
            out.append(human_age(value) if typ == "date" else ("<none>" if value is None else value))
        if len(out) < len(cols):
            out.append(_age(o))
        return out
    return cols, cells


def table_for(rt: ResourceType, objects: list[JSON], *, include: str = "Metadata", with_columns: bool = True,
              list_meta: JSON | None = None) -> JSON:
    """A Table for ``objects`` of ``rt``; ``with_columns=False`` for later watch events."""
    if rt.custom:
        cols, cells = _custom_printer(rt)
    else:
        cols, cells = PRINTERS.get(rt.kind, ([NAME, AGE], lambda o: [_name(o), _age(o)]))
    rows = []
    for obj in objects:
        row: JSON = {"cells": cells(obj)}
        ro = table_row_object(obj, include)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {},
        "columnDefinitions": _columns(cols) if with_columns else [], "rows": rows,
    }

"""The kubeconfig check (R19): can Shoal reach this cluster and manage it with this identity?

Who calls it: the check API/CLI/"测试可用性" button, and the import and
credential rotation, which re-run it server-side and proceed only if it passes.

Steps, in order; the first failure stops the run and the rest are reported as
skipped::

    parse -> dns -> tcp -> tls -> version -> authentication -> cluster_admin
          -> duplicate (or, when rotating, same_cluster) -> certificate

Each result is a :class:`CheckItem` holding message keys (``check.*``) and
their params, rendered in the caller's language at the edge, so the same run
reads well in zh-CN and en. No database access here: the duplicate lookup is a
callback the service passes in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from shoal.clusters.settings import ClusterSettings
from shoal.core.errors import ShoalError
from shoal.core.i18n import translate
from shoal.kube import (
    AddressRefused,
    Credential,
    KubeconfigProblem,
    ParsedKubeconfig,
    ProbeError,
    check_address,
    connect,
    parse_kubeconfig,
    resolve,
    tcp_connect,
    tls_handshake,
)

__all__ = ["CHECKS", "CheckItem", "CheckReport", "DuplicateLookup", "check_kubeconfig"]

CHECKS = ("parse", "dns", "tcp", "tls", "version", "authentication", "cluster_admin", "duplicate", "certificate")

#: uid -> (cluster id, name, project) of a live cluster registered with that kube-system UID.
DuplicateLookup = Callable[[str], Awaitable[tuple[str, str, str] | None]]

_ACCESS_REVIEW = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_SELF_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
#: failures to reach the address at all (their messages carry no answer of the other end)
_TRANSPORT = frozenset({"error.cluster_timeout", "error.cluster_tls", "error.cluster_dns", "error.cluster_connect",
                        "error.cluster_bad_pem"})


@dataclass
class CheckItem:
    name: str
    passed: bool
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None
    warning: str | None = None
    warning_params: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False

    def render(self, lang: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": translate(f"check.name.{self.name}", lang),
            "passed": self.passed,
            "skipped": self.skipped,
            "message": translate(self.message, lang, **self.params),
            "hint": translate(self.hint, lang, **self.params) if self.hint else None,
            "warning": translate(self.warning, lang, **self.warning_params) if self.warning else None,
        }


@dataclass
class CheckReport:
    items: list[CheckItem]
    parsed: ParsedKubeconfig | None = None
    version: str = ""
    kube_system_uid: str = ""
    user: str = ""

    @property
    def ok(self) -> bool:
        return all(i.passed for i in self.items)

    @property
    def failure(self) -> CheckItem | None:
        return next((i for i in self.items if not i.passed and not i.skipped), None)

    @property
    def credential(self) -> Credential:
        assert self.parsed is not None
        return self.parsed.credential


class _Stop(Exception):
    """An item failed; the remaining checks are skipped."""


class _Run:
    def __init__(self) -> None:
        self.items: list[CheckItem] = []

    def ok(self, name: str, message: str, /, **params: Any) -> CheckItem:
        item = CheckItem(name, True, message, params)
        self.items.append(item)
        return item

    def fail(self, name: str, message: str, hint: str | None, /, **params: Any) -> _Stop:
        self.items.append(CheckItem(name, False, message, params, hint))
        return _Stop()

    def error(self, name: str, error: ShoalError) -> _Stop:
        """A call failed with a Shoal error: show its own message (already specific) under this check."""
        self.items.append(CheckItem(name, False, error.message_key, dict(error.params), error.hint_key))
        return _Stop()


def _cert_expiry(pem: str) -> datetime:
    return x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc.astimezone(UTC)


async def check_kubeconfig(text: str, *, settings: ClusterSettings, lookup: DuplicateLookup | None = None,
                           expect_uid: str | None = None) -> CheckReport:
    """Run every check on ``text``; with ``expect_uid`` (rotation) require that same cluster instead of a new one."""
    run = _Run()
    report = CheckReport(run.items)
    with contextlib.suppress(_Stop):
        await _checks(run, report, text, settings, lookup, expect_uid)
    done = {i.name for i in run.items}
    for name in CHECKS:
        if expect_uid is not None and name == "duplicate":
            name = "same_cluster"
        if name not in done:
            run.items.append(CheckItem(name, False, "check.skipped", skipped=True))
    return report


async def _checks(run: _Run, report: CheckReport, text: str, settings: ClusterSettings,
                  lookup: DuplicateLookup | None, expect_uid: str | None) -> None:
    timeout = settings.connect_timeout
    try:
        # CPU-bound (pure-Python YAML, up to 256 KiB): never on the event loop
        parsed = await asyncio.to_thread(parse_kubeconfig, text)
    except KubeconfigProblem as e:
        raise run.fail("parse", e.key, e.hint, **e.params) from None
    report.parsed = parsed
    cred = parsed.credential
    item = run.ok("parse", "check.parse.ok", context=parsed.context, cluster=parsed.cluster, user=parsed.user,
                  auth=cred.auth_kind)
    if parsed.warnings:
        item.warning, item.warning_params = parsed.warnings[0]

    url = urlsplit(cred.server)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port, timeout)
    except ProbeError as e:
        raise run.fail("dns", "check.dns.fail", "hint.check.dns", host=host, detail=e.detail) from None
    try:
        # every address the name resolves to must be one Shoal may dial (link-local, metadata, loopback…)
        for resolved in addresses:
            check_address(resolved, host, cred.server)
    except AddressRefused as e:
        raise run.error("dns", e) from None
    run.ok("dns", "check.dns.ok", host=host, addresses=", ".join(addresses[:4]))

    address = addresses[0]
    try:
        await tcp_connect(address, port, timeout)
    except ProbeError:
        # one message for refused, silent and unreachable: the check is not a port scanner
        raise run.fail("tcp", "check.tcp.fail", "hint.check.network", address=address, port=port,
                       seconds=f"{timeout:g}") from None
    run.ok("tcp", "check.tcp.ok", address=address, port=port)

    if url.scheme != "https":
        item = run.ok("tls", "check.tls.plain", server=cred.server)
        item.warning = "check.tls.plain_warning"
    else:
        try:
            tls = await tls_handshake(cred, address, host, port, timeout)
        except ProbeError as e:
            if e.kind not in ("tls_unknown_ca", "tls_hostname", "tls_expired"):
                # whatever the other end said (plain HTTP, another protocol) is not repeated
                raise run.fail("tls", "check.tls.failed", "hint.check.tls_other", host=host) from None
            raise run.fail("tls", f"check.{e.kind.replace('_', '.', 1)}", f"hint.check.{e.kind}", host=host,
                           detail=e.detail) from None
        except ShoalError as e:
            raise run.error("tls", e) from None
        until = tls.server_not_after.date().isoformat() if tls.server_not_after else "?"
        item = run.ok("tls", "check.tls.ok", version=tls.version, until=until)
        if cred.insecure:
            item.message = "check.tls.insecure"
            item.warning = "check.tls.insecure_warning"

    try:
        async with connect(cred, call_timeout=settings.request_timeout) as kube:
            await _api_checks(run, report, kube, parsed, settings, lookup, expect_uid)
    except ShoalError as e:
        # connect() itself refuses unusable key material
        raise run.error("tls", e) from None


async def _api_checks(run: _Run, report: CheckReport, kube: Any, parsed: ParsedKubeconfig,
                      settings: ClusterSettings, lookup: DuplicateLookup | None, expect_uid: str | None) -> None:
    cred = parsed.credential
    rejected: ShoalError | None = None
    try:
        info = await kube.version()
    except ShoalError as e:
        if e.code in _TRANSPORT or isinstance(e, AddressRefused):
            raise run.error("version", e) from None
        if e.code != "error.cluster_unauthorized":
            # any other answer (a web page, another service's error) is not described, only named
            raise run.fail("version", "check.version.not_kubernetes", "hint.check.not_kubernetes",
                           server=cred.server) from None
        rejected = e
        run.ok("version", "check.version.answered", server=cred.server)
    else:
        git_version = info.get("gitVersion") if isinstance(info, dict) else None
        if not isinstance(git_version, str) or not git_version:
            raise run.fail("version", "check.version.not_kubernetes", "hint.check.not_kubernetes",
                           server=cred.server)
        report.version = git_version[:64]
        run.ok("version", "check.version.ok", version=report.version)

    report.user = parsed.user
    if rejected is None:
        try:
            review = await kube.post(_SELF_REVIEW, {"apiVersion": "authentication.k8s.io/v1",
                                                    "kind": "SelfSubjectReview"})
            report.user = str(((review or {}).get("status") or {}).get("userInfo", {}).get("username")
                              or parsed.user)
        except ShoalError as e:
            if e.code == "error.cluster_unauthorized":
                rejected = e
            elif e.code not in ("error.kube_not_found", "error.cluster_forbidden"):
                raise run.error("authentication", e) from None
    if rejected is not None:
        raise run.fail("authentication", "check.auth.fail", "hint.check.auth", user=parsed.user,
                       auth=cred.auth_kind)
    run.ok("authentication", "check.auth.ok", user=report.user)

    try:
        review = await kube.post(_ACCESS_REVIEW, {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "*", "group": "*", "resource": "*", "namespace": ""}}})
    except ShoalError as e:
        raise run.error("cluster_admin", e) from None
    if not ((review or {}).get("status") or {}).get("allowed"):
        raise run.fail("cluster_admin", "check.admin.fail", "hint.check.admin", user=report.user)
    run.ok("cluster_admin", "check.admin.ok", user=report.user)

    try:
        namespace = await kube.get("/api/v1/namespaces/kube-system")
    except ShoalError as e:
        raise run.error("duplicate" if expect_uid is None else "same_cluster", e) from None
    uid = str((namespace.get("metadata") or {}).get("uid", ""))
    report.kube_system_uid = uid
    if expect_uid is not None:
        if uid != expect_uid:
            raise run.fail("same_cluster", "check.same.fail", "hint.check.same", uid=uid, expected=expect_uid)
        run.ok("same_cluster", "check.same.ok", uid=uid)
    else:
        existing = await lookup(uid) if lookup is not None else None
        if existing is not None:
            raise run.fail("duplicate", "check.duplicate.fail", "hint.check.duplicate", uid=uid, id=existing[0],
                           name=existing[1], project=existing[2])
        run.ok("duplicate", "check.duplicate.ok", uid=uid)

    if not cred.client_cert_pem:
        run.ok("certificate", "check.cert.none")
        return
    try:
        expires = _cert_expiry(cred.client_cert_pem)
    except ValueError:
        raise run.fail("certificate", "check.cert.unreadable", "hint.check.parse_base64") from None
    days = (expires - datetime.now(UTC)).days
    if expires <= datetime.now(UTC):
        raise run.fail("certificate", "check.cert.expired", "hint.check.cert", date=expires.date().isoformat())
    item = run.ok("certificate", "check.cert.ok", date=expires.date().isoformat(), days=days)
    if days < settings.cert_warn_days:
        item.warning, item.warning_params = "check.cert.soon", {"date": expires.date().isoformat(), "days": days}

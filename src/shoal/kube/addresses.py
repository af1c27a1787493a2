"""Which addresses Shoal may dial a managed cluster at (``SHOAL_CLUSTER_ADDRESS_POLICY``).

Why: a cluster's address comes from a user (a pasted kubeconfig) and later from
agents, and Shoal dials it with cluster-admin credentials and shows what came
back. Without a policy, "import a cluster at http://169.254.169.254" reads the
cloud's instance credentials, and "http://127.0.0.1:5432" probes Shoal's own
database. Every connection Shoal opens to a cluster goes through
:func:`resolve_allowed` / :func:`connect_socket` (or, for aiohttp,
:func:`aiohttp_guard`), which resolve the name themselves, check every address
it resolves to, and connect to the checked address (TLS still verifies the
original host name). The check runs when a connection is opened — never per
request on a kept-alive connection — so a name that later resolves to a
refused address is refused on the next connect, not only at import.

Verdicts, in order (the first that matches decides):

1. **always refused**, no setting can allow them: link-local (169.254.0.0/16,
   fe80::/10), the cloud metadata endpoints (169.254.169.254, fd00:ec2::254,
   100.100.100.200, 192.0.0.192, 169.254.0.23) and what is not a unicast host
   address (0.0.0.0/8, ::, multicast, broadcast). IPv4 embedded in IPv6
   (::ffff:a.b.c.d, 64:ff9b::/96 NAT64, 2002::/16 6to4) is judged as IPv4;
2. ``deny=`` entries of the policy;
3. ``allow=`` entries of the policy (networks, addresses, host names, or the
   word ``loopback``);
4. **refused by default**: loopback (127.0.0.0/8, ::1), Shoal's own host (every
   address of the machine or container Shoal runs on, which includes its listen
   address) and the database host;
5. everything else (private ranges, where clusters live, and public ones) is allowed.

The policy is built once at start-up (:func:`install`, from ``build_context``)
and read at every connect through :func:`current`; code that dials a cluster
must call one of the functions here (the future agent's reported addresses too).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ssl import SSLContext, SSLError
from typing import Any, TypeVar
from urllib.parse import urlsplit

from shoal.core.errors import ClusterUnreachable

__all__ = [
    "AddressPolicy",
    "AddressRefused",
    "PolicyError",
    "aiohttp_guard",
    "check_address",
    "connect_socket",
    "create_connection",
    "current",
    "install",
    "resolve_allowed",
]

log = logging.getLogger("shoal.kube.addresses")

P = TypeVar("P", bound=asyncio.BaseProtocol)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud instance metadata services (credentials of the machine Shoal runs on).
METADATA = tuple(ipaddress.ip_network(n) for n in (
    "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, Huawei, DigitalOcean, Oracle
    "fd00:ec2::254/128",   # AWS over IPv6
    "100.100.100.200/32",  # Alibaba Cloud
    "169.254.0.23/32",     # Tencent Cloud (metadata.tencentyun.com)
    "192.0.0.192/32",      # Oracle Cloud (legacy)
))
LINK_LOCAL = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10"))
NOT_UNICAST = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "::/128", "224.0.0.0/4", "255.255.255.255/32", "ff00::/8"))
LOOPBACK = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ALWAYS = (*(("metadata", n) for n in METADATA), *(("link_local", n) for n in LINK_LOCAL),
           *(("not_unicast", n) for n in NOT_UNICAST))
_LOCAL_TTL = 60.0


class AddressRefused(ClusterUnreachable):
    """Shoal may not dial this address; ``reason`` is one of metadata, link_local, not_unicast,
    denied, loopback, own_host, database."""

    def __init__(self, reason: str, *, address: str, host: str, server: str) -> None:
        hint = {"metadata": "hint.cluster_address.never", "link_local": "hint.cluster_address.never",
                "not_unicast": "hint.cluster_address.never", "denied": "hint.cluster_address.denied"}.get(
                    reason, "hint.cluster_address.allow")
        super().__init__(f"error.cluster_address.{reason}", hint=hint, address=address, host=host,
                         server=server or host)
        self.reason = reason


class PolicyError(ValueError):
    """``SHOAL_CLUSTER_ADDRESS_POLICY`` cannot be read; the message says which entry and why."""


def _embedded(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries to the wire (mapped, NAT64, 6to4), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


Span = tuple[int, int, int]  # (IP version, first, last) as integers: ~20x faster than ``ip in network``


def _span(network: IPNetwork) -> Span:
    return network.version, int(network.network_address), int(network.broadcast_address)


def _inside(version: int, value: int, spans: tuple[Span, ...]) -> bool:
    return any(v == version and lo <= value <= hi for v, lo, hi in spans)


_ALWAYS_SPANS = tuple((reason, _span(n)) for reason, n in _ALWAYS)
_LOOPBACK_SPANS = tuple(_span(n) for n in LOOPBACK)


def _always(version: int, value: int) -> str | None:
    for reason, (v, lo, hi) in _ALWAYS_SPANS:
        if v == version and lo <= value <= hi:
            return reason
    return None


def _net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text.strip(), strict=False)


class _LocalAddresses:
    """Is an address one of this machine's? A bind() test, cached for a minute per address.

    Binding needs no interface list and sees every namespace-local address (IPv4
    and IPv6). Where the kernel lets programs bind to any address
    (``net.ipv4.ip_nonlocal_bind``) the test would call everything local; that
    is detected once (the sysctl, or elsewhere binding a documentation address) and the test
    is then off (loopback, the listen address and the database host are still refused).
    """

    def __init__(self) -> None:
        self._cache: dict[IPAddress, tuple[bool, float]] = {}
        self._usable: bool | None = None

    @staticmethod
    def _binds(ip: IPAddress) -> bool:
        family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((str(ip), 0))
            except OSError:
                return False
        return True

    def _bind_test_works(self) -> bool:
        flags = []
        for path in ("/proc/sys/net/ipv4/ip_nonlocal_bind", "/proc/sys/net/ipv6/ip_nonlocal_bind"):
            try:
                with open(path) as handle:
                    flags.append(handle.read().strip())
            except OSError:
                continue
        if flags:
            return all(flag == "0" for flag in flags)
        return not self._binds(ipaddress.IPv4Address("198.51.100.254"))  # not Linux: a documentation address

    def __contains__(self, ip: IPAddress) -> bool:
        if self._usable is None:
            self._usable = self._bind_test_works()
            if not self._usable:
                log.warning("this host lets programs bind to any address (ip_nonlocal_bind): Shoal cannot tell "
                            "its own addresses apart; only loopback, the listen and the database host are refused")
        if not self._usable:
            return False
        now = time.monotonic()
        cached = self._cache.get(ip)
        if cached is not None and cached[1] > now:
            return cached[0]
        local = self._binds(ip)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[ip] = (local, now + _LOCAL_TTL)
        return local


_LOCAL = _LocalAddresses()


def _addresses_of(host: str) -> frozenset[IPAddress]:
    """The addresses ``host`` resolves to now (start-up only: blocking); none when it does not resolve."""
    try:
        return frozenset({ipaddress.ip_address(host.strip("[]"))})
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return frozenset()
    return frozenset(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos)


@dataclass(frozen=True)
class AddressPolicy:
    """The parsed policy; build with :meth:`parse`, install with :func:`install`."""

    allow: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    deny: tuple[IPNetwork, ...] = ()
    own: frozenset[IPAddress] = frozenset()
    database: frozenset[IPAddress] = frozenset()
    names: dict[str, str] = field(default_factory=dict)  # host name (lower case) -> reason, refused by default
    own_host: bool = True  # refuse every address of this machine (bind test)
    spec: str = ""
    _verdicts: dict[tuple[str, str], tuple[str | None, float]] = field(
        default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def _allow_spans(self) -> tuple[Span, ...]:
        return tuple(_span(n) for n in self.allow)

    @functools.cached_property
    def _deny_spans(self) -> tuple[Span, ...]:
        return tuple(_span(n) for n in self.deny)

    @classmethod
    def parse(cls, spec: str, *, listen: str = "", database_url: str = "") -> AddressPolicy:
        """Read ``allow=…;deny=…`` (see docs/security.md); raise :class:`PolicyError` for a bad entry.

        ``listen`` (host:port) and ``database_url`` name Shoal's own listen address and database
        host, refused by default; their names are resolved here, once.
        """
        allow: list[IPNetwork] = []
        allow_hosts: set[str] = set()
        deny: list[IPNetwork] = []
        for clause in filter(None, (c.strip() for c in spec.replace("\n", ";").split(";"))):
            key, sep, value = clause.partition("=")
            key = key.strip().lower()
            if not sep or key not in ("allow", "deny"):
                raise PolicyError(f"SHOAL_CLUSTER_ADDRESS_POLICY: '{clause}' is not allow=<list> or deny=<list>")
            for entry in filter(None, (e.strip() for e in value.split(","))):
                if key == "allow" and entry.lower() == "loopback":
                    allow.extend(LOOPBACK)
                    continue
                try:
                    network = _net(entry)
                except ValueError:
                    if key == "deny" or not _is_host_name(entry):
                        raise PolicyError(f"SHOAL_CLUSTER_ADDRESS_POLICY: '{entry}' in {key}= is not an address, "
                                          "a network (CIDR)" + (" or a host name" if key == "allow" else "")) from None
                    allow_hosts.add(entry.lower().rstrip("."))
                    continue
                if key == "allow":
                    for reason, fixed in _ALWAYS:
                        if network.version == fixed.version and network.subnet_of(fixed):  # type: ignore[arg-type]
                            kind = reason.replace("_", "-")
                            raise PolicyError(f"SHOAL_CLUSTER_ADDRESS_POLICY: allow={entry} is a {kind} range, "
                                              "which can never be allowed")
                    allow.append(network)
                else:
                    deny.append(network)
        names: dict[str, str] = {}
        own: frozenset[IPAddress] = frozenset()
        listen_host = listen.rpartition(":")[0].strip("[]") if listen else ""
        if listen_host and listen_host not in ("0.0.0.0", "::", "*"):
            own = _addresses_of(listen_host)
            names.setdefault(listen_host.lower(), "own_host")
        database: frozenset[IPAddress] = frozenset()
        db_host = urlsplit(database_url).hostname if database_url and "://" in database_url else None
        if db_host:
            database = _addresses_of(db_host)
            names.setdefault(db_host.lower(), "database")
        return cls(tuple(allow), frozenset(allow_hosts), tuple(deny), own, database, names, True, spec)

    def verdict(self, address: str | IPAddress, host: str = "") -> str | None:
        """Why ``address`` (reached as ``host``) is refused, or None when it may be dialled.

        Remembered for a minute per (address, host): a pool reconnecting to the same cluster pays
        a dictionary lookup, not the parse and range checks (measured in the report of issue 13).
        """
        key = (str(address), host)
        now = time.monotonic()
        cached = self._verdicts.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        reason = self._judge(address, host)
        if len(self._verdicts) > 4096:
            self._verdicts.clear()
        self._verdicts[key] = (reason, now + _LOCAL_TTL)
        return reason

    def _judge(self, address: str | IPAddress, host: str) -> str | None:
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address.partition("%")[0])
        ip = _embedded(ip)
        version, value = ip.version, int(ip)
        fixed = _always(version, value)
        if fixed is not None:
            return fixed
        if _inside(version, value, self._deny_spans):
            return "denied"
        name = host.lower().rstrip(".")
        if name and name in self.allow_hosts:
            return None
        if _inside(version, value, self._allow_spans):
            return None
        if _inside(version, value, _LOOPBACK_SPANS):
            return "loopback"
        if ip in self.database:
            return "database"
        if ip in self.own or (self.own_host and ip in _LOCAL):
            return "own_host"
        return self.names.get(name)

    def check(self, address: str | IPAddress, host: str = "", server: str = "") -> None:
        """Raise :class:`AddressRefused` unless ``address`` may be dialled."""
        reason = self.verdict(address, host)
        if reason is not None:
            raise AddressRefused(reason, address=str(address), host=host or str(address), server=server)


def _is_host_name(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return all(0 < len(label) < 64 and label.replace("-", "").isalnum() for label in labels) and len(text) < 254


_installed: AddressPolicy | None = None


def install(policy: AddressPolicy) -> None:
    """Make ``policy`` the one every connection is checked against (start-up, and tests that change it)."""
    global _installed
    if _installed is None or _installed.spec != policy.spec:
        for line in describe(policy):
            log.info("cluster address policy: %s", line)
    _installed = policy


def current() -> AddressPolicy:
    """The installed policy; before start-up installed one, the environment's, built once."""
    global _installed
    if _installed is None:
        from shoal.core.config import Settings

        settings = Settings()
        _installed = AddressPolicy.parse(settings.cluster_address_policy, listen=settings.listen,
                                         database_url=settings.database_url)
    return _installed


def check_address(address: str, host: str = "", server: str = "") -> None:
    """Raise :class:`AddressRefused` unless the installed policy lets Shoal dial ``address``."""
    current().check(address, host, server)


def _sockaddr(ip: IPAddress, port: int) -> tuple[int, Any]:
    if ip.version == 4:
        return socket.AF_INET, (str(ip), port)
    return socket.AF_INET6, (str(ip), port, 0, 0)


@functools.lru_cache(maxsize=4096)
def _literal(host: str, port: int) -> tuple[int, Any] | None:
    """``(family, sockaddr)`` for an IP literal (parsed once per host and port), None for a name."""
    try:
        return _sockaddr(ipaddress.ip_address(host), port)
    except ValueError:
        return None


async def resolve_allowed(host: str, port: int, *, server: str = "") -> list[tuple[int, Any]]:
    """``(family, sockaddr)`` of every address of ``host``, each checked against the policy.

    A name with any refused address is refused as a whole (an answer mixing a
    public and a loopback address is how DNS rebinding starts). Name errors leave
    as ``socket.gaierror``.
    """
    policy = current()
    bare = host.strip("[]")
    literal = _literal(bare, port)
    if literal is not None:
        policy.check(bare, bare, server)
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(bare, port, type=socket.SOCK_STREAM,
                                                        proto=socket.IPPROTO_TCP)
    found: list[tuple[int, Any]] = []
    for family, _, _, _, sockaddr in infos:
        policy.check(str(sockaddr[0]), bare, server)
        if (family, sockaddr) not in found:
            found.append((family, sockaddr))
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return found


async def connect_socket(host: str, port: int, *, server: str = "") -> socket.socket:
    """A connected, non-blocking TCP socket to an allowed address of ``host`` (tried in DNS order).

    Wrap the call in ``asyncio.timeout``; hand the socket to ``loop.create_connection(sock=…,
    server_hostname=host)`` so TLS verifies the name, not the address.
    """
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for family, sockaddr in await resolve_allowed(host, port, server=server):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as e:
            sock.close()
            last = e
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError("no address to connect to")


async def create_connection(factory: Callable[[], P], host: str, port: int, *, ssl: SSLContext | None,
                            server_hostname: str | None, server: str = "") -> tuple[asyncio.Transport, P]:
    """``loop.create_connection`` to an allowed address of ``host`` (tried in DNS order).

    The checked address is passed as an IP literal, so the loop does no lookup of its own
    (uvloop then connects in C: as fast as before the policy); TLS verifies ``server_hostname``.
    """
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for _, sockaddr in await resolve_allowed(host, port, server=server):
        try:
            transport, protocol = await loop.create_connection(
                factory, sockaddr[0], port, ssl=ssl, server_hostname=server_hostname if ssl is not None else None)
        except OSError as e:
            if isinstance(e, SSLError):
                raise
            last = e
            continue
        return transport, protocol
    raise last or OSError("no address to connect to")


def aiohttp_guard(host: str, server: str) -> Callable[[tuple[Any, ...]], socket.socket]:
    """An aiohttp ``socket_factory`` that checks the address of every new connection to ``host``.

    aiohttp resolves names itself (and caches them, and skips its resolver for IP
    literals); the socket factory sees the very address it is about to connect
    to, so this is where the check is reliable.
    """
    def factory(addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        current().check(str(sockaddr[0]), host, server)
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


def describe(policy: AddressPolicy) -> Iterable[str]:
    """Lines for the start-up log: what is allowed and refused beyond the fixed rules."""
    yield "link-local and cloud metadata addresses are always refused; loopback, this host and the database " \
          "host unless allowed"
    if policy.allow or policy.allow_hosts:
        yield "allowed despite the defaults: " + ", ".join([*map(str, policy.allow), *sorted(policy.allow_hosts)])
    if policy.deny:
        yield "refused in addition: " + ", ".join(map(str, policy.deny))

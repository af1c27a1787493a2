"""Typed settings read from ``SHOAL_*`` environment variables.

The server, the worker, the CLI's server-side commands and the tests all build a
:class:`Settings` once and pass the groups they need explicitly; nothing reads the
environment after start-up.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AuthSettings",
    "BusinessSettings",
    "ConsoleSettings",
    "GatewaySettings",
    "Settings",
    "describe_settings_error",
    "load_settings",
]


class AuthSettings(BaseModel):
    """How long credentials live, and how password guessing is slowed down (``SHOAL_AUTH__<NAME>``).

    Login throttling: once an account (or a client address) has ``*_failures`` failed logins,
    each further failure blocks it for ``backoff_initial`` seconds, doubling per failure up to
    ``backoff_max``; a count is forgotten after ``forget_seconds`` without a failure, and a
    successful login clears its account's count. The counts live in the database, so every
    replica sees the same ones.
    """

    session_hours: int = Field(12, description="Lifetime of a web login session, in hours.")
    default_token_days: int = Field(90, description="Expiry of API tokens created without --expires.")
    # -- security: login throttling ---
    login_account_failures: int = Field(
        5, ge=1, description="Failed logins of one account before each further failure blocks it for a while.")
    login_address_failures: int = Field(
        20, ge=1, description="Failed logins from one client address (an IPv6 /64) before it is blocked the same "
                              "way; higher than the account's, as many users may share an address (NAT).")
    login_backoff_initial: float = Field(
        1.0, gt=0, description="Seconds the first block lasts; each further failure doubles it.")
    login_backoff_max: float = Field(900.0, gt=0, description="Longest block, in seconds (15 minutes).")
    login_forget_seconds: float = Field(
        900.0, gt=0, description="Seconds without a failure after which an account's or address's count is "
                                 "forgotten.")


class BusinessSettings(BaseModel):
    """Where the business directory (CMDB of R2) comes from."""

    directory: str = Field("builtin", description="'builtin' or 'bkcmdb'.")
    cmdb_url: str = Field("", description="Base URL of BK-CMDB's API when directory is 'bkcmdb'.")
    cmdb_app_code: str = Field("shoal", description="bk_app_code sent to BK-CMDB.")
    cmdb_app_secret: str = Field("", description="bk_app_secret sent to BK-CMDB.")
    cmdb_timeout: float = Field(10.0, description="Seconds to wait for BK-CMDB before giving up.")
    # -- security: BK-CMDB transport ---
    cmdb_allow_http: bool = Field(
        False, description="Allow a plain-http cmdb_url. Off by default: the app secret and every user's businesses "
                           "would cross the network readable and forgeable; turn on only for a CMDB on a trusted "
                           "link (or a test fake).")

    @model_validator(mode="after")
    def _check_cmdb_url(self) -> BusinessSettings:
        """Refuse a CMDB URL that is not https (unless http is allowed explicitly) before anything starts."""
        if not self.cmdb_url:
            return self
        scheme = urlsplit(self.cmdb_url).scheme.lower()
        if scheme == "https" or (scheme == "http" and self.cmdb_allow_http):
            return self
        if scheme == "http":
            raise ValueError(f"SHOAL_BUSINESS__CMDB_URL must use https, got {self.cmdb_url!r}; set "
                             "SHOAL_BUSINESS__CMDB_ALLOW_HTTP=true to allow plain http on a trusted network")
        raise ValueError(f"SHOAL_BUSINESS__CMDB_URL must be an https:// URL, got {self.cmdb_url!r}")


class GatewaySettings(BaseModel):
    """The kube API gateway at /clusters/{id}/ (``SHOAL_GATEWAY__<NAME>``)."""

    kubeconfig_expires: str = Field("8h", description="Default lifetime of a per-user kubeconfig's gateway token.")
    kubeconfig_max_expires: str = Field("30d", description="Longest lifetime a user may ask for.")
    auth_cache_seconds: float = Field(
        5.0, ge=0, description="Seconds a resolved token and its roles are reused (revocation through Shoal "
                               "clears it at once on this replica; others see it within this delay).")
    cluster_cache_seconds: float = Field(5.0, ge=0, description="Seconds a cluster's credential is reused.")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to open a connection to a cluster.")
    read_timeout: float = Field(
        300.0, gt=0, description="Seconds an ordinary request may wait for the cluster (watch, logs -f, exec, "
                                 "attach, port-forward and proxy have no limit).")
    max_connections: int = Field(64, ge=1, description="Pooled keep-alive connections per cluster.")
    audit_reads: float = Field(
        1.0, ge=0, le=1, description="Share of successful reads (get/list/watch) written to the audit log; "
                                     "writes, exec and refusals are always written.")
    audit_aggregate_reads: bool = Field(
        True, description="Write successful reads alike in user, cluster, verb, path and status within one flush "
                          "interval as one entry with a count (and the slowest duration).")
    audit_flush_seconds: float = Field(1.0, gt=0, description="Seconds between batched audit writes.")
    impersonate_default: bool = Field(True, description="Impersonate the Shoal user on clusters without a setting.")


class ConsoleSettings(BaseModel):
    """The web console: kubectl in a browser terminal (``SHOAL_CONSOLE__<NAME>``)."""

    idle_timeout: float = Field(1800.0, gt=0, description="Seconds without a keystroke before a session is closed.")
    hard_limit: float = Field(86400.0, gt=0, description="Seconds a session may last at most, busy or not.")
    attach_timeout: float = Field(60.0, gt=0, description="Seconds a created session waits for its terminal "
                                                          "to connect before it is dropped.")
    recheck_seconds: float = Field(15.0, gt=0, description="Seconds between checks that the user is still active "
                                                           "and may still view the cluster.")
    max_sessions: int = Field(10, ge=1, description="Open consoles one user may have on this server at once.")
    kubectl: str = Field("", description="Path of the kubectl binary; default: next to Shoal's Python, then PATH.")
    gateway_url: str = Field(
        "", description="Base URL the console's kubectl uses to reach this server's gateway (HTTPS); default: "
                        "the listen address over HTTPS when TLS is on, else a loopback TLS relay Shoal starts.")
    record: bool = Field(False, description="Record whole sessions (output) as asciinema v2 files for admins.")
    # -- security: console sandbox (issue 13) -------------------------------------------------------
    sandbox: bool = Field(
        True, description="Run each session's kubectl and filters sandboxed (own UID, own network namespace "
                          "that reaches only the gateway, limits). false is UNSAFE: commands then run as the "
                          "server's own user, can read its data dir and dial any address; a warning is logged.")
    sandbox_uid_range: str = Field(
        "200000-200999", description="first-last UIDs (and the same GIDs) given to console sessions, one per "
                                     "running session; must belong to no account or group. Servers in separate "
                                     "containers on one host need separate ranges. Empty: consoles refused.")
    sandbox_dir: str = Field(
        "/var/lib/shoal-console", description="Root-owned directory for the sandboxes (kubectl's copy, per-session "
                                              "HOME and read-only kubeconfig); outside the data dir, traversable by "
                                              "other users, not under /tmp, /var/tmp, /dev/shm or /run.")
    limit_cpu_seconds: int = Field(600, ge=1, description="CPU seconds one console command may use (RLIMIT_CPU).")
    limit_processes: int = Field(
        256, ge=16, description="Processes and threads one session's UID may have at once (RLIMIT_NPROC; kubectl "
                                "alone runs ~10-30 threads).")
    limit_memory_mb: int = Field(1024, ge=64, description="Heap and other writable memory of one console command, "
                                                          "in MiB (RLIMIT_DATA).")
    limit_file_mb: int = Field(64, ge=1, description="Largest file a console command may write, in MiB "
                                                     "(RLIMIT_FSIZE; kubectl writes only its cache).")
    limit_open_files: int = Field(1024, ge=64, description="Open files of one console command (RLIMIT_NOFILE).")

    @field_validator("sandbox_uid_range")
    @classmethod
    def _check_uid_range(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        first, sep, last = value.partition("-")
        if not sep or not first.strip().isdigit() or not last.strip().isdigit():
            raise ValueError(f"SHOAL_CONSOLE__SANDBOX_UID_RANGE must be first-last, got {value!r}")
        low, high = int(first), int(last)
        if not 1000 <= low <= high < 2**31 - 1:
            raise ValueError(f"SHOAL_CONSOLE__SANDBOX_UID_RANGE must lie within 1000..2147483646, got {value!r}")
        return f"{low}-{high}"

    @property
    def uid_range(self) -> range:
        """The session UIDs as a range (empty when unset)."""
        if not self.sandbox_uid_range:
            return range(0)
        low, _, high = self.sandbox_uid_range.partition("-")
        return range(int(low), int(high) + 1)


class Settings(BaseSettings):
    """All of Shoal's configuration; each field maps to ``SHOAL_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SHOAL_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="SQLite file, secret key, admin password.")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite in the data dir.")
    listen: str = Field("127.0.0.1:8080", description="host:port the server listens on.")
    secret_key: str = Field("", description="Key for secrets at rest; generated into the data dir if unset.")
    admin_password: str = Field("", description="Password of the first admin (only on an empty database).")
    admin_token: str = Field("", description="API token of the first admin (only on an empty database).")
    public_url: str = Field("", description="URL users reach the server at (for kubeconfigs, links).")
    log_level: str = Field("INFO", description="Python logging level.")
    log_json: bool = Field(True, description="Emit logs as JSON lines.")
    cookie_secure: bool | None = Field(
        None, description="Mark the session cookie Secure; default: whenever users reach Shoal over HTTPS (an "
                          "https public_url, or TLS on and no public_url).")
    # -- HTTPS by default (issue 15) ---
    tls_cert: str = Field(
        "", description="PEM certificate (chain) to serve HTTPS with. Unset: Shoal generates a private CA and a "
                        "server certificate into <data_dir>/tls on first start and serves HTTPS with them.")
    tls_key: str = Field("", description="PEM private key of tls_cert.")
    tls_ca: str = Field("", description="PEM CA that signed tls_cert, embedded in per-user kubeconfigs.")
    plain_http: bool = Field(
        False, description="Serve plain HTTP instead of HTTPS. Only behind a TLS-terminating proxy, with "
                           "public_url set to its https:// address: kubectl never sends a token over plain HTTP.")
    event_loop: str = Field("uvloop", description="'uvloop' (faster; when installed) or 'asyncio'.")
    # -- security: demo-only features, metrics (issue 13) ---
    demo: bool = Field(
        False, description="The demo is running ('make demo' sets SHOAL_DEMO=true): users may start the demo task "
                           "type. Leave off in production, where it would only hold worker slots.")
    metrics_token: str = Field(
        "", description="Bearer token Prometheus must send to read /metrics; empty (default): /metrics is closed "
                        "(403).")
    # -- security: cluster addresses (SHOAL_CLUSTER_ADDRESS_POLICY) ---
    cluster_address_policy: str = Field(
        "", description="Which addresses Shoal may dial a managed cluster at, beyond the fixed rules: "
                        "'allow=<entries>;deny=<entries>', entries separated by commas. allow= takes networks "
                        "(10.0.0.0/8), addresses, host names or the word 'loopback' and re-allows what is refused "
                        "by default (loopback, this host's own addresses, the database host); deny= takes "
                        "networks or addresses to refuse as well. Link-local and cloud metadata addresses are "
                        "refused whatever this says. Empty: the defaults (private and public addresses allowed).")
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    business: BusinessSettings = Field(default_factory=BusinessSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"SHOAL_LISTEN must be host:port, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'shoal.db').resolve()}"

    @model_validator(mode="after")
    def _check_tls(self) -> Settings:
        """Refuse contradicting TLS settings before anything starts (plain HTTP is never a silent fallback)."""
        if self.plain_http and (self.tls_cert or self.tls_key):
            raise ValueError("SHOAL_PLAIN_HTTP=true turns HTTPS off, but SHOAL_TLS_CERT/SHOAL_TLS_KEY name a "
                             "certificate: set only one of them")
        if self.tls_key and not self.tls_cert:
            raise ValueError("SHOAL_TLS_KEY is set without SHOAL_TLS_CERT")
        return self

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls_enabled else "http"
        return self.public_url.rstrip("/") or f"{scheme}://{self.listen}"

    @property
    def tls_enabled(self) -> bool:
        """Does this server speak HTTPS itself (the default; only SHOAL_PLAIN_HTTP turns it off)?"""
        return not self.plain_http

    @property
    def tls_generated(self) -> bool:
        """HTTPS with the CA and certificate Shoal generates into <data_dir>/tls (no SHOAL_TLS_CERT)."""
        return self.tls_enabled and not self.tls_cert

    @property
    def users_on_https(self) -> bool:
        """Do users reach Shoal over HTTPS (the public URL's scheme, else whether this server serves TLS)?"""
        if self.public_url:
            return urlsplit(self.public_url).scheme.lower() == "https"
        return self.tls_enabled

    @property
    def secure_cookies(self) -> bool:
        """The session cookie's Secure flag: SHOAL_COOKIE_SECURE when set, else :attr:`users_on_https`."""
        return self.users_on_https if self.cookie_secure is None else self.cookie_secure


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 before any byte is written, so no reader sees it open."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def write_private(path: Path, text: str) -> None:
    """Write a secret file readable by the owner only (replacing an old one)."""
    path.unlink(missing_ok=True)
    _write_private(path, text)


def load_settings(**overrides: object) -> Settings:
    """Read the environment, create the data dir and make sure a secret key exists."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The data dir holds the secret key and the SQLite database (written with the umask, often 0644): other
    # users — the console's sandboxed sessions among them — must not even enter it.
    info = settings.data_dir.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        settings.data_dir.chmod(info.st_mode & 0o700)
    if not settings.secret_key:
        key_file = settings.data_dir / "secret-key"
        if not key_file.exists():
            write_private(key_file, secrets.token_urlsafe(32))
        settings.secret_key = key_file.read_text().strip()
    return settings


def describe_settings_error(error: ValidationError) -> str:
    """One line per wrong setting, named by its environment variable, for a start-up error without a traceback."""
    lines = []
    for item in error.errors():
        name = "SHOAL_" + "__".join(str(part).upper() for part in item.get("loc", ()))
        message = str(item.get("msg", "")).removeprefix("Value error, ")
        lines.append(f"  {name}: {message}")
    return "\n".join(lines)

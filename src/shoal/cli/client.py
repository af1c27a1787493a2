"""The CLI's HTTP client: where the server is, which token to send, how errors are shown.

Credentials come from ``SHOAL_URL`` + ``SHOAL_TOKEN`` or from the file written by
``shoal login`` (``$SHOAL_CONFIG`` or ``~/.config/shoal/config.json``, mode 0600).
Problem responses become a red message with the server's hint and exit code 1.

TLS trust (:func:`tls_verify`, the one place that decides it): ``--ca``/``SHOAL_CA`` (or the CA
saved by ``shoal login --ca``); else, for a server on this machine (loopback), the CA a Shoal
server generates into its data dir (``$SHOAL_DATA_DIR``, ``./data``, ``./data/demo``) on top of
the usual ones; else the system's trust store (httpx honours ``SSL_CERT_FILE``). A certificate
that does not verify ends the command with the file to trust, not a traceback.

Start-up matters (every command is a new process), so this module imports
neither httpx nor rich at the top: httpx is imported by the first request,
rich only by the commands that draw with it (``out`` is a lazy console).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import typer

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

__all__ = ["ApiClient", "config_path", "fail", "local_cas", "output_json", "save_config", "send", "tls_verify"]


class LazyConsole:
    """A rich Console made on first use, so commands that never draw with rich never import it."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.real.print(*objects, **kwargs)


out = LazyConsole()


def config_path() -> Path:
    explicit = os.environ.get("SHOAL_CONFIG")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "shoal" / "config.json"


def save_config(url: str, token: str, username: str, ca: str = "") -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url.rstrip("/"), "token": token, "username": username,
                   **({"ca": str(Path(ca).resolve())} if ca else {})}, handle)
    return path


def _stored() -> dict[str, str]:
    path = config_path()
    return dict(json.loads(path.read_text())) if path.exists() else {}


def configured_url() -> str:
    """The server the client commands talk to (``SHOAL_URL``, else ``shoal login``'s file), or ''."""
    return (os.environ.get("SHOAL_URL") or _stored().get("url") or "").rstrip("/")


def language() -> str:
    """The CLI user's language: SHOAL_LANG, else zh-CN when the locale is Chinese, else en."""
    explicit = os.environ.get("SHOAL_LANG")
    if explicit:
        return explicit
    lang = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "zh-CN" if lang.lower().startswith("zh") else "en"


_language = language  # the older private name, still imported by cli.nodes


def _paint(text: str, colour: str) -> str:
    """``text`` in an ANSI colour when standard error is a terminal (and NO_COLOR is unset)."""
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return text
    return f"\033[{colour}m{text}\033[0m"


def fail(message: str, hint: str | None = None, code: str | None = None, *, exit_code: int = 1) -> NoReturn:
    """Print an error (and the server's problem code and hint) on standard error and end the command.

    The labels are in the user's language ("Error:"/"错误："); message and hint come
    already translated (by the server for problems, by the caller otherwise).
    """
    zh = language() != "en"
    label = "错误：" if zh else "Error:"
    suffix = f" ({code})" if code else ""
    gap = "" if zh else " "
    typer.echo(f"{_paint(label, '1;31')}{gap}{message}{suffix}", err=True)
    if hint:
        typer.echo(f"{_paint('提示：' if zh else 'Hint:', '33')}{gap}{hint}", err=True)
    raise typer.Exit(exit_code)


def output_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _httpx() -> ModuleType:
    """httpx, without its ``httpx`` command-line tool.

    ``import httpx`` also imports ``httpx._main`` (its own CLI), which pulls in rich,
    pygments and click: about half of httpx's import time, which every ``shoal``
    client command would pay. httpx imports it inside ``try/except ImportError``, so
    marking it absent before the first import leaves the library whole (only the
    unused ``httpx.main`` becomes a stub that says to install ``httpx[cli]``).
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def local_cas() -> list[Path]:
    """The CAs that Shoal servers on this machine generated (``<data dir>/tls/ca.crt``), most specific first."""
    dirs = [os.environ.get("SHOAL_DATA_DIR", ""), "data", "data/demo"]
    found: list[Path] = []
    for directory in filter(None, dirs):
        ca = Path(directory) / "tls" / "ca.crt"
        if ca.is_file() and ca.resolve() not in found:
            found.append(ca.resolve())
    return found


def _t(key: str, **params: Any) -> str:
    from shoal.core.i18n import translate  # only on an error path: the CLI's start-up stays light

    return translate(key, language(), **params)


def tls_verify(url: str, ca: str = "") -> ssl.SSLContext | bool:
    """What the CLI trusts for ``url`` (see the module docstring); the only place the HTTP client's TLS is set."""
    ca = ca or os.environ.get("SHOAL_CA", "")
    if ca:
        try:
            return ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError) as e:
            fail(_t("error.cli_ca_missing", path=ca, detail=getattr(e, "strerror", None) or str(e)),
                 _t("hint.cli_ca_missing"))
    split = urlsplit(url)
    if split.scheme != "https" or (split.hostname or "") not in _LOOPBACK:
        return True
    cas = local_cas()
    if not cas:
        return True
    # what httpx would trust (SSL_CERT_FILE/SSL_CERT_DIR are often set machine-wide), plus the local CAs
    context = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None,
                                         capath=os.environ.get("SSL_CERT_DIR") or None)
    for ca_file in cas:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def _untrusted(error: httpx.HTTPError) -> ssl.SSLCertVerificationError | None:
    """The certificate-verification failure behind ``error``, if that is what it is."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def send(method: str, url: str, *, ca: str = "", **kwargs: Any) -> httpx.Response:
    """One request with the CLI's TLS trust; an unreachable or untrusted server ends the command with a hint."""
    httpx_ = _httpx()
    base = urlsplit(url)
    origin = f"{base.scheme}://{base.netloc}"
    try:
        response: httpx.Response = httpx_.request(method, url, timeout=60, verify=tls_verify(url, ca), **kwargs)
        return response
    except httpx_.HTTPError as e:
        untrusted = _untrusted(e)
        if untrusted is not None:
            cas = local_cas()
            found = _t("hint.cli_tls_found", path=cas[0]) if cas else ""
            fail(_t("error.cli_tls_untrusted", url=origin, detail=untrusted.verify_message or untrusted.reason),
                 _t("hint.cli_tls_untrusted", found=found))
        fail(f"Cannot reach {origin}: {e}", "Check the URL and that the server is running.")


class ApiClient:
    def __init__(self, url: str | None = None, token: str | None = None, ca: str = "") -> None:
        stored: dict[str, str] = {}
        path = config_path()
        if path.exists():
            stored = json.loads(path.read_text())
        self.url = (url or os.environ.get("SHOAL_URL") or stored.get("url") or "").rstrip("/")
        self.token = token if token is not None else (os.environ.get("SHOAL_TOKEN") or stored.get("token") or "")
        # --ca of this command, else SHOAL_CA (read in tls_verify), else the CA saved with this server's login
        self.ca = ca or ("" if os.environ.get("SHOAL_CA") or self.url != stored.get("url") else stored.get("ca", ""))
        if not self.url:
            fail("No Shoal server configured.", "Run 'shoal login --url URL' or set SHOAL_URL and SHOAL_TOKEN.")

    def __repr__(self) -> str:
        return f"ApiClient(url={self.url!r}, token=<hidden>)"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Accept-Language": language(), "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        resp = send(method, self.url + path, ca=self.ca, headers=headers, **kwargs)
        if resp.status_code == 204:
            return None
        try:
            body = resp.json()
        except ValueError:
            fail(f"Unexpected answer from the server (HTTP {resp.status_code}).")
        if resp.status_code >= 400:
            if isinstance(body, dict) and "message" in body:
                fail(str(body["message"]), body.get("hint"), body.get("code"))
            fail(f"HTTP {resp.status_code}: {body}")
        return body

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

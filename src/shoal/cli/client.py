"""The CLI's HTTP client: where the server is, which token to send, how errors are shown.

Credentials come from ``SHOAL_URL`` + ``SHOAL_TOKEN`` or from the file written by
``shoal login`` (``$SHOAL_CONFIG`` or ``~/.config/shoal/config.json``, mode 0600).
Problem responses become a red message with the server's hint and exit code 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console

__all__ = ["ApiClient", "config_path", "fail", "output_json", "save_config"]

err = Console(stderr=True)
out = Console()


def config_path() -> Path:
    explicit = os.environ.get("SHOAL_CONFIG")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "shoal" / "config.json"


def save_config(url: str, token: str, username: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url.rstrip("/"), "token": token, "username": username}, handle)
    return path


def language() -> str:
    """The CLI user's language: SHOAL_LANG, else zh-CN when the locale is Chinese, else en."""
    explicit = os.environ.get("SHOAL_LANG")
    if explicit:
        return explicit
    lang = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "zh-CN" if lang.lower().startswith("zh") else "en"


_language = language  # the older private name, still imported by cli.nodes


def fail(message: str, hint: str | None = None) -> NoReturn:
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    if hint:
        err.print(f"[yellow]Hint:[/] {hint}", highlight=False)
    raise typer.Exit(1)


def output_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


class ApiClient:
    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        stored: dict[str, str] = {}
        path = config_path()
        if path.exists():
            stored = json.loads(path.read_text())
        self.url = (url or os.environ.get("SHOAL_URL") or stored.get("url") or "").rstrip("/")
        self.token = token if token is not None else (os.environ.get("SHOAL_TOKEN") or stored.get("token") or "")
        if not self.url:
            fail("No Shoal server configured.", "Run 'shoal login --url URL' or set SHOAL_URL and SHOAL_TOKEN.")

    def __repr__(self) -> str:
        return f"ApiClient(url={self.url!r}, token=<hidden>)"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Accept-Language": language(), "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            resp = httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)
        except httpx.HTTPError as e:
            fail(f"Cannot reach {self.url}: {e}", "Check the URL and that the server is running.")
        if resp.status_code == 204:
            return None
        try:
            body = resp.json()
        except ValueError:
            fail(f"Unexpected answer from the server (HTTP {resp.status_code}).")
        if resp.status_code >= 400:
            if isinstance(body, dict) and "message" in body:
                fail(str(body["message"]), body.get("hint"))
            fail(f"HTTP {resp.status_code}: {body}")
        return body

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

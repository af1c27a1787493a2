"""Helpers for web page tests: a browser-like client, logging in through the form, reading forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx

from shoal.api.app import create_app
from shoal.context import AppContext

BROWSER_HEADERS = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en"}
_HIDDEN = re.compile(r'name="(csrf_token|login_csrf)" value="([^"]*)"')


def browser(ctx: AppContext, *, lang: str = "en") -> httpx.AsyncClient:
    """A client that behaves like a browser: asks for HTML, keeps cookies, does not follow redirects."""
    app = create_app(ctx)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shoal.test",
                             headers={**BROWSER_HEADERS, "Accept-Language": lang})


def hidden(html: str, name: str) -> str:
    for found, value in _HIDDEN.findall(html):
        if found == name:
            return value
    raise AssertionError(f"no hidden field {name!r} in the page")


async def login(client: httpx.AsyncClient, username: str, password: str) -> str:
    """Log in through the login form; return the CSRF token later forms must carry."""
    page = await client.get("/login")
    assert page.status_code == 200, page.text
    r = await client.post("/login", data={"username": username, "password": password,
                                          "login_csrf": hidden(page.text, "login_csrf"), "next": "/"})
    assert r.status_code == 303, r.text
    home = await client.get("/")
    assert home.status_code == 200, home.text
    return hidden(home.text, "csrf_token")


async def make_user(client: httpx.AsyncClient, admin_csrf: str, name: str, password: str = "password-123") -> None:
    r = await client.post("/admin/users", data={"username": name, "password": password, "csrf_token": admin_csrf})
    assert r.status_code == 303, r.text


@dataclass
class User:
    """A signed-in browser: its client and the CSRF token its forms carry."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def submit(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        """POST a form as the page would: with the CSRF token."""
        return await self.client.post(path, data={**(data or {}), "csrf_token": self.csrf})


#: ``async with users("bob") as bob``: a new user, signed in in a browser of their own.
SignIn = Callable[[str], AbstractAsyncContextManager[User]]

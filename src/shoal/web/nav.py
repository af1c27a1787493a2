"""Sidebar entries of the web console, contributed by each area module.

An area declares ``nav = (NavItem(...), ...)``; ``pages.install`` registers them in
order. Whether an entry shows is decided by the one authorisation function
(``can``) through the item's ``action``: items without an action show to every
signed-in user. An item may carry a ``badge`` counter (things waiting for the
user), computed once per page by ``web.deps.page_principal``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.iam.authz import Action, Principal, can

__all__ = ["NavItem", "badges_for", "register", "registered", "visible_for"]


@dataclass(frozen=True)
class NavItem:
    """One sidebar link: a message key for its label, where it goes, and which icon it wears."""

    label_key: str
    href: str
    icon: str
    order: int = 100
    #: Platform action needed to see the link (None: everyone signed in).
    action: Action | None = None
    #: Section heading key the link sits under ("" = main section).
    section_key: str = ""
    #: How many things wait there for this user (shown as a red count; 0 hides it).
    badge: Callable[[AsyncSession, Principal], Awaitable[int]] | None = None

    def is_active(self, path: str) -> bool:
        if self.href == "/":
            return path == "/" or path.startswith("/projects")
        return path == self.href or path.startswith(self.href.rstrip("/") + "/")


_ITEMS: list[NavItem] = []


def register(*items: NavItem) -> None:
    """Add sidebar entries (idempotent: the same item twice is kept once)."""
    for item in items:
        if item not in _ITEMS:
            _ITEMS.append(item)
    _ITEMS.sort(key=lambda i: (i.order, i.href))


def registered() -> tuple[NavItem, ...]:
    return tuple(_ITEMS)


def visible_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [i for i in _ITEMS if i.action is None or can(principal, i.action)]


async def badges_for(session: AsyncSession, principal: Principal) -> dict[str, int]:
    """The counters of the sidebar entries ``principal`` sees, by href."""
    counts: dict[str, int] = {}
    for item in visible_for(principal):
        if item.badge is not None:
            counts[item.href] = await item.badge(session, principal)
    return counts

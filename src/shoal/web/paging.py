"""Page numbers for list pages: ``?page=N`` in, a :class:`Pager` out for the ``pagination`` macro."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAGE_SIZE", "Pager", "page_number"]

PAGE_SIZE = 20
#: Deep pages are reachable by editing the URL, but nobody browses past this many.
MAX_PAGE = 10_000


def page_number(raw: str | int | None) -> int:
    """A page number from a query value, clamped to 1..MAX_PAGE (bad input means page 1)."""
    try:
        value = int(raw or 1)
    except (TypeError, ValueError):
        return 1
    return min(max(value, 1), MAX_PAGE)


@dataclass(frozen=True)
class Pager:
    page: int
    size: int = PAGE_SIZE
    #: None when the list cannot be counted cheaply; then ``has_next`` comes from fetching one extra row.
    total: int | None = None
    more: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages if self.pages is not None else self.more

    @property
    def first_item(self) -> int:
        return self.offset + 1

    @property
    def last_item(self) -> int:
        if self.total is None:
            return self.offset + self.size
        return min(self.offset + self.size, self.total)

    def window(self, width: int = 2) -> list[int | None]:
        """Page numbers to show, with None for a gap: 1 … 4 5 [6] 7 8 … 20."""
        if self.pages is None:
            return [self.page]
        shown = sorted({1, self.pages, *range(max(1, self.page - width), min(self.pages, self.page + width) + 1)})
        out: list[int | None] = []
        previous = 0
        for n in shown:
            if previous and n - previous > 1:
                out.append(None)
            out.append(n)
            previous = n
        return out

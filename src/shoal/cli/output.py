"""How client commands print what they fetched, the way kubectl does (``-o``, ``--no-headers``).

Every list command takes ``-o table|wide|json|yaml|name``; anything else ends the
command with an error in the user's language that lists the choices (exit 2, as
for any wrong usage). Tables are plain columns separated by three spaces, never
cut or wrapped, whatever the terminal width — so ``shoal cluster list | awk``
sees whole values — with colours only on a terminal. Headers and yes/no words
are in the user's language (``SHOAL_LANG``, else ``LANG``). The "N of M" line
goes to standard error, so a pipe gets only the rows.

This module imports only the standard library and typer at the top: ``yaml`` and
the message catalogue are loaded when a command prints, not at start-up.
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import typer

from shoal.cli.client import fail, language

__all__ = ["DETAIL_FORMATS", "LIST_FORMATS", "Column", "NoHeadersOpt", "detail_output", "list_output",
           "print_data", "render_list", "tr", "yes_no"]

LIST_FORMATS = ("table", "wide", "json", "yaml", "name")
DETAIL_FORMATS = ("table", "json", "yaml")
ANSI = {"green": "32", "red": "31", "yellow": "33", "blue": "34", "cyan": "36", "dim": "2"}


def tr(key: str, **params: Any) -> str:
    """``key`` from the message catalogue in the CLI user's language."""
    from shoal.core.i18n import translate

    return translate(key, language(), **params)


def yes_no(value: bool, *, blank_for_no: bool = False) -> str:
    if value:
        return tr("cli.word.yes")
    return "" if blank_for_no else tr("cli.word.no")


def _format_checker(choices: Sequence[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            fail(tr("error.cli_output_format", value=value, choices="|".join(choices)),
                 tr("hint.cli_output_format"), exit_code=2)
        return value

    return check


def list_output(choices: Sequence[str] = LIST_FORMATS) -> Any:
    """The ``-o/--output`` option of a list command (or of one with fewer ``choices``)."""
    return typer.Option("table", "-o", "--output", help="|".join(choices), callback=_format_checker(choices))


def detail_output() -> Any:
    """The ``-o/--output`` option of a command that shows one object."""
    return list_output(DETAIL_FORMATS)


NoHeadersOpt: Any = typer.Option(False, "--no-headers", help="Print the rows without the header line")


def print_data(data: Any, output: str) -> None:
    """``data`` as JSON (indented, UTF-8) or YAML: what ``-o json`` and ``-o yaml`` print."""
    if output == "yaml":
        import yaml

        typer.echo(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False), nl=False)
    else:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@dataclass(frozen=True)
class Column:
    """One column: its header's catalogue key (``cli.col.<key>``), the cell, and whether only ``-o wide`` shows it."""

    key: str
    cell: Callable[[dict[str, Any]], Any]
    wide: bool = False
    colours: dict[str, str] = field(default_factory=dict)


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _text(value: Any) -> str:
    """A cell on one line: newlines and runs of spaces become one space (``None`` is blank)."""
    return "" if value is None else " ".join(str(value).split())


def _colourful() -> bool:
    return not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def table_lines(rows: Sequence[dict[str, Any]], columns: Sequence[Column], *, wide: bool = False,
                headers: bool = True) -> list[str]:
    """The rows as plain aligned lines (kubectl's layout): three spaces between columns, no cell cut."""
    shown = [c for c in columns if wide or not c.wide]
    cells = [[_text(c.cell(row)) for c in shown] for row in rows]
    if headers:
        cells.insert(0, [tr(f"cli.col.{c.key}") for c in shown])
    widths = [max((_width(line[i]) for line in cells), default=0) for i in range(len(shown))]
    colour = _colourful()
    lines = []
    for index, line in enumerate(cells):
        parts = []
        for i, (text, column) in enumerate(zip(line, shown, strict=True)):
            pad = "" if i == len(shown) - 1 else " " * (widths[i] - _width(text))
            code = ANSI.get(column.colours.get(text, "")) if colour and (index or not headers) else None
            parts.append((f"\033[{code}m{text}\033[0m" if code else text) + pad)
        lines.append("   ".join(parts).rstrip())
    return lines


def render_list(data: Any, rows: Sequence[dict[str, Any]], columns: Sequence[Column], output: str, *,
                kind: str, name: Callable[[dict[str, Any]], Any], no_headers: bool = False,
                total: int | None = None) -> None:
    """Print a list in the chosen format.

    ``data`` is the API's answer as is (``-o json``/``yaml`` print it whole, paging
    fields included); ``rows`` its items; ``name`` gives ``kind/NAME`` for ``-o name``.
    """
    if output in ("json", "yaml"):
        print_data(data, output)
        return
    if output == "name":
        for row in rows:
            typer.echo(f"{kind}/{name(row)}")
        return
    if not rows:
        typer.echo(tr("cli.list.empty"), err=True)
        return
    for line in table_lines(rows, columns, wide=output == "wide", headers=not no_headers):
        typer.echo(line)
    if total is not None and not no_headers:
        typer.echo(tr("cli.list.count", shown=len(rows), total=total), err=True)

"""Typer without pydantic for the CLI's plain parameters (text, numbers, flags and lists of them).

Typer (0.20 and later) converts every parameter's value through a pydantic
TypeAdapter; importing pydantic and building the adapters is about as much CPU as
the rest of a client command's start-up together (bench/cli.py). Shoal's
commands only take ``str``, ``int``, ``float``, ``bool`` and lists of those, with
no typer-side constraints, which need no more than ``int(value)``. ``install()``
puts a converter for exactly those in front of typer's own and leaves every other
parameter to typer.

This leans on typer's private ``typer.core.build_runtime_param`` hook. If a typer
release renames it, ``install()`` does nothing and the CLI stays correct, only
slower — and tests/e2e/test_cli_conventions.py, which checks that a client
command does not load pydantic, says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args, get_origin

__all__ = ["install"]

PLAIN = (str, int, float, bool)
TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE = frozenset({"0", "false", "f", "no", "n", "off"})
# ParameterInfo fields that ask typer for more than a type conversion.
CONSTRAINTS = ("parser", "click_type", "min", "max", "clamp", "case_sensitive", "formats", "exists", "file_okay",
               "dir_okay", "writable", "readable", "resolve_path", "allow_dash", "path_type", "mode", "encoding")
DEFAULTS: dict[str, Any] = {"case_sensitive": True, "clamp": False, "file_okay": True, "dir_okay": True,
                            "readable": True, "writable": False, "exists": False, "resolve_path": False,
                            "allow_dash": False}


def _leaf(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is list and len(get_args(annotation)) == 1 else annotation


def _convert(kind: type, value: Any) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if kind is bool:
        text = str(value).strip().lower()
        if text in TRUE or text in FALSE:
            return text in TRUE
        raise ValueError(value)
    return kind(value)


def install() -> None:
    try:
        from typer import core
        from typer._click.exceptions import BadParameter
        from typer._coercion import RuntimeParam, TypeDescriptor
    except ImportError:
        return
    original = getattr(core, "build_runtime_param", None)
    if original is None or getattr(original, "shoal_plain", False):
        return

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        """Converts text from the command line to a plain Python type, as typer's adapter would."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind = _leaf(self.annotation)

            def one(item: Any) -> Any:
                try:
                    return _convert(kind, item)
                except ValueError:
                    raise BadParameter(f"{item!r} is not a valid {kind.__name__}.", ctx=ctx, param=param) from None

            if isinstance(value, (list, tuple)):
                return [one(item) for item in value]
            return one(value)

    def _plain(descriptor: TypeDescriptor) -> bool:
        if descriptor.file_annotation is not None or _leaf(descriptor.annotation) not in PLAIN:
            return False
        info = descriptor.parameter_info
        return all(getattr(info, name, None) in (None, DEFAULTS.get(name)) for name in CONSTRAINTS)

    def build_runtime_param(descriptor: TypeDescriptor) -> RuntimeParam:
        if _plain(descriptor):
            return PlainRuntimeParam(annotation=descriptor.annotation, parameter_info=descriptor.parameter_info)
        return original(descriptor)  # type: ignore[no-any-return]

    build_runtime_param.shoal_plain = True  # type: ignore[attr-defined]
    setattr(core, "build_runtime_param", build_runtime_param)  # noqa: B010 (a name typer does not export)

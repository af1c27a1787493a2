"""Kubernetes resource quantities (``500m``, ``4``, ``16365052Ki``, ``1e3``) as plain numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["parse_cpu", "parse_quantity"]

_SUFFIXES = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal("1e3"), "M": Decimal("1e6"),
    "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"),
}


def parse_quantity(value: object) -> float:
    """The quantity as a number of base units (bytes, cores, pods); 0 for something unreadable."""
    text = str(value or "").strip()
    if not text:
        return 0.0
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            try:
                return float(Decimal(number) * _SUFFIXES[suffix])
            except InvalidOperation:
                break
    try:
        return float(Decimal(text))
    except InvalidOperation:
        return 0.0


def parse_cpu(value: object) -> float:
    """CPU in cores (``500m`` -> 0.5)."""
    return parse_quantity(value)

"""Validate and normalise PostgreSQL duration and size settings.

Accepted forms follow PostgreSQL's own GUC unit syntax: a whole, non-negative number,
optionally one space, then a case-sensitive unit. A bare number is rejected (PostgreSQL
would read it in the setting's own base unit, which differs between settings) unless it
is 0 or the caller names the unit with ``default_unit``.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from .errors import InputError

# Multipliers to the smallest unit of each kind (microseconds and bytes).
DURATION_UNITS: dict[str, int] = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "min": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "kB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "TB": 1024**4,
}

_QUANTITY_RE = re.compile(r"([0-9]+)(?: ?([A-Za-z]+))?")
_FRACTION_RE = re.compile(r"[0-9]*\.[0-9]+ ?[A-Za-z]*")


class _Kind:
    """What differs between durations and sizes when parsing and reporting."""

    def __init__(self, noun: str, units: dict[str, int], examples: str, zero: str) -> None:
        self.noun = noun
        self.units = units
        self.examples = examples
        self.zero = zero


_DURATION = _Kind("duration", DURATION_UNITS, "'30s' or '5min'", "or 0 to disable")
_SIZE = _Kind("size", SIZE_UNITS, "'128MB' or '1GB'", "or 0")


def _show(value: Any) -> str:
    """Render the offending value for an error message."""
    text = repr(str(value)) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(value: Any, name: str, kind: _Kind, default_unit: str | None, hint: str = "") -> NoReturn:
    units = ", ".join(kind.units)
    bare = f", a bare whole number (read as {default_unit})" if default_unit else ""
    message = (
        f"{name}: {_show(value)} is not a PostgreSQL {kind.noun}; expected a whole number "
        f"followed by one of {units} (for example {kind.examples}){bare}, {kind.zero}"
    )
    if hint:
        message += f"; {hint}"
    raise InputError(message)


def _parse(value: Any, name: str, kind: _Kind, default_unit: str | None) -> tuple[int, str | None]:
    """Return (number, unit); unit is None only for a unitless zero."""
    if default_unit is not None and default_unit not in kind.units:
        raise InputError(
            f"{name}: default_unit {default_unit!r} is not a PostgreSQL {kind.noun} unit; "
            f"expected one of {', '.join(kind.units)} or None"
        )
    if isinstance(value, bool):
        _fail(value, name, kind, default_unit, "booleans are not accepted")
    if isinstance(value, int):
        if value < 0:
            _fail(value, name, kind, default_unit, "negative values are not accepted")
        number, unit = int(value), None
    elif isinstance(value, str):
        text = str(value).strip()
        match = _QUANTITY_RE.fullmatch(text)
        if match is None:
            hint = ""
            if _FRACTION_RE.fullmatch(text):
                hint = "fractions are not accepted, use a smaller unit instead"
            elif text.startswith("-"):
                hint = "negative values are not accepted"
            _fail(value, name, kind, default_unit, hint)
        number, unit = int(match.group(1)), match.group(2)
        if unit is not None and unit not in kind.units:
            hint = ""
            for known in kind.units:
                if known.lower() == unit.lower():
                    hint = f"units are case-sensitive, did you mean '{number}{known}'?"
            _fail(value, name, kind, default_unit, hint)
    else:
        _fail(value, name, kind, default_unit)

    if unit is None and number != 0:
        if default_unit is None:
            _fail(value, name, kind, default_unit, "a bare number needs a unit")
        unit = default_unit
    return number, unit


def _format(number: int, unit: str | None) -> str:
    return "0" if unit is None else f"{number}{unit}"


def duration(value: Any, name: str = "value", default_unit: str | None = None) -> str:
    """Normalise a PostgreSQL duration, e.g. ' 30 s' -> '30s', 0 -> '0'."""
    return _format(*_parse(value, name, _DURATION, default_unit))


def size(value: Any, name: str = "value", default_unit: str | None = None) -> str:
    """Normalise a PostgreSQL size, e.g. '64 MB' -> '64MB', 0 -> '0'."""
    return _format(*_parse(value, name, _SIZE, default_unit))

"""One parser for the true/false values operators type (``-e failover_force=yes``)."""

from __future__ import annotations

from typing import Any

from .errors import InputError

TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")


def parse_bool(value: Any, name: str = "value") -> bool:
    """True for true/yes/on/1, False for false/no/off/0 (any case), and for real booleans.

    Anything else (``'ture'``, ``2``, an empty string) is an InputError naming ``name``: a
    typo in a safety switch must not read as either answer.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
    raise InputError(
        f"{name}: {value!r} is not a true/false value; expected one of "
        f"{', '.join(TRUE)} or {', '.join(FALSE)}"
    )


def is_bool(value: Any) -> bool:
    """Whether parse_bool accepts value."""
    try:
        parse_bool(value)
    except InputError:
        return False
    return True

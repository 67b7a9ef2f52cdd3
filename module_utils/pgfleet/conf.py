"""Values and lines for postgresql.conf.

Strings are written as postgresql.conf string literals: single-quoted, with embedded single
quotes and backslashes doubled. postgresql.conf literals cannot span lines, so line breaks
and NUL characters are rejected rather than written into a broken file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from . import units
from .errors import InputError

# Settings whose string values must be a PostgreSQL size or duration. A typo such as
# '16 megabytes' is refused here, before the file reaches a server. Bare numbers (in the
# setting's base unit) and -1 (where PostgreSQL allows it) pass through.
MEMORY_SETTINGS = frozenset(
    {
        "autovacuum_work_mem",
        "effective_cache_size",
        "log_temp_files",
        "logical_decoding_work_mem",
        "maintenance_work_mem",
        "max_slot_wal_keep_size",
        "max_wal_size",
        "min_wal_size",
        "shared_buffers",
        "temp_buffers",
        "temp_file_limit",
        "wal_buffers",
        "wal_keep_size",
        "work_mem",
    }
)
TIME_SETTINGS = frozenset(
    {
        "archive_timeout",
        "authentication_timeout",
        "autovacuum_naptime",
        "checkpoint_timeout",
        "deadlock_timeout",
        "idle_in_transaction_session_timeout",
        "idle_session_timeout",
        "lock_timeout",
        "log_autovacuum_min_duration",
        "log_min_duration_statement",
        "statement_timeout",
        "tcp_keepalives_idle",
        "tcp_keepalives_interval",
        "transaction_timeout",
        "wal_receiver_timeout",
        "wal_sender_timeout",
    }
)

_KEY_RE = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")
_FORBIDDEN_CHARS = ("\n", "\r", "\x00")
# A list element may be a whole double-quoted identifier such as '"$user"' (search_path).
_QUOTED_IDENTIFIER_RE = re.compile(r'"[^"]+"')


def _show(value: Any) -> str:
    text = repr(str(value)) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _check_text(text: str, name: str) -> None:
    if any(char in text for char in _FORBIDDEN_CHARS):
        raise InputError(
            f"{name}: {_show(text)} contains a line break or NUL character, which a "
            "postgresql.conf value cannot hold; expected a single-line string"
        )


def _render_list(items: list[Any] | tuple[Any, ...], name: str) -> str:
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        if not isinstance(item, str):
            raise InputError(
                f"{where}: {_show(item)} ({type(item).__name__}) is not a string; expected "
                "every list element to be a non-empty string such as 'pg_stat_statements'"
            )
        problem = ""
        if not item.strip():
            problem = "is empty"
        elif "," in item:
            problem = "contains a comma"
        elif "'" in item:
            problem = "contains a single quote"
        elif '"' in item and not _QUOTED_IDENTIFIER_RE.fullmatch(item):
            problem = "contains a double quote that does not wrap the whole element"
        if problem:
            raise InputError(
                f"{where}: {_show(item)} {problem}; expected a list element without commas "
                "or quotes (a whole double-quoted identifier such as '\"$user\"' is allowed), "
                "for example 'pg_stat_statements'"
            )
        _check_text(item, where)
    return _quote(",".join(str(item) for item in items))


def render_value(value: Any, name: str = "value") -> str:
    """Render one value the way postgresql.conf expects it on the right of '='."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(
                f"{name}: {value!r} is not a finite number; expected a number such as 0.9"
            )
        return repr(float(value))
    if isinstance(value, str):
        _check_text(value, name)
        return _quote(str(value))
    if isinstance(value, list | tuple):
        return _render_list(value, name)
    kind = "None" if value is None else type(value).__name__
    raise InputError(
        f"{name}: {_show(value)} ({kind}) cannot be written to postgresql.conf; expected a "
        "boolean, a number, a string or a list of strings (leave the setting out, or set it "
        "to null in a settings mapping, to keep PostgreSQL's default)"
    )


def render_lines(settings: Mapping[str, Any], name: str = "value") -> list[str]:
    """Render a mapping of settings as sorted 'key = value' lines; None values are skipped."""
    if not isinstance(settings, Mapping):
        raise InputError(
            f"{name}: {_show(settings)} ({type(settings).__name__}) is not a mapping; expected "
            "a mapping of PostgreSQL setting names to values, for example "
            "{'shared_buffers': '1GB'}"
        )
    lines: dict[str, str] = {}
    for key, value in settings.items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise InputError(
                f"{name}: setting name {_show(key)} is not a valid PostgreSQL parameter name; "
                "expected lowercase letters, digits and underscores, optionally with one dot "
                "after an extension prefix (for example 'shared_buffers' or 'pgaudit.log')"
            )
        if value is None:
            continue
        label = f"{name}[{str(key)!r}]"
        # A digit string keeps its meaning (the setting's base unit); anything else must
        # be a number with a unit PostgreSQL accepts.
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            if key in MEMORY_SETTINGS:
                value = units.size(value, name=label)
            elif key in TIME_SETTINGS:
                value = units.duration(value, name=label)
        lines[key] = f"{key} = {render_value(value, name=label)}"
    return [lines[key] for key in sorted(lines)]

"""Known vulnerabilities of the extensions the project installs, and their mitigations.

The role reads the version of each extension Debian ships (pg_available_extensions) and
asks this table which advisories apply. A fixed build from another package source clears
them; until then the role applies the mitigation and says so in its output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InputError

ADVISORIES: tuple[dict[str, Any], ...] = (
    {
        "extension": "vector",
        "id": "pgvector-959",
        "fixed_in": "0.8.2",
        "summary": "parallel HNSW index builds can overflow a buffer (pgvector issue #959)",
        "mitigation": "max_parallel_maintenance_workers = 0 in databases with the extension, "
        "so HNSW indexes are built without parallel workers",
        "settings": {"max_parallel_maintenance_workers": 0},
    },
    {
        "extension": "vector",
        "id": "pgvector-hnsw-vacuum",
        "fixed_in": "0.8.3",
        "summary": "VACUUM of HNSW indexes can corrupt the index (fixed in pgvector 0.8.3)",
        "mitigation": "only the migrations owner (the table owner) can create or REINDEX "
        "indexes on vector tables; no application role holds MAINTAIN; "
        "REINDEX HNSW indexes after upgrading to 0.8.3",
        "settings": {},
    },
)

_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _version(text: Any, where: str) -> tuple[int, int, int]:
    match = _VERSION.match(str(text)) if text is not None else None
    if not match:
        raise InputError(f"{where}: {text!r} is not a version such as '0.8.0'")
    return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def applying(versions: Mapping[str, Any], name: str = "extension versions") -> list[dict[str, Any]]:
    """Advisories that apply to the given {extension: version} mapping, in table order."""
    if not isinstance(versions, Mapping):
        raise InputError(f"{name}: expected a mapping of extension names to versions")
    found = []
    for advisory in ADVISORIES:
        version = versions.get(advisory["extension"])
        if version is None:
            continue
        where = f"{name}[{advisory['extension']!r}]"
        if _version(version, where) < _version(advisory["fixed_in"], "fixed_in"):
            found.append(dict(advisory, installed=str(version)))
    return found


def settings(advisories: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The database settings that mitigate the given advisories, merged."""
    merged: dict[str, Any] = {}
    for advisory in advisories or []:
        merged.update(advisory.get("settings") or {})
    return merged

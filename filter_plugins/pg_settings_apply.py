"""Tell a wrong setting from one that only needs a restart, and say what a restart changes.

PostgreSQL parses its configuration files on demand in ``pg_file_settings``. A value it
cannot use has an error there; so has a valid new value of a setting that can only change
at a server start (context ``postmaster``): "setting could not be applied". The first must
stop the play; the second is applied by a restart, which the play then does as a visible
step that names the setting with its old and new values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

NEEDS_RESTART = "setting could not be applied"


def _rows(rows: Any, name: str) -> Sequence[Mapping[str, Any]]:
    # community.postgresql's postgresql_query reports a query without rows as {}.
    if rows is None or (isinstance(rows, Mapping) and not rows):
        return []
    if (
        not isinstance(rows, Sequence)
        or isinstance(rows, str)
        or not all(isinstance(row, Mapping) for row in rows)
    ):
        raise AnsibleFilterError(f"{name}: expected a list of query rows (mappings)")
    return rows


def pg_file_problems(rows: Any, name: str = "pg_file_settings") -> list[str]:
    """The real problems among pg_file_settings/pg_hba_file_rules error rows.

    rows: {problem, name, error, context}; context is pg_settings.context of the setting
    (None for pg_hba lines and unknown names). A row whose error only says the value
    waits for a restart of a postmaster setting is not a problem.
    """
    problems = []
    for row in _rows(rows, name):
        if row.get("error") == NEEDS_RESTART and row.get("context") == "postmaster":
            continue
        problems.append(str(row.get("problem") or row.get("error")))
    return problems


def pg_restart_summary(rows: Any, name: str = "pg_settings") -> str:
    """'shared_buffers 128MB -> 200MB, max_connections 100 -> 120' from pending rows.

    rows: {name, current, new} for each setting with pending_restart.
    """
    parts = []
    for row in _rows(rows, name):
        if not row.get("name"):
            raise AnsibleFilterError(f"{name}: a pending row has no setting name: {dict(row)!r}")
        new = row.get("new")
        parts.append(
            f"{row['name']} {row.get('current')} -> {new if new is not None else '(default)'}"
        )
    return ", ".join(parts)


def pg_settings_refused(
    settings: Any,
    protected: Sequence[str],
    prefixes: Sequence[str] = (),
    owned: Mapping[str, str] | None = None,
    name: str = "postgresql_server_settings",
) -> list[str]:
    """Why each key of the user's settings may not be set; empty when all may.

    protected: keys of the security baseline; prefixes: families of protected keys
    (include*, ssl*, pgaudit.*); owned: key -> the variable or role that sets it in
    another drop-in, which would otherwise silently override the user's value.
    """
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"{name}: expected a mapping of setting names to values")
    owned = owned or {}
    reasons = []
    for key in sorted(str(k) for k in settings):
        if key in owned:
            reasons.append(
                f"{name}[{key!r}]: {key} is set by {owned[key]}; set it there, or the other "
                "drop-in would silently override this value"
            )
        elif key in protected or any(key.startswith(prefix) for prefix in prefixes):
            reasons.append(
                f"{name}[{key!r}]: {key} is part of the security baseline and cannot be "
                "changed here (use the role's own variables, e.g. postgresql_server_pgaudit_log "
                "or postgresql_server_ssl_min_protocol_version)"
            )
    return reasons


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_file_problems": pg_file_problems,
            "pg_restart_summary": pg_restart_summary,
            "pg_settings_refused": pg_settings_refused,
        }
